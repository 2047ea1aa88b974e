"""The paper-size dry run (``rawdiff reproduce --scale paper --dry-run``, issue 23): every network of a preset
built at its size, trained for a few steps on a few real-size images, and a few images pushed through every
evaluation, so that a broken configuration is found in minutes on a CPU rather than after a day on a GPU.

It calls the real code, never a copy: the run kinds of rawdiff.runs.kinds (``KINDS[...].train`` -> the one
training loop rawdiff.train.train, checkpoints and run.json included; ``KINDS[...].load``), DiffRAW's evaluation
(rawdiff.diffraw.evaluate.evaluate_per_image with DTDM at K = 1), DiD's (rawdiff.did.evaluate.evaluate_settings:
the cascade on one LOL-size image), the regression baseline's (rawdiff.did.regress.enhance_regress) and the OCR
word-crop benchmark (rawdiff.did.textbench.evaluate).  What is reduced, and only what is listed in
:class:`DryRunConfig`: the number of steps, the batch size (a paper batch of a paper UNet does not fit 2 CPU
cores in minutes), the number of images and the sampler's steps.  Network sizes, crops, image sizes and
every other setting stay the preset's.

Data: a ZRR-layout set at the preset's ``phone_size`` (448 px at ``paper``) and LOL-layout 600x400 pairs
(``our485`` / ``eval15``) written to a temporary folder, or the user's ``data_root`` (rawdiff.data.datasets).

Each stage runs in its own process by default (``isolate``) and reports its own time and peak RSS
(rawdiff.peakmem) — the run folders on disk are what later stages load, exactly as ``rawdiff train`` then
``rawdiff develop/enhance`` would.  Idea: a "smoke test at production shapes", as the ``--dry-run`` /
``fast_dev_run`` switches of training frameworks (e.g. PyTorch Lightning's ``fast_dev_run``) do.
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from rawdiff.peakmem import PeakRSS, child_result, run_child

TRAIN_STAGES = ("train-isp", "train-diffraw", "train-did", "train-regress")
EVAL_STAGES = ("eval-dtdm", "eval-did-cascade", "eval-regress", "eval-ocr")
STAGES = ("data", *TRAIN_STAGES, *EVAL_STAGES)


@dataclass(frozen=True)
class DryRunConfig:
    """What the dry run reduces (everything else is the preset's)."""

    scale: str = "paper"
    steps: int = 2                 # optimiser steps per network
    batch_size: int = 2            # per network; 0 = the preset's batch (paper: 32 / 16 / 64 / 64)
    n_train: int = 4               # training pairs written per dataset
    n_test: int = 2                # test images through each evaluation
    phone_size: int = 0            # ZRR-layout pair size; 0 = the preset's (paper: 448)
    lowlight_hw: tuple[int, int] = (400, 600)   # LOL image size (H, W)
    sampler_steps: int = 1         # DiD Heun steps per cascade level (paper: 18; 1 = one network call per tile);
                                   # DTDM runs at K = 1
    n_words: int = 2               # OCR word crops
    data_root: str | None = None   # real datasets (ZRR / LOL layouts); None = written to the work folder
    device: str = "auto"
    seed: int = 0
    isolate: bool = True           # each stage in its own process (its own peak RSS)
    stages: tuple[str, ...] = STAGES
    stage_timeout: float | None = None   # seconds per isolated stage


@dataclass
class StageResult:
    stage: str
    status: str                    # "ok" | "FAIL" | "skipped"
    seconds: float
    peak_rss_mib: float
    detail: str = ""
    cpu_seconds: float = 0.0       # CPU time of the stage's process, all threads (wall time varies with load)


@dataclass
class DryRun:
    config: DryRunConfig
    results: list[StageResult] = field(default_factory=list)
    work_dir: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.status != "FAIL" for r in self.results)

    @property
    def peak_rss_mib(self) -> float:
        return max((r.peak_rss_mib for r in self.results), default=0.0)

    def table(self) -> str:
        lines = [f"{'stage':<18} {'status':<8} {'time s':>8} {'CPU s':>8} {'peak RSS MiB':>13}  detail"]
        for r in self.results:
            lines.append(f"{r.stage:<18} {r.status:<8} {r.seconds:>8.1f} {r.cpu_seconds:>8.1f} {r.peak_rss_mib:>13.0f}"
                         f"  {r.detail}")
        verdict = "PASSED" if self.ok else "FAILED"
        lines.append(f"dry run {verdict}: {self.seconds:.1f} s wall, largest stage peak RSS "
                     f"{self.peak_rss_mib:.0f} MiB ({self.config.scale} networks, {self.config.steps} steps, "
                     f"batch {self.config.batch_size or 'preset'})")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"config": asdict(self.config), "ok": self.ok, "seconds": round(self.seconds, 1),
                "peak_rss_mib": round(self.peak_rss_mib, 1), "stages": [asdict(r) for r in self.results]}


