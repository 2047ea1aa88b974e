"""Full-size evaluation of DiD on a low-light test set (issue 25: LOL eval15 at 600x400, or our synthetic test set).

Notebook 05's ablations score centre crops (rawdiff.did.evaluate.eval_crops); published LOL numbers are on whole
600x400 images, so this module scores each test image at its full size, one image at a time (memory bounded by
one image), against its normal-light image:

* **dark input** as is; **gamma**: ``x^g`` bringing the image mean to ``gamma_target`` (0.45; no reference used;
  rawdiff.did.textbench.gamma_brighten); **CLAHE** (rawdiff.did.textbench.clahe);
* the **regression UNet** (rawdiff.did.regress.enhance_regress), when given;
* **DiD** through its multi-scale cascade (rawdiff.did.enhance.enhance: the model's sampler, i.e. the preset's
  ILVR k = 6 of 18 steps, with overlapping blended tiles unless ``overlap=0``), ``seeds`` samples per image.

Per output: PSNR, SSIM (Wang et al. 2004) and the scorecard's detail metric (rawdiff.metrics.detail.highband_ssim),
plus a **GT-mean-corrected PSNR** (``psnr_gtmean``): the output scaled so its grey mean equals the ground truth's
before PSNR — the test setting of KinD / LLFlow / diffusion papers that many published LOL numbers use; it reads
the reference, so it is a separate, labelled column.  The table gives each method's mean with a 95 % bootstrap
interval over images (rawdiff.stats.bootstrap_mean; DiD's seeds are averaged per image first) and DiD minus each
method as paired bootstrap differences (rawdiff.stats.paired_bootstrap).  DiD's noise for image ``name`` and seed
``s`` comes from ``derive_seed(seed, "fullsize-did", name, s)``, so nothing depends on the order or the count
of images evaluated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from rawdiff.data.loaders import LowLightDataset
from rawdiff.did.enhance import DiDModel, enhance
from rawdiff.did.published_lol import published_rows
from rawdiff.did.regress import RegressModel, enhance_regress
from rawdiff.did.textbench import clahe, gamma_brighten
from rawdiff.errors import DataError
from rawdiff.figures import image_grid, save_table
from rawdiff.metrics.detail import grey, highband_ssim
from rawdiff.metrics.image import psnr, ssim
from rawdiff.stats import bootstrap_mean, paired_bootstrap
from rawdiff.utils import Timer, derive_seed

__all__ = ["FullsizeConfig", "FullsizeResult", "METRICS", "gt_mean_scaled", "score", "fullsize_eval",
           "summary_table", "paired_table", "save_fullsize_tables", "centre_window", "fullsize_grid",
           "cascade_levels_figure"]

DARK, GAMMA, CLAHE, REGRESS, DID = "dark input", "gamma", "CLAHE", "regression UNet", "DiD"
#: per-output metrics; ``psnr_gtmean`` is GT-mean corrected (reads the reference's mean: labelled as such)
METRICS = ("psnr", "ssim", "detail_hb_ssim", "psnr_gtmean")


@dataclass(frozen=True)
class FullsizeConfig:
    """What :func:`fullsize_eval` runs: DiD samples per image, the gamma baseline's target mean, DiD's tile
    overlap (px; 0 = the paper's non-overlapping tiles, ``None`` = the model's sampler) and ILVR steps (``None``
    = the sampler's), and how many images keep their outputs for the figures."""

    seeds: int = 3
    gamma_target: float = 0.45
    overlap: int | None = 8
    ilvr_steps: int | None = None
    keep: int = 3

    def __post_init__(self):
        if self.seeds < 1 or self.keep < 0 or not 0 < self.gamma_target < 1:
            raise ValueError(f"FullsizeConfig: need seeds >= 1, keep >= 0, 0 < gamma_target < 1, got {self}")


@dataclass
class FullsizeResult:
    """``rows``: one per image, method and seed (metrics, seconds); ``examples``: the first ``keep`` images'
    ``{"name", "dark", "bright", <method>: output}`` (DiD: its first seed); ``levels``: the cascade levels
    (coarsest first) of the first image's first DiD sample; ``methods``: the methods run, in order."""

    rows: list[dict]
    examples: list[dict] = field(default_factory=list)
    levels: list[torch.Tensor] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)


