"""One rank of the multi-process scenarios of tests/test_ddp.py, run under ``torchrun`` (gloo, CPU); also imported
by the test for the single-process references (``train_kinds``).

``python -m torch.distributed.run --standalone --nproc_per_node=N tests/ddp_worker.py MODE OUT``:

* ``trainers`` — ISPNet, DiffRAW, DiD and the regression UNet (or ``KINDS=isp,did``), STEPS steps each, into
  ``OUT/full/<kind>``; rank 0 saves the online weights to ``OUT/weights-<N>.pt``.  With ``HALF=1`` also ISPNet
  and DiD for 2 steps into ``OUT/half/<kind>`` (resumed by the test on one process).  With ``RACE=1`` then
  5 trials, each rank starting after a seeded random delay: a new run folder, the same folder again without resume
  (every rank must refuse), then resumed to more steps; then a folder one rank sees elsewhere (unshared) and two
  get_or_train calls on one key.  Every rank's outcomes go to ``OUT/race-<rank>.json``.
* ``cli`` — ``rawdiff train`` (sys.argv after ``--``) with ``INJECT=raise|nan`` making rank 1's loss fail at
  step 2 (0-based: the third step).
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from rawdiff.config import TrainConfig
from rawdiff.diffraw.data import PhoneData
from rawdiff.presets import get_preset

KINDS = ("isp", "diffraw", "did", "regress")
STEPS = 4


def tiny_preset(steps: int = STEPS):
    tc = TrainConfig(steps=steps, batch_size=4, lr=1e-3, log_every=1, ckpt_every=2, ema_decay=0.9, amp=False)
    return replace(get_preset("smoke"), isp_train=tc, diffraw_train=tc, did_train=tc, regress_train=tc)


def phone(n: int = 4, size: int = 32) -> PhoneData:
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(n, 3, size, size, generator=g)
    raw = torch.stack([rgb[:, 0, 0::2, 0::2], rgb[:, 1, 0::2, 1::2], rgb[:, 1, 1::2, 0::2], rgb[:, 2, 1::2, 1::2]], 1)
    return PhoneData(raw * 0.5, rgb, [str(i) for i in range(n)])


def lowlight(n: int = 3, size: int = 64):
    g = torch.Generator().manual_seed(1)
    dark = [torch.rand(3, size, size, generator=g) * 0.2 for _ in range(n)]
    bright = [torch.rand(3, size, size, generator=g) for _ in range(n)]
    return dark, bright


def train_kind(kind: str, out: Path | None, steps: int = STEPS, resume: bool = False):
    """One trainer of the paper on tiny data (CPU); returns rawdiff.runs.store.Trained."""
    from rawdiff.did.regress import train_regress_tensors
    from rawdiff.did.train import train_did_tensors
    from rawdiff.diffraw.train import train_diffraw, train_ispnet

    p = tiny_preset(steps)
    if kind == "isp":
        return train_ispnet(p, phone(), out, "cpu", resume, False)
    if kind == "diffraw":
        return train_diffraw(p, phone(), out, "cpu", resume, False)
    dark, bright = lowlight()
    if kind == "did":
        return train_did_tensors(p, dark, bright, out, device="cpu", resume=resume, progress=False, lpips=None)
    return train_regress_tensors(p, dark, bright, out, device="cpu", resume=resume, progress=False)


def online(res) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in res.online.state_dict().items()}


def train_kinds(root: Path | None, kinds=KINDS, steps: int = STEPS) -> dict[str, dict[str, torch.Tensor]]:
    return {k: online(train_kind(k, None if root is None else root / k, steps)) for k in kinds}


# ------------------------------------------------------------------------------------------------ race
def toy_net():
    from rawdiff.utils import seeded_init

    with seeded_init(0, "ddp-toy"):
        return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.GELU(),
                                   torch.nn.Conv2d(8, 3, 3, padding=1))


def toy_train(out: Path, steps: int, resume: bool):
    from rawdiff.train import train

    cfg = TrainConfig(steps=steps, batch_size=4, lr=1e-2, log_every=1, ckpt_every=2, amp=False, ema_decay=0.9)
    return train(toy_net(), lambda m, x: ((m(x) - x.flip(1)) ** 2).mean(),
                 lambda step, g: torch.rand(4, 3, 8, 8, generator=g, device=g.device), cfg, out, device="cpu",
                 resume=resume, progress=False)


def outcome(fn) -> str:
    try:
        res = fn()
    except Exception as err:  # noqa: BLE001 - the outcome is what the test checks
        return f"{type(err).__name__}: {err}"
    return f"ok {getattr(res, 'step', '')} {getattr(res, 'reused', '')}"


def race(out: Path, rank: int) -> dict:
    from rawdiff.runs.lifecycle import ModelKind, get_or_train
    from rawdiff.train import load_run

    log: dict = {"trials": []}
    for trial in range(5):
        time.sleep(random.Random(f"{trial}/{rank}").uniform(0.0, 0.4))   # ranks arrive in a different order
        run = out / f"race-{trial}"
        log["trials"].append([outcome(lambda: toy_train(run, 2, False)),    # a new folder
                              outcome(lambda: toy_train(run, 2, False)),    # it holds a run now: all must refuse
                              outcome(lambda: toy_train(run, 4, True))])    # resumed to 4 steps
    mine = out / ("unshared-a" if rank == 0 else f"unshared-{rank}")      # as if each node mounted its own disk
    log["unshared"] = outcome(lambda: toy_train(mine, 2, False))

    marker = out / f"trained-by-{rank}.txt"

    def kind_train(preset, data, d, *, tcfg, device, resume, progress):
        with open(marker, "a") as f:
            f.write(f"{d}\n")
        toy_train(Path(d), tcfg.steps, resume)

    def kind_load(d, device="cpu", **kw):
        net = toy_net()
        load_run(d, net)
        return net

    kind = ModelKind(name="isp", train_cfg=lambda p: replace(p.isp_train, steps=2), key=lambda p, t, d: "toykey",
                     train=kind_train, load=kind_load, folder=lambda: "toy")
    log["cache"] = [outcome(lambda: get_or_train(kind, "smoke", None, "fp", cache_dir=out / "cache",
                                                 progress=False)) for _ in range(2)]
    if rank == 0:   # truncate the cached EMA weights: the next call must retrain it, once, for the whole group
        ema = next((out / "cache" / "toy-toykey").glob("ckpt-*/ema.safetensors"))
        ema.write_bytes(ema.read_bytes()[:64])
    torch.distributed.barrier()
    log["cache"].append(outcome(lambda: get_or_train(kind, "smoke", None, "fp", cache_dir=out / "cache",
                                                     progress=False)))
    return log


# ------------------------------------------------------------------------------------------------ CLI failure
def inject(mode: str) -> None:
    """Wrap the DiD trainer's loss so that rank 1 fails at step 2 (``raise``: an error; ``nan``: a NaN loss)."""
    import rawdiff.did.train as did_train
    from rawdiff.errors import DataError

    inner_train = did_train.train
    rank = int(os.environ.get("RANK", "0"))

    def train(model, loss_fn, batch_fn, cfg, *args, **kwargs):
        calls = [0]

        def loss(net, batch):
            res = loss_fn(net, batch)
            calls[0] += 1
            if rank == 1 and calls[0] == 3:
                if mode == "raise":
                    raise DataError("injected failure on rank 1 at step 2")
                return (res[0] * float("nan"), res[1]) if isinstance(res, tuple) else res * float("nan")
            return res
        return inner_train(model, loss, batch_fn, cfg, *args, **kwargs)
    did_train.train = train


def main() -> int:
    mode, out = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    if mode == "cli":
        from rawdiff.cli import main as cli_main

        if os.environ.get("INJECT"):
            inject(os.environ["INJECT"])
        sys.argv = ["rawdiff", *sys.argv[sys.argv.index("--") + 1:]]
        return cli_main()
    from rawdiff.distributed import dist_info, maybe_init_distributed

    maybe_init_distributed("cpu")
    rank, world = dist_info()
    if mode == "trainers":
        weights = train_kinds(out / "full", os.environ.get("KINDS", ",".join(KINDS)).split(","))
        if os.environ.get("HALF"):
            train_kinds(out / "half", ("isp", "did"), steps=2)
        if rank == 0:
            torch.save(weights, out / f"weights-{world}.pt")
        if os.environ.get("RACE"):
            (out / f"race-{rank}.json").write_text(json.dumps(race(out, rank), indent=1))
    torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