# ----------------------------------------------------------------------------------------------- setup
def dry_preset(cfg: DryRunConfig):
    """The preset with every training config cut to ``cfg.steps`` steps (checkpoint at the end) and
    ``cfg.batch_size``; networks, crops and everything else unchanged."""
    from rawdiff.presets import get_preset

    p = get_preset(cfg.scale)

    def cut(t):
        return replace(t, steps=cfg.steps, ckpt_every=cfg.steps, log_every=1,
                       batch_size=cfg.batch_size or t.batch_size)
    return replace(p, isp_train=cut(p.isp_train), diffraw_train=cut(p.diffraw_train), did_train=cut(p.did_train),
                   regress_train=cut(p.regress_train))


def data_roots(cfg: DryRunConfig, work: Path) -> tuple[Path, Path]:
    """(ZRR-layout root, low-light root): found under ``cfg.data_root`` or the ones :func:`write_data` wrote."""
    if cfg.data_root is not None:
        from rawdiff.data.datasets import find_lowlight_root, find_phone2dslr_root

        return find_phone2dslr_root(cfg.data_root), find_lowlight_root(cfg.data_root)
    return work / "data" / "zrr", work / "data" / "lol"


def write_data(cfg: DryRunConfig, work: Path) -> str:
    """Write the ZRR-layout pairs (rawdiff.data.synth) and LOL-layout ``our485``/``eval15`` pairs of
    ``cfg.lowlight_hw`` (cut from synthetic square pairs) into ``work/data``."""
    from rawdiff.data.synth import lowlight_batch, synth_phone2dslr
    from rawdiff.data.write import write_image
    from rawdiff.utils import make_generator

    zrr, lol = data_roots(cfg, work)
    size = cfg.phone_size or dry_preset(cfg).data.phone_size
    synth_phone2dslr(zrr, n_train=cfg.n_train, n_test=cfg.n_test, size=size, seed=cfg.seed, progress=False,
                     overwrite=True)
    h, w = cfg.lowlight_hw
    for split, n in (("our485", cfg.n_train), ("eval15", cfg.n_test)):
        pairs = lowlight_batch(n, max(h, w), make_generator(cfg.seed + (split == "eval15")))
        for part, key in (("low", "low"), ("high", "high")):
            (lol / split / part).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                write_image(pairs[key][i, :, :h, :w], lol / split / part / f"{i}.png")
    return f"ZRR {cfg.n_train}+{cfg.n_test} pairs at {size} px, LOL {cfg.n_train}+{cfg.n_test} pairs at {h}x{w}"


# ----------------------------------------------------------------------------------------------- stages
KIND_OF_STAGE = {"train-isp": "isp", "train-diffraw": "diffraw", "train-did": "did", "train-regress": "regress"}


