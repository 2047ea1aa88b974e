"""The shared training loop: exact resume, atomic checkpoints, DDP (gloo, 2 processes) == one process."""
import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from rawdiff.config import TrainConfig, UNetConfig
from rawdiff.errors import RawdiffError
from rawdiff.nn.unet import UNet
from rawdiff.train import load_run, read_history, run_is_complete, train

CFG = TrainConfig(steps=12, batch_size=8, lr=3e-3, ema_decay=0.9, log_every=2, ckpt_every=4, seed=3)
NET = UNetConfig(in_channels=4, out_channels=3, base_channels=8, channel_mults=(1, 2), num_res_blocks=1)


def make_model():
    torch.manual_seed(0)
    return UNet(NET)


def batch_fn(step, g):
    x = torch.rand(CFG.batch_size, 3, 16, 16, generator=g, device=g.device)
    cond = torch.rand(CFG.batch_size, 1, 16, 16, generator=g, device=g.device)
    t = torch.rand(CFG.batch_size, generator=g, device=g.device) * 100
    return {"x": x, "cond": cond, "t": t}


def loss_fn(model, b):
    target = b["x"].flip(-1) * b["cond"]
    return (model(b["x"], b["t"], b["cond"]) - target).pow(2).mean()


def _weights(m: nn.Module):
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def test_resume_is_exact(tmp_path):
    full = train(make_model(), loss_fn, batch_fn, CFG, tmp_path / "a", device="cpu", progress=False)

    class Kill(Exception):
        pass

    def kill_at_6(step, logs):
        if step == 6:
            raise Kill

    with pytest.raises(Kill):
        train(make_model(), loss_fn, batch_fn, CFG, tmp_path / "b", device="cpu", progress=False, callback=kill_at_6)
    assert run_is_complete(tmp_path / "b", 4) and not run_is_complete(tmp_path / "b", 12)
    resumed = train(make_model(), loss_fn, batch_fn, CFG, tmp_path / "b", device="cpu", progress=False, resume=True)
    for k, v in _weights(full.online).items():
        assert torch.equal(v, resumed.online.state_dict()[k]), k
    for k, v in _weights(full.model).items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert [h["loss"] for h in full.history] == [h["loss"] for h in resumed.history]
    assert full.history[-1]["loss"] < full.history[0]["loss"]  # it actually learns


def test_checkpoint_layout_and_reload(tmp_path):
    res = train(make_model(), loss_fn, batch_fn, CFG, tmp_path, device="cpu", progress=False,
                run_config={"model": "toy"})
    assert (tmp_path / "latest").read_text().startswith("ckpt-")
    assert not list(tmp_path.glob(".*partial"))
    assert len(list(tmp_path.glob("ckpt-*"))) <= 2 + 2   # the 2 newest + the budget checkpoints (steps 3, 6)
    cfg = json.loads((tmp_path / "run.json").read_text())["config"]   # the one metadata file of a run
    assert cfg["model"] == "toy" and cfg["train"]["steps"] == CFG.steps
    fresh = make_model()
    load_run(tmp_path, fresh, ema=True)
    for k, v in res.model.state_dict().items():
        assert torch.equal(v, fresh.state_dict()[k])
    assert len(read_history(tmp_path)) == CFG.steps // CFG.log_every
    with pytest.raises(RawdiffError, match="already holds a run"):
        train(make_model(), loss_fn, batch_fn, CFG, tmp_path, device="cpu", progress=False)
    with pytest.raises(RawdiffError, match="no checkpoint"):
        load_run(tmp_path / "nope", make_model())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)

    def local_loss(model, b):  # each rank must see only its half of the global batch
        assert b["x"].shape[0] == CFG.batch_size // world
        return loss_fn(model, b)

    res = train(make_model(), local_loss, batch_fn, CFG, out, device="cpu", progress=False)
    if rank == 0:
        torch.save(_weights(res.online), os.path.join(out, "final.pt"))
    torch.distributed.destroy_process_group()


def test_ddp_gloo_two_processes_match_single_process(tmp_path):
    single = train(make_model(), loss_fn, batch_fn, CFG, None, device="cpu", progress=False)
    out = tmp_path / "ddp"
    out.mkdir()
    mp.start_processes(_ddp_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True, start_method="spawn")
    ddp = torch.load(out / "final.pt", weights_only=True)
    for k, v in _weights(single.online).items():
        torch.testing.assert_close(ddp[k], v, rtol=1e-4, atol=1e-5, msg=k)
    assert run_is_complete(out, CFG.steps)


def test_model_builders_initialise_from_the_seed_only():
    from rawdiff.presets import get_preset
    from rawdiff.did.enhance import build_denoiser
    from rawdiff.diffraw.train import build_ispnet, build_unet
    from rawdiff.utils import seeded_init

    p = get_preset("smoke")
    builders = [lambda s: build_ispnet(p, s), lambda s: build_unet(p, s),
                lambda s: build_denoiser(p.did_unet, p.edm, s)]
    for build in builders:
        torch.manual_seed(123)
        a = build(0)
        torch.manual_seed(456)  # the global RNG state must not matter
        b, c = build(0), build(1)
        wa, wb, wc = (torch.cat([t.flatten() for t in m.state_dict().values()]) for m in (a, b, c))
        assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    state = torch.get_rng_state()
    with seeded_init(7):
        torch.rand(3)
    assert torch.equal(state, torch.get_rng_state())  # the caller's RNG is left untouched


def test_budget_checkpoints_are_kept_and_loadable(tmp_path):
    """A run keeps its checkpoints at 1/4 and 1/2 of its steps (the scorecard's budget curves) beside the latest;
    loading one gives that step's EMA weights, the same as a run stopped there."""
    from rawdiff.train import budget_steps, checkpoint_steps

    assert budget_steps(12) == (3, 6, 12) and budget_steps(2000) == (500, 1000, 2000) and budget_steps(1) == (1,)
    full = train(make_model(), loss_fn, batch_fn, CFG, tmp_path / "full", device="cpu", progress=False)
    assert checkpoint_steps(tmp_path / "full") == [3, 6, 8, 12]   # budget 3, 6; rotation keeps 8 and 12
    from dataclasses import replace

    assert CFG.lr_schedule == "constant"   # so step 3 of a 12-step run is a 3-step run
    short = train(make_model(), loss_fn, batch_fn, replace(CFG, steps=3), None, device="cpu", progress=False)
    at3, latest = make_model(), make_model()
    load_run(tmp_path / "full", at3, step=3)
    load_run(tmp_path / "full", latest)
    assert all(torch.equal(a, b) for a, b in zip(at3.state_dict().values(), short.model.state_dict().values()))
    assert all(torch.equal(a, b) for a, b in zip(latest.state_dict().values(), full.model.state_dict().values()))
    assert not all(torch.equal(a, b) for a, b in zip(at3.state_dict().values(), latest.state_dict().values()))
    with pytest.raises(RawdiffError, match=r"no checkpoint at step 5 \(it holds steps \[3, 6, 8, 12\]\)"):
        load_run(tmp_path / "full", make_model(), step=5)
