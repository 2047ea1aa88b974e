"""``rawdiff train MODEL --data DIR --scale smoke --out RUN_DIR [--resume] [--device auto] [--steps N]``.

Models are registered in :data:`TRAINERS` (name -> function(args) -> int); adding one is one small function.
DiffRAW run-directory layout: ``RUN_DIR/isp/`` (ISPNet) and ``RUN_DIR/diffraw/`` (DTDM UNet) plus
``RUN_DIR/run.json``; ``rawdiff develop --run RUN_DIR`` needs both.  Every trained network folder gets the
``run.json`` of rawdiff.runs (kind, scale, seed, steps, data digest, git commit, date, wall time), the format of
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

    from rawdiff.config import TrainConfig, get_preset

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
    from rawdiff.pipelines.diffraw import load_phone

    data = Path(args.data)
    if not data.is_dir():
        raise DataError(f"{data}: not a directory (expected a ZRR-layout folder with train/huawei_raw and train/canon)")
    try:
        return load_phone(data, "train")
    except (FileNotFoundError, OSError) as err:
        raise DataError(f"{data}: cannot read the training pairs ({err})") from None


def _record(args, run_dir: Path, kind: str, preset, steps: int, seconds: float, **extra) -> None:
    """run.json of a CLI run: the same format as a notebook cache entry (rawdiff.runs)."""
    from rawdiff.runs import data_digest, write_meta
    from rawdiff.train import dist_info

    if dist_info()[0]:
        return  # under torchrun only rank 0 writes
    write_meta(run_dir, kind=kind, scale=preset.name, seed=args.seed, steps=int(steps),
               data=str(Path(args.data).resolve()), data_digest=data_digest(args.data),
               wall_seconds=round(float(seconds), 3), **extra)


def _run_isp(args, preset, data, run_dir: Path) -> None:
    from rawdiff.pipelines.diffraw import train_ispnet
    from rawdiff.train import run_is_complete

    out = run_dir / "isp"
    steps = args.steps if args.model == "isp" else None
    if args.model == "diffraw" and run_is_complete(out, preset.isp_train.steps):
        print(f"ISPNet: reusing {out}")
        return
    res = train_ispnet(preset, data, out, args.device, args.resume or (args.model == "diffraw" and out.exists()),
                       not args.no_progress, seed=args.seed, steps=steps)
    _record(args, out, "isp", preset, res.step, res.seconds)
    print(f"ISPNet: {res.step} steps in {res.seconds:.1f} s -> {out}")


def train_isp(args) -> int:
    from rawdiff.pipelines.diffraw import write_run_info

    preset, run_dir = _preset(args), Path(args.out)
    data = _phone_data(args)
    _run_isp(args, preset, data, run_dir)
    write_run_info(run_dir, scale=preset.name, data=str(Path(args.data).resolve()), seed=args.seed)
    return 0


def train_diffraw(args) -> int:
    from rawdiff.pipelines.diffraw import train_diffraw as _train, write_run_info

    preset, run_dir = _preset(args), Path(args.out)
    data = _phone_data(args)
    _run_isp(args, preset, data, run_dir)
    res = _train(preset, data, run_dir / "diffraw", args.device, args.resume, not args.no_progress,
                 seed=args.seed, steps=args.steps)
    _record(args, run_dir / "diffraw", "diffraw", preset, res.step, res.seconds, mode="dtdm", condition="raw+c",
            s=preset.dtdm.s, isp_run="../isp")
    write_run_info(run_dir, scale=preset.name, data=str(Path(args.data).resolve()), seed=args.seed)
    print(f"DiffRAW (DTDM, s={preset.dtdm.s}): {res.step} steps in {res.seconds:.1f} s -> {run_dir / 'diffraw'}")
    return 0


def train_did(args) -> int:
    """DiD (EDM, multi-scale 32x32 patches, tail normalisation) on a low-light dataset into ``--out``."""
    from rawdiff.pipelines.did import train_did as _train

    preset, run_dir, data = _preset(args), Path(args.out), Path(args.data)
    if not data.is_dir():
        raise DataError(f"{data}: not a directory (expected a low-light dataset: rawdiff's synthetic layout or "
                        f"LOL our485/eval15)")
    model = _train(preset, data, run_dir, device=args.device, resume=args.resume, progress=not args.no_progress,
                   steps=args.steps, seed=args.seed)
    _record(args, run_dir, "did", preset, len(model.history) and model.history[-1]["step"], model.train_seconds,
            normalization=model.normalization)
    print(f"DiD ({model.normalization} normalisation): {len(model.history) and model.history[-1]['step']} steps "
          f"in {model.train_seconds:.1f} s -> {run_dir}  (use: rawdiff enhance --run {run_dir} IN OUT.png)")
    return 0


# name -> trainer; other methods (e.g. DiD) add one entry and one function.
TRAINERS: dict[str, Callable[[argparse.Namespace], int]] = {"isp": train_isp, "diffraw": train_diffraw,
                                                            "did": train_did}


def _dispatch(args) -> int:
    """Run the trainer; under ``torchrun`` join the process group first and let only rank 0 print."""
    import contextlib
    import io

    import torch

    from rawdiff.train import dist_info, maybe_init_distributed

    maybe_init_distributed(args.device)
    rank, world = dist_info()
    quiet = contextlib.redirect_stdout(io.StringIO()) if rank else contextlib.nullcontext()
    try:
        with quiet:
            if rank:
                args.no_progress = True
            return TRAINERS[args.model](args)
    finally:
        if world > 1:
            torch.distributed.destroy_process_group()


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model (ISPNet, DiffRAW, ...) into a run directory",
                       description=__doc__.splitlines()[0])
    p.add_argument("model", choices=sorted(TRAINERS), help="what to train")
    p.add_argument("--data", required=True, help="dataset folder (ZRR layout for isp/diffraw)")
    p.add_argument("--scale", default="smoke", help="preset: smoke | study | medium | paper (default smoke)")
    p.add_argument("--out", required=True, help="run directory (created; RUN/isp, RUN/diffraw, ...)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:i]")
    p.add_argument("--steps", type=int, default=None, help="override the preset's number of training steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    speed = p.add_argument_group("speed switches (defaults: the fastest correct choice per device; README "
                                 "'Performance')")
    speed.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto",
                       help="NHWC convolutions (auto: on for CPU, on for CUDA with bf16 autocast)")
    speed.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA (CPU always runs fp32)")
    speed.add_argument("--compile", action="store_true",
                       help="torch.compile the model (fixed shapes; pays off only for long runs)")
    p.set_defaults(func=_dispatch)