def _train(stage: str, cfg: DryRunConfig, work: Path) -> str:
    from rawdiff.runs.kinds import KINDS
    from rawdiff.runs.store import train_config
    from rawdiff.utils import resolve_device

    kind = KINDS[KIND_OF_STAGE[stage]]
    preset = dry_preset(cfg)
    zrr, lol = data_roots(cfg, work)
    tcfg = train_config(kind.train_cfg(preset), cfg.seed, cfg.steps)
    out = work / "runs" / kind.name
    dev = resolve_device(cfg.device)
    res = kind.train(preset, zrr if kind.name in ("isp", "diffraw") else lol, out, tcfg=tcfg, device=dev,
                     resume=False, progress=False)
    losses = [h["loss"] for h in res.history]
    if not losses or not all(math.isfinite(v) for v in losses):
        raise FloatingPointError(f"losses {losses}")
    n_params = sum(p.numel() for p in res.online.parameters()) if res.online is not None else 0
    return f"{n_params / 1e6:.1f}M params, batch {tcfg.batch_size}, losses {', '.join(f'{v:.3g}' for v in losses)}"


def _finite(rows, keys) -> str:
    vals = {k: rows[0][k] for k in keys if k in rows[0]}
    bad = [k for k, v in vals.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise FloatingPointError(f"non-finite {', '.join(bad)} in {rows[0]}")
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in vals.items())


def _eval_dtdm(cfg: DryRunConfig, work: Path) -> str:
    from rawdiff.diffraw import evaluate as E
    from rawdiff.diffraw.data import load_phone
    from rawdiff.diffraw.sample import Method, run_ispnet
    from rawdiff.runs.kinds import KINDS
    from rawdiff.utils import resolve_device

    preset, dev = dry_preset(cfg), resolve_device(cfg.device)
    isp = KINDS["isp"].load(work / "runs" / "isp", dev, preset=preset)
    unet = KINDS["diffraw"].load(work / "runs" / "diffraw", dev, preset=preset)
    test = load_phone(data_roots(cfg, work)[0], "test").subset(cfg.n_test)
    c = run_ispnet(isp, test.raw)
    s = preset.dtdm.s
    rows = E.evaluate_per_image([Method("ispnet"), Method("dtdm", 1, s=s)], test, c_test=c,
                                nets={"dtdm": {s: unet}}, cfg=preset.dtdm, seeds=(cfg.seed,), device=dev)
    dtdm = [r for r in rows if r["method"] == "dtdm"]
    return f"{len(dtdm)} images at {tuple(c.shape[-2:])}, DTDM K=1: " + _finite(dtdm, ("aligned_psnr", "cc_psnr"))


def _lowlight_test(cfg: DryRunConfig, work: Path):
    import torch

    from rawdiff.data.loaders import LowLightDataset

    ds = LowLightDataset(data_roots(cfg, work)[1], "test")
    items = [ds[i] for i in range(min(cfg.n_test, len(ds)))]
    return torch.stack([it["low"] for it in items]).float(), torch.stack([it["high"] for it in items]).float()


def _eval_did(cfg: DryRunConfig, work: Path) -> str:
    from rawdiff.did.evaluate import evaluate_settings
    from rawdiff.runs.kinds import KINDS
    from rawdiff.utils import resolve_device

    model = KINDS["did"].load(work / "runs" / "did", resolve_device(cfg.device), preset=dry_preset(cfg))
    dark, bright = _lowlight_test(cfg, work)
    rows, res = evaluate_settings(model, dark[:1], bright[:1], [{"setting": "dry", "num_steps": cfg.sampler_steps}],
                                  seed=cfg.seed, metrics=("psnr",))
    return (f"1 image {tuple(dark.shape[-2:])}, scales {model.did.scales}, {cfg.sampler_steps} Heun steps, "
            f"{rows[0]['tile_nfe_per_image']} tile NFE: " + _finite(rows, ("psnr",)))