def gt_mean_scaled(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``out`` scaled (per image) so its Rec. 601 grey mean equals ``target``'s, clamped to [0, 1] — the
    "GT-mean" test setting of published LOL numbers (KinD, LLFlow; Retinexformer's README)."""
    m_out = grey(out.float()).flatten(1).mean(1).clamp_min(1e-6)
    m_gt = grey(target.float().to(out.device)).flatten(1).mean(1)
    return (out.float() * (m_gt / m_out).view(-1, 1, 1, 1)).clamp(0, 1)


def score(out: torch.Tensor, target: torch.Tensor) -> list[dict]:
    """:data:`METRICS` of each image of ``out`` (N x 3 x H x W) against ``target``."""
    out, target = out.float().clamp(0, 1), target.float().to(out.device)
    cols = {"psnr": psnr(out, target), "ssim": ssim(out, target), "detail_hb_ssim": highband_ssim(out, target),
            "psnr_gtmean": psnr(gt_mean_scaled(out, target), target)}
    return [{k: float(v[i]) for k, v in cols.items()} for i in range(out.shape[0])]


def _methods(regress: RegressModel | None, cfg: FullsizeConfig) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    m = {DARK: lambda x: x, GAMMA: lambda x: gamma_brighten(x, cfg.gamma_target), CLAHE: clahe}
    if regress is not None:
        m[REGRESS] = lambda x: enhance_regress(regress, x)
    return m


def fullsize_eval(root, did: DiDModel | None, regress: RegressModel | None = None, *, n: int | None = None,
                  cfg: FullsizeConfig = FullsizeConfig(), seed: int = 0, scale: str = "",
                  log: Callable[[str], None] | None = None) -> FullsizeResult:
    """Score every method on the first ``n`` (default all) test pairs of the low-light dataset at ``root``
    (rawdiff.data.loaders.LowLightDataset: LOL in either layout, or our synthetic set) at full size, one image
    at a time on ``did``'s device (the regression model's, or the CPU, without DiD).  ``log`` gets one line
    per image (e.g. ``print``)."""
    test = LowLightDataset(root, "test")
    count = len(test) if n is None else min(int(n), len(test))
    if count < 1:
        raise DataError(f"{root}: no test pairs to evaluate")
    dev = did.device if did is not None else (regress.device if regress is not None else torch.device("cpu"))
    methods = _methods(regress, cfg)
    res = FullsizeResult(rows=[], methods=list(methods) + ([DID] if did is not None else []))
    for i in range(count):
        item = test[i]
        name, dark, bright = str(item["name"]), item["low"][None].to(dev), item["high"][None].to(dev)
        base = {"scale": scale, "image": name, "size": f"{dark.shape[-1]}x{dark.shape[-2]}"}
        kept = {"name": name, "dark": dark[0].cpu(), "bright": bright[0].cpu()} if i < cfg.keep else None
        for method, fn in methods.items():
            with Timer(dev) as t:
                out = fn(dark).to(dev)
            res.rows.append({**base, "method": method, "seed": "", **score(out, bright)[0], "seconds": t.seconds})
            if kept is not None:
                kept[method] = out[0].cpu()
        for s in range(cfg.seeds if did is not None else 0):
            with Timer(dev) as t:
                r = enhance(did, dark, generator=derive_seed(seed, "fullsize-did", name, s), overlap=cfg.overlap,
                            ilvr_steps=cfg.ilvr_steps)
            res.rows.append({**base, "method": DID, "seed": s, **score(r.image, bright)[0], "seconds": t.seconds})
            if s == 0 and kept is not None:
                kept[DID] = r.image[0].cpu()
            if s == 0 and i == 0:
                res.levels = [p[0].cpu() for p in r.per_scale]
        if kept is not None:
            res.examples.append(kept)
        if log is not None:
            log(f"{name}: " + ", ".join(f"{r['method']}{'' if r['seed'] == '' else '#' + str(r['seed'])} "
                                        f"{r['psnr']:.2f} dB {r['seconds']:.1f} s"
                                        for r in res.rows if r["image"] == name))
    return res


def _per_image(rows: Sequence[dict], method: str, metric: str) -> tuple[list[str], list[list[float]]]:
    """Images (first-seen order) and, per image, the values of ``metric`` over its seeds."""
    vals: dict[str, list[float]] = {}
    for r in rows:
        if r["method"] == method:
            vals.setdefault(r["image"], []).append(float(r[metric]))
    return list(vals), list(vals.values())


def summary_table(rows: Sequence[dict], *, methods: Sequence[str] | None = None, seed: int = 0) -> list[dict]:
    """Per method: mean of each metric over images with its 95 % bootstrap interval (seeds averaged per image
    first), images, seeds per image and seconds per image (all seeds)."""
    methods = list(methods or dict.fromkeys(r["method"] for r in rows))
    table = []
    for m in methods:
        names, _ = _per_image(rows, m, "psnr")
        if not names:
            continue
        seeds = max(len(v) for v in _per_image(rows, m, "psnr")[1])
        row = {"scale": rows[0].get("scale", ""), "method": m, "n_images": len(names), "seeds": seeds}
        for metric in METRICS:
            iv = bootstrap_mean([sum(v) / len(v) for v in _per_image(rows, m, metric)[1]], seed=seed)
            label = "psnr_gtmean (GT-mean corrected)" if metric == "psnr_gtmean" else metric
            row.update({label: iv.mean, f"{metric}_lo": iv.lo, f"{metric}_hi": iv.hi})
        row["sec_per_image"] = sum(r["seconds"] for r in rows if r["method"] == m) / len(names)
        table.append(row)
    return table


def paired_table(rows: Sequence[dict], *, reference: str = DID, seed: int = 0) -> list[dict]:
    """``reference`` (DiD) minus each other method, paired per image (seeds averaged per image first), per metric:
    mean difference, 95 % paired-bootstrap interval and the superiority verdict (rawdiff.stats)."""
    ref_names, _ = _per_image(rows, reference, "psnr")
    out = []
    for m in dict.fromkeys(r["method"] for r in rows):
        if m == reference:
            continue
        for metric in METRICS:
            a_names, a = _per_image(rows, reference, metric)
            b_names, b = _per_image(rows, m, metric)
            if a_names != b_names or not a_names:
                raise DataError(f"paired_table: {reference} and {m} were scored on different images")
            c = paired_bootstrap([sum(v) / len(v) for v in a], [sum(v) / len(v) for v in b], seed=seed)
            out.append({"scale": rows[0].get("scale", ""), "comparison": f"{reference} - {m}", "metric": metric
                        + (" (GT-mean corrected)" if metric == "psnr_gtmean" else ""), "n_images": c.n,
                        "diff": c.diff, "lo": c.lo, "hi": c.hi, "verdict": c.verdict})
    return out if ref_names else []


def save_fullsize_tables(res: FullsizeResult, out_dir, *, scale: str, lol: bool, seed: int = 0
                         ) -> tuple[list[dict], list[dict]]:
    """Notebook 05's full-size tables: per image, method and seed (``05_fullsize_per_image``), the summary with
    intervals (``05_fullsize``), DiD minus each method (``05_fullsize_diffs``) and, on LOL (``lol``), the published
    eval15 numbers as their own table (``05_fullsize_published``, rawdiff.did.published_lol).  Returns
    ``(summary, published)`` (``published`` empty off LOL)."""
    table = summary_table(res.rows, methods=res.methods, seed=seed)
    n = table[0]["n_images"] if table else 0
    save_table(res.rows, out_dir, "05_fullsize_per_image")
    save_table(table, out_dir, "05_fullsize", title=f"Full-size test images ({scale}; n = {n} images, 95% bootstrap "
               "intervals over images; psnr_gtmean reads the reference's mean)")
    save_table(paired_table(res.rows, seed=seed), out_dir, "05_fullsize_diffs",
               title=f"DiD minus each method, paired per image ({scale}; n = {n})")
    published = published_rows(scale) if lol else []
    if published:
        save_table(published, out_dir, "05_fullsize_published", title="Published LOL eval15 numbers (not ours; "
                   "each from its source, GT-mean as stated)")
    return table, published


def centre_window(x: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """The central ``size = (h, w)`` window of ``... x H x W`` at native resolution (whole image if None)."""
    if size is None:
        return x
    H, W = x.shape[-2:]
    h, w = min(size[0], H), min(size[1], W)
    return x[..., (H - h) // 2:(H - h) // 2 + h, (W - w) // 2:(W - w) // 2 + w]


def fullsize_grid(res: FullsizeResult, *, crop: tuple[int, int] | None = (200, 300), title: str = ""):
    """The kept images: dark | gamma | regression | DiD (first seed) | normal-light, each the same native-resolution
    centre window (``crop``; None = whole image), one row per image."""
    cols = [c for c in (GAMMA, REGRESS, DID) if c in res.methods]
    names = ["dark"] + cols + ["bright"]
    h, w = centre_window(res.examples[0]["dark"], crop).shape[-2:] if res.examples else (1, 1)
    return image_grid([[centre_window(ex[c], crop) for c in names] for ex in res.examples],
                      col_titles=[DARK] + cols + ["normal light"], row_titles=[ex["name"] for ex in res.examples],
                      cell=(2.6, 2.6 * h / w + 0.2), title=title)


def cascade_levels_figure(res: FullsizeResult, scales: Sequence[int], *, title: str = ""):
    """The first image's DiD cascade: dark input | each level (coarsest first) | normal light, whole images."""
    ex = res.examples[0] if res.examples else None
    if ex is None or not res.levels:
        raise DataError("cascade_levels_figure: no DiD cascade was kept (run fullsize_eval with DiD and keep >= 1)")
    h, w = ex["dark"].shape[-2:]
    return image_grid([[ex["dark"], *res.levels, ex["bright"]]], cell=(2.6, 2.6 * h / w + 0.3), title=title,
                      col_titles=["dark input"] + [f"level {i}: {s} px" for i, s in enumerate(scales)]
                      + ["normal light"])


def fullsize_section(root, did: DiDModel, regress: RegressModel | None, out_dir, *, scales: Sequence[int],
                     n: int | None, seeds: int = 3, seed: int = 0, scale: str) -> list[dict]:
    """Notebook 05's full-size section: :func:`fullsize_eval` on ``n`` test images of ``root`` (default: 2 at
    ``smoke``, all otherwise), its tables (:func:`save_fullsize_tables`; published rows on LOL) and both figures
    (saved and shown inline by rawdiff.figures.save_figure).  Returns the rows to show: ours, then published."""
    from rawdiff.data.lol import locate_lowlight
    from rawdiff.figures import save_figure

    full = fullsize_eval(root, did, regress, n=n or (2 if scale == "smoke" else None),
                         cfg=FullsizeConfig(seeds=seeds), seed=seed, scale=scale)
    layout = locate_lowlight(root)
    table, published = save_fullsize_tables(full, out_dir, scale=scale, lol=layout is not None and layout.kind == "lol",
                                            seed=seed)
    save_figure(fullsize_grid(full, title=f"full-size test images, native-resolution centre crops ({scale})"),
                out_dir, "05_fullsize_grid")
    save_figure(cascade_levels_figure(full, scales, title=f"DiD cascade levels on {full.examples[0]['name']} ({scale})"),
                out_dir, "05_fullsize_cascade")
    return table + published
