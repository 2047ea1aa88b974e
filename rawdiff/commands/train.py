"""``rawdiff train KIND --data DIR --scale smoke (--out RUN_DIR | --cache [DIR]) [--resume] [--steps N] ...``.

Every run kind of rawdiff.runs.kinds is trainable: ``isp``, ``diffraw`` (``--mode dtdm|ddpm``, ``--condition
raw+c|raw|none``, ``--s``), ``did`` (``--normalization tail|linear``) and ``regress``.  With ``--cache`` the run
goes to the notebooks' cache under the same key they compute (rawdiff.runs.lifecycle.get_or_train), so a run
trained here — e.g. under ``torchrun`` on GPUs — is the one the notebooks reuse when its configuration matches.
DiffRAW run-directory layout: ``RUN_DIR/isp/`` (ISPNet) and ``RUN_DIR/diffraw/`` (DTDM UNet) plus
``RUN_DIR/run.json``; ``rawdiff develop --run RUN_DIR`` needs both.  Every trained network folder gets the
``run.json`` of rawdiff.runs.store (kind, scale, seed, steps, data digest, git commit, date, wall time), the format of
the notebooks' cache entries, so ``rawdiff runs`` lists both and ``--run`` accepts both.  ``train diffraw`` first trains
``RUN_DIR/isp/`` when it is missing, so one command gives a usable run directory.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from rawdiff.errors import DataError, RawdiffError


def _preset(args):
    """The ``--scale`` preset with the speed switches (``--channels-last``, ``--no-amp``, ``--compile``) applied
    to every training config in it."""
    import dataclasses

    from rawdiff.config import TrainConfig
    from rawdiff.presets import get_preset

    try:
        preset = get_preset(args.scale)
    except ValueError as err:
        raise RawdiffError(str(err)) from None
    speed = {}
    if args.channels_last != "auto":
        speed["channels_last"] = args.channels_last == "on"
    if args.no_amp:
        speed["amp"] = False
    if args.compile:
        speed["compile"] = True
    if not speed:
        return preset
    return dataclasses.replace(preset, **{f.name: dataclasses.replace(getattr(preset, f.name), **speed)
                                          for f in dataclasses.fields(preset)
                                          if isinstance(getattr(preset, f.name), TrainConfig)})


def _phone_data(args):
    from rawdiff.diffraw.data import load_phone

    data = Path(args.data)
    if not data.is_dir():
        raise DataError(f"{data}: not a directory (expected a ZRR-layout folder with train/huawei_raw and train/canon)")
    try:
        return load_phone(data, "train")
    except (FileNotFoundError, OSError) as err:
        raise DataError(f"{data}: cannot read the training pairs ({err})") from None


def _record(args, run_dir: Path, kind, preset, res, steps: int | None, extra: dict | None = None, **opts) -> None:
    """run.json of a CLI run: the entries of a notebook cache entry (rawdiff.runs.lifecycle.record, same key)."""
    from rawdiff.runs.lifecycle import record
    from rawdiff.runs.store import data_digest, train_config
    from rawdiff.distributed import dist_info

    if dist_info()[0]:
        return  # under torchrun only rank 0 writes
    tcfg = train_config(kind.train_cfg(preset), args.seed, steps)
    record(run_dir, kind, preset, tcfg, data_digest(args.data), Path(args.data), res.seconds, extra, **opts)


def _run_isp(args, preset, data, run_dir: Path) -> None:
    from rawdiff.diffraw.train import ISP, train_ispnet
    from rawdiff.distributed import on_rank0
    from rawdiff.train import run_is_complete

    out = run_dir / "isp"
    steps = args.steps if args.model == "isp" else None
    if args.model == "diffraw" and on_rank0(lambda: run_is_complete(out, preset.isp_train.steps)):
        print(f"ISPNet: reusing {out}")
        return
    res = train_ispnet(preset, data, out, args.device, args.resume or (args.model == "diffraw" and out.exists()),
                       not args.no_progress, seed=args.seed, steps=steps, workers=args.workers)
    _record(args, out, ISP, preset, res, steps=steps)
    print(f"ISPNet: {res.step} steps in {res.seconds:.1f} s -> {out}")


def train_isp(args) -> int:
    preset, run_dir = _preset(args), Path(args.out)
    data = _phone_data(args)
    _run_isp(args, preset, data, run_dir)
    _top_meta(args, preset, run_dir)
    return 0


def _top_meta(args, preset, run_dir: Path) -> None:
    """run.json of a DiffRAW run directory (scale, data, seed), written by rank 0 only under torchrun."""
    from rawdiff.distributed import dist_info
    from rawdiff.runs.store import write_meta

    if dist_info()[0] == 0:
        write_meta(run_dir, scale=preset.name, data=str(Path(args.data).resolve()), seed=args.seed)


def train_diffraw(args) -> int:
    from rawdiff.diffraw.train import DIFFRAW, train_diffraw as _train

    preset, run_dir = _preset(args), Path(args.out)
    data = _phone_data(args)
    _run_isp(args, preset, data, run_dir)
    opts = _kind_options(args)
    res = _train(preset, data, run_dir / "diffraw", args.device, args.resume, not args.no_progress,
                 seed=args.seed, steps=args.steps, workers=args.workers, **opts)
    _record(args, run_dir / "diffraw", DIFFRAW, preset, res, args.steps, {"isp_run": "../isp"}, **opts)
    _top_meta(args, preset, run_dir)
    print(f"DiffRAW ({opts['mode']}, {opts['condition']}, s={opts['s'] or preset.dtdm.s}): {res.step} steps in "
          f"{res.seconds:.1f} s -> {run_dir / 'diffraw'}")
    return 0


def train_did(args) -> int:
    """DiD (EDM, multi-scale 32x32 patches, tail normalisation) on a low-light dataset into ``--out``."""
    from rawdiff.did.train import DID, train_did as _train

    preset, run_dir, data = _preset(args), Path(args.out), _lowlight_root(args)
    res = _train(preset, data, run_dir, device=args.device, resume=args.resume, progress=not args.no_progress,
                 steps=args.steps, seed=args.seed, normalization=args.normalization, workers=args.workers)
    _record(args, run_dir, DID, preset, res, args.steps, normalization=args.normalization)
    print(f"DiD ({args.normalization} normalisation): {res.step} steps in {res.seconds:.1f} s -> {run_dir}  "
          f"(use: rawdiff enhance --run {run_dir} IN OUT.png)")
    return 0


def train_regress(args) -> int:
    """The regression UNet baseline (DiD's comparison; same data) into ``--out``."""
    from rawdiff.did.regress import REGRESS, train_regress as _train
    from rawdiff.config import RegressConfig

    preset, run_dir, data = _preset(args), Path(args.out), _lowlight_root(args)
    cfg = RegressConfig(normalization=args.normalization)
    res = _train(preset, data, run_dir, cfg=cfg, device=args.device, resume=args.resume,
                 progress=not args.no_progress, steps=args.steps, seed=args.seed, workers=args.workers)
    _record(args, run_dir, REGRESS, preset, res, args.steps, cfg=cfg)
    print(f"regression UNet ({args.normalization}): {res.step} steps in {res.seconds:.1f} s -> {run_dir}")
    return 0


def _lowlight_root(args) -> Path:
    data = Path(args.data)
    if not data.is_dir():
        raise DataError(f"{data}: not a directory (expected a low-light dataset: rawdiff's synthetic layout or "
                        f"LOL our485/eval15)")
    return data


def _kind_options(args) -> dict:
    """The run kind's options from the command line (they are part of the cache key)."""
    if args.model == "diffraw":
        return {"condition": args.condition, "mode": args.mode, "s": args.s}
    if args.model == "did":
        return {"normalization": args.normalization, "lpips": "auto"}
    if args.model == "regress":
        from rawdiff.config import RegressConfig

        return {"cfg": RegressConfig(normalization=args.normalization)}
    return {}


def train_cached(args) -> int:
    """``--cache``: train (or find) the run under the notebooks' cache key (rawdiff.runs.lifecycle.get_or_train)."""
    from rawdiff.runs.kinds import KINDS
    from rawdiff.runs.lifecycle import get_or_train
    from rawdiff.runs.store import data_digest

    preset, kind = _preset(args), KINDS[args.model]
    data = _phone_data(args) if args.model in ("isp", "diffraw") else _lowlight_root(args)
    res = get_or_train(kind, preset, data, data_digest(args.data), cache_dir=args.cache or None, device=args.device,
                       seed=args.seed, steps=args.steps, progress=not args.no_progress, data_root=args.data,
                       workers=args.workers, **_kind_options(args))
    print(f"{args.model}: {'reused' if res.reused else f'trained in {res.seconds:.1f} s'} -> {res.run_dir}")
    return 0


# name -> trainer; other methods (e.g. DiD) add one entry and one function.
TRAINERS: dict[str, Callable[[argparse.Namespace], int]] = {"isp": train_isp, "diffraw": train_diffraw,
                                                            "did": train_did, "regress": train_regress}


def _dispatch(args) -> int:
    """Run the trainer; under ``torchrun`` join the process group first and let only rank 0 print.

    Errors under torchrun (rawdiff.distributed): one every rank raised together (a run already in ``--out``, a
    non-finite loss, a failed checkpoint write, an unshared run directory) is printed by rank 0 only; a rank whose
    peer failed (:class:`~rawdiff.distributed.PeerFailed`) prints nothing — the failing rank prints its own error.
    Every rank exits with a non-zero status."""
    import contextlib
    import io
    import warnings

    from rawdiff.distributed import PeerFailed, dist_info, is_agreed, leave_group, maybe_init_distributed

    maybe_init_distributed(args.device)
    rank, world = dist_info()
    try:
        with contextlib.ExitStack() as quiet:
            if rank:   # one voice: rank 0's output and warnings
                quiet.enter_context(contextlib.redirect_stdout(io.StringIO()))
                quiet.enter_context(warnings.catch_warnings())
                warnings.simplefilter("ignore")
                args.no_progress = True
            if args.out is None and args.cache is None:
                raise RawdiffError("give --out RUN_DIR (a run folder) or --cache [DIR] (the notebooks' cache)")
            return train_cached(args) if args.out is None else TRAINERS[args.model](args)
    except PeerFailed:
        raise SystemExit(1) from None
    except RawdiffError as err:
        if rank and is_agreed(err):
            raise SystemExit(2) from None
        raise
    finally:
        if world > 1:
            leave_group()


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model (ISPNet, DiffRAW, ...) into a run directory",
                       description=__doc__.splitlines()[0])
    p.add_argument("model", choices=sorted(TRAINERS), help="what to train")
    p.add_argument("--data", required=True, help="dataset folder (ZRR layout for isp/diffraw)")
    p.add_argument("--scale", default="smoke", help="preset: smoke | study | medium | paper (default smoke)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", default=None, help="run directory (created; RUN/isp, RUN/diffraw, ...)")
    where.add_argument("--cache", nargs="?", const="", default=None, metavar="DIR",
                       help="train into the notebooks' cache (default $RAWDIFF_CACHE or build/cache) under the key "
                            "the notebooks compute, so they reuse this run")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:i]")
    p.add_argument("--steps", type=int, default=None, help="override the preset's number of training steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="DataLoader worker processes per rank that read, crop and degrade batches (default: 0 on "
                        "the CPU, up to 8 on a GPU; rawdiff.data.stream.default_workers); never changes the batches")
    kinds = p.add_argument_group("run-kind options (part of the cache key)")
    kinds.add_argument("--mode", choices=("dtdm", "ddpm"), default="dtdm", help="diffraw: DTDM or the DDPM baseline")
    kinds.add_argument("--condition", choices=("raw+c", "raw", "none"), default="raw+c", help="diffraw: condition")
    kinds.add_argument("--s", type=int, default=None, help="diffraw: DTDM truncation step s (default: preset)")
    kinds.add_argument("--normalization", choices=("tail", "linear"), default="tail",
                       help="did / regress: tail normalisation (DiD's) or linear 2x - 1 (the ablation)")
    speed = p.add_argument_group("speed switches (defaults: the fastest correct choice per device; docs/performance.md)")
    speed.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto",
                       help="NHWC convolutions (auto: on for CPU, on for CUDA with bf16 autocast)")
    speed.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA (CPU always runs fp32)")
    speed.add_argument("--compile", action="store_true",
                       help="torch.compile the model (fixed shapes; pays off only for long runs)")
    p.set_defaults(func=_dispatch)