def _eval_regress(cfg: DryRunConfig, work: Path) -> str:
    from rawdiff.did.regress import enhance_regress
    from rawdiff.metrics.image import psnr
    from rawdiff.runs.kinds import KINDS
    from rawdiff.utils import resolve_device

    model = KINDS["regress"].load(work / "runs" / "regress", resolve_device(cfg.device))
    dark, bright = (x[:1] for x in _lowlight_test(cfg, work))   # one full-size image, as the cascade
    out = enhance_regress(model, dark)
    if out.shape != dark.shape:
        raise ValueError(f"regression output {tuple(out.shape)} != input {tuple(dark.shape)}")
    return f"{dark.shape[0]} image {tuple(dark.shape[-2:])}: " + _finite([{"psnr": float(psnr(out, bright).mean())}],
                                                                          ("psnr",))


def _eval_ocr(cfg: DryRunConfig, work: Path) -> str:
    import dataclasses

    import torch

    from rawdiff.did import textbench as TB
    from rawdiff.did.enhance import enhance
    from rawdiff.did.ocr import engine_availability
    from rawdiff.did.regress import enhance_regress
    from rawdiff.runs.kinds import KINDS
    from rawdiff.utils import make_generator, resolve_device

    why = engine_availability("rapidocr")
    if why:
        return f"skipped: rapidocr {why}"
    dev = resolve_device(cfg.device)
    did = KINDS["did"].load(work / "runs" / "did", dev, preset=dry_preset(cfg))
    reg = KINDS["regress"].load(work / "runs" / "regress", dev)
    words = TB.make_benchmark(cfg.n_words, make_generator(cfg.seed), "did", [(0.5, 0.1)])
    wdid = dataclasses.replace(did, did=dataclasses.replace(did.did, scales=did.did.scales[:2]))  # as notebook 06
    dark = torch.stack([s.dark for s in words]).to(dev)
    did_out = list(enhance(wdid, dark, generator=cfg.seed, num_steps=cfg.sampler_steps).image.cpu())
    rows = TB.evaluate({"did": did_out, "regress": lambda b: enhance_regress(reg, b)}, words, ["rapidocr"],
                       include_clean=False)
    return f"{len(words)} word crops {tuple(dark.shape[-2:])}, rapidocr: " + \
        ", ".join(f"{r['method']} word acc {r['word_acc']:.2f}" for r in rows)


STAGE_FUNCS: dict[str, Callable[[DryRunConfig, Path], str]] = {
    "data": write_data, **{s: (lambda c, w, s=s: _train(s, c, w)) for s in TRAIN_STAGES},
    "eval-dtdm": _eval_dtdm, "eval-did-cascade": _eval_did, "eval-regress": _eval_regress, "eval-ocr": _eval_ocr}


def run_stage(stage: str, cfg: DryRunConfig, work: Path) -> StageResult:
    """One stage in this process: its time, peak RSS (rawdiff.peakmem.PeakRSS) and pass/fail with the error."""
    if stage == "data" and cfg.data_root is not None:
        return StageResult(stage, "skipped", 0.0, 0.0, f"using {cfg.data_root}")
    t0, c0 = time.perf_counter(), time.process_time()
    with PeakRSS() as mem:
        try:
            detail = STAGE_FUNCS[stage](cfg, work)
            status = "skipped" if detail.startswith("skipped") else "ok"
        except Exception as err:  # a stage's failure is its result: reported, and the dry run goes on
            status = "FAIL"
            detail = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300]
            traceback.print_exc()
    return StageResult(stage, status, round(time.perf_counter() - t0, 2), round(mem.mib, 1), detail,
                       round(time.process_time() - c0, 2))


def dry_run(cfg: DryRunConfig = DryRunConfig(), work_dir: str | Path | None = None,
            echo: Callable[[str], None] | None = print) -> DryRun:
    """Run the stages of ``cfg`` in order (each in its own process when ``cfg.isolate``); a failed training stage
    fails the evaluations that need its run.  ``work_dir`` (default: a temporary folder, removed) holds the
    data and the run folders."""
    unknown = [s for s in cfg.stages if s not in STAGES]
    if unknown:
        from rawdiff.errors import RawdiffError

        raise RawdiffError(f"unknown dry-run stage(s) {', '.join(unknown)}; expected some of {', '.join(STAGES)}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rawdiff-dryrun-") as tmp:
        work = Path(work_dir) if work_dir is not None else Path(tmp)
        run = DryRun(cfg, work_dir=str(work))
        for stage in cfg.stages:
            if cfg.isolate:
                res, tail = run_child(["-m", "rawdiff.dryrun", "--child", stage, "--work", str(work),
                                       "--config-json", json.dumps(asdict(cfg))], timeout=cfg.stage_timeout)
                if res is None:
                    last = [ln for ln in tail.splitlines() if ln.strip()][-1:] or ["no output"]
                    r = StageResult(stage, "FAIL", 0.0, 0.0, f"process ended without a result: {last[0][:250]}")
                else:
                    r = StageResult(stage, res["status"], res["seconds"], res["child_peak_rss_mib"], res["detail"],
                                    res.get("cpu_seconds", 0.0))
            else:
                r = run_stage(stage, cfg, work)
            run.results.append(r)
            if echo is not None:
                echo(f"[dry run] {r.stage}: {r.status} in {r.seconds:.1f} s ({r.cpu_seconds:.0f} CPU s), peak RSS "
                     f"{r.peak_rss_mib:.0f} MiB"
                     f" — {r.detail}")
        run.seconds = time.perf_counter() - t0
    return run


# ----------------------------------------------------------------------------------------------- command line
def add_options(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """The dry run's size options (``prefix`` e.g. ``"dry-run-"`` inside ``rawdiff reproduce``)."""
    d = DryRunConfig()
    p.add_argument(f"--{prefix}steps", type=int, default=d.steps, help=f"optimiser steps per network ({d.steps})")
    p.add_argument(f"--{prefix}batch", type=int, default=d.batch_size,
                   help=f"batch size per network, 0 = the preset's ({d.batch_size})")
    p.add_argument(f"--{prefix}images", type=int, default=d.n_test, help=f"test images per evaluation ({d.n_test})")
    p.add_argument(f"--{prefix}json", default=None, metavar="PATH", help="also write the stage table as JSON")


def config_from_args(args: argparse.Namespace, prefix: str = "", **kw) -> DryRunConfig:
    g = (lambda name: getattr(args, (prefix + name).replace("-", "_")))
    return DryRunConfig(steps=g("steps"), batch_size=g("batch"), n_test=g("images"),
                        n_train=max(DryRunConfig.n_train, g("images")), **kw)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rawdiff.dryrun", description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="paper")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--in-process", action="store_true", help="run every stage in this process")
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--config-json", default=None, help=argparse.SUPPRESS)
    add_options(ap)
    args = ap.parse_args(argv)
    if args.child:  # one isolated stage: print its result as the tagged last line (rawdiff.peakmem)
        raw = json.loads(args.config_json)
        cfg = DryRunConfig(**{**raw, "lowlight_hw": tuple(raw["lowlight_hw"]), "stages": tuple(raw["stages"])})
        child_result(asdict(run_stage(args.child, cfg, Path(args.work))))
        return 0
    cfg = config_from_args(args, scale=args.scale, data_root=args.data_root, device=args.device,
                           isolate=not args.in_process, stages=tuple(args.stages.split(",")))
    return report(dry_run(cfg), args.json)


def report(run: DryRun, json_path: str | None = None) -> int:
    """Print the stage table (and write it as JSON); exit status 0 when no stage failed, else 1."""
    print(run.table())
    if json_path:
        Path(json_path).write_text(json.dumps(run.to_dict(), indent=1))
    return 0 if run.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
