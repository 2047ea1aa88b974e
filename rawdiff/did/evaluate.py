"""Notebooks 05 and 06's evaluation helpers: per-image rows for the DiD claims, the few-step cascade table, the
tiling table and the notebooks' summary figures.

* :func:`per_image_rows` — one row per test image (PSNR/SSIM against the ground truth), the per-item contract the
  DiD claim rules read (``05_*_per_image.csv``, rawdiff.claims.did).
* :func:`few_step_table` — the paper cascade vs truncated upper levels (``sigma_start``, fewer Heun steps; the
  cascade's own docstring gives the idea): PSNR and tile network evaluations per image on the test images, and
  OCR word accuracy on darkened word crops, each setting paired per word with the paper cascade (first setting)
  by a non-inferiority bootstrap (rawdiff.stats, margin in word-accuracy points).
* :func:`ocr_protocols` — which darkening protocols notebook 06 runs at each scale.
* :func:`tile_table`, :func:`plot_few_step`, :func:`plot_paired_differences`, :func:`ocr_examples_figure` —
  notebook 05's tiling table and few-step curve, notebook 06's interval plot and recognised-text grid.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import torch

from rawdiff.data.loaders import LowLightDataset
from rawdiff.did import textbench as TB
from rawdiff.did.enhance import DiDModel, enhance
from rawdiff.did.textbench import PROTOCOLS
from rawdiff.claims.did import did_ocr_comparisons, ocr_arms, ocr_level_kinds
from rawdiff.diffusion.cascade import CascadeResult, cascade_cost
from rawdiff.diffusion.edm import karras_sigmas
from rawdiff.figures import image_grid, save_table
from rawdiff.metrics.detail import seam_visibility
from rawdiff.metrics.image import MetricSuite, psnr, ssim
from rawdiff.stats import paired_bootstrap
from rawdiff.utils import Timer

__all__ = ["center_crop", "per_image_rows", "ocr_protocols", "few_step_table", "tile_table", "plot_few_step",
           "plot_paired_differences", "ocr_examples_figure", "ocr_claim_tables", "ilvr_tables", "norm_tables",
           "run_ocr"]


def center_crop(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """The central ``size`` x ``size`` window of ``... x H x W`` (the whole short side when ``size`` is None)."""
    h, w = x.shape[-2:]
    s = min(size or h, h, w)
    return x[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]


def eval_crops(root, n: int, crop: int | None, device) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The first ``n`` test pairs of a low-light dataset (rawdiff.data.loaders.LowLightDataset), centre-cropped to
    ``crop`` px: ``(dark, bright, names)`` on ``device``."""
    test = LowLightDataset(root, "test")
    items = [test[i] for i in range(min(n, len(test)))]
    dark = torch.stack([center_crop(it["low"], crop) for it in items]).float().to(device)
    bright = torch.stack([center_crop(it["high"], crop) for it in items]).float().to(device)
    return dark, bright, [str(it.get("name", i)) for i, it in enumerate(items)]


def ocr_protocols(scale: str, protocols: Sequence[str] | None = None) -> list[str]:
    """The darkening protocols notebook 06 runs (rawdiff.did.textbench.PROTOCOLS): ``protocols`` when given, else the
    paper's ``did`` and the physical ``raw`` at every scale (issue 24 rule 7 restored ``raw`` at ``study``, where
    notebook 06 reads fewer ``raw`` words to stay in budget: its ``raw_words``)."""

    if isinstance(protocols, str):  # -p protocols=raw
        protocols = [protocols]
    out = list(dict.fromkeys(protocols)) if protocols is not None else ["did", "raw"]
    bad = [p for p in out if p not in PROTOCOLS]
    if bad or not out:
        raise ValueError(f"protocols must be a non-empty list drawn from {list(PROTOCOLS)}, got {protocols!r}")
    return out


def per_image_rows(image: torch.Tensor, bright: torch.Tensor, names: Sequence[str], key: str, value, *,
                   scale: str) -> list[dict]:
    """``{scale, key: value, image, psnr, ssim}`` for each image of ``image`` scored against ``bright``."""
    p, s = psnr(image, bright).tolist(), ssim(image, bright).tolist()
    return [{"scale": scale, key: value, "image": n, "psnr": a, "ssim": b} for n, a, b in zip(names, p, s)]


def few_step_table(model, settings: Sequence[Mapping], rows: Sequence[Mapping], words, engine, *, seed: int,
                   scale: str, word_scales: Sequence[int], margin: float = 0.05) -> list[dict]:
    """One row per cascade setting: tile evaluations per image, their ratio to the first (paper) setting, PSNR,
    and OCR word accuracy on ``words`` (rawdiff.did.textbench samples, enhanced at cascade ``word_scales``) with the
    paired interval of its difference to the paper cascade and the non-inferiority verdict (``margin``).

    ``rows``: :func:`rawdiff.did.train.evaluate_settings`'s rows for the same ``settings`` on the test images
    (notebook 05 reuses its ILVR ablation's row of the same cascade and seed for the paper setting).
    """

    word_model = dataclasses.replace(model, did=dataclasses.replace(model.did, scales=tuple(word_scales)))
    dark = torch.stack([s.dark for s in words]).to(model.device)
    correct, level0 = {}, {}
    for st in settings:   # the settings differ above level 0 only: it is sampled once (level0_cache)
        kw = {k: v for k, v in st.items() if k != "setting"}
        out = enhance(word_model, dark, generator=seed, level0_cache=level0, **kw)
        _, pw = TB.evaluate({st["setting"]: list(out.image.cpu())}, words, [engine], include_clean=False,
                            return_predictions=True)
        correct[st["setting"]] = [w["correct"] for w in pw]
    ref = settings[0]["setting"]
    table = []
    for st, r in zip(settings, rows):
        c = paired_bootstrap(correct[st["setting"]], correct[ref], kind="noninferior", margin=margin, seed=seed)
        table.append({"scale": scale, "setting": st["setting"], "tile_nfe_per_image": r["tile_nfe_per_image"],
                      "nfe_ratio": rows[0]["tile_nfe_per_image"] / r["tile_nfe_per_image"], "psnr": r["psnr"],
                      "word_acc": c.mean_a, "word_acc_diff_vs_paper": c.diff, "lo": c.lo, "hi": c.hi, "n_words": c.n,
                      f"noninferior_{round(100 * margin)}pt": c.verdict if st["setting"] != ref else "reference",
                      "sec_per_image": r["sec_per_image"]})
    return table


def tile_table(bright: torch.Tensor, paper_row: Mapping, overlap_row: Mapping, *, scale: str) -> list[dict]:
    """Notebook 05's tiling ablation: PSNR and seam measure of the paper's non-overlapping tiles and of blended
    overlapping tiles, and the seam measure of the ground truth on the same 32-px grid (its natural level)."""

    gt_seam = float(seam_visibility(bright, list(range(32, bright.shape[-2], 32)),
                                    list(range(32, bright.shape[-1], 32))).mean())
    rows = [{"scale": scale, "setting": s, "psnr": r["psnr"], "seam_grid32": r["seam_grid32"]}
            for s, r in (("non-overlapping tiles (paper)", paper_row), (overlap_row["setting"], overlap_row))]
    rows.append({"scale": scale, "setting": "ground truth (reference)", "psnr": "", "seam_grid32": gt_seam})
    return rows


def plot_few_step(fs_rows: Sequence[Mapping]):
    """PSNR and word accuracy against 32x32 network evaluations per image, one point per setting (notebook 05)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    for ax, m in zip(axes, ("psnr", "word_acc")):
        ax.plot([r["tile_nfe_per_image"] for r in fs_rows], [r[m] for r in fs_rows], "o")
        for r in fs_rows:
            ax.annotate(r["setting"].split(",")[0], (r["tile_nfe_per_image"], r[m]), fontsize=6)
        ax.set_xscale("log"); ax.set_xlabel("32x32 network evaluations per image"); ax.set_ylabel(m)
    return fig


def plot_paired_differences(comps: Sequence[Mapping], scale: str):
    """Notebook 06: DiD minus each method in word accuracy with its 95% interval, one panel per
    (protocol, engine) (rows of rawdiff.claims.did_ocr_comparisons)."""
    import matplotlib.pyplot as plt

    panels = sorted({(c["protocol"], c["engine"]) for c in comps})
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(4.5 * max(1, len(panels)), 3), squeeze=False)
    for ax, (protocol, eng) in zip(axes[0], panels):
        sel = [c for c in comps if c["protocol"] == protocol and c["engine"] == eng]
        ax.errorbar([c["diff"] for c in sel], range(len(sel)), fmt="o",
                    xerr=[[c["diff"] - c["lo"] for c in sel], [c["hi"] - c["diff"] for c in sel]])
        ax.axvline(0, color="k", lw=0.5)
        ax.set_yticks(range(len(sel))); ax.set_yticklabels([c["method"] for c in sel], fontsize=7)
        ax.set_xlabel("word accuracy: DiD - method (95% CI)"); ax.set_title(f"{protocol}, {eng}", fontsize=9)
    fig.suptitle(f"paired word-accuracy differences ({scale}; no paper numbers)", fontsize=9)
    fig.tight_layout()
    return fig


def ocr_examples_figure(samples: Sequence, per_word: Sequence[Mapping], images: Mapping, *, engine: str,
                        protocol: str, scale: str, n_show: int, columns: Sequence[str]):
    """Notebook 06: the first crop of each darkening level (up to ``n_show``) under every method of ``columns``,
    each labelled with what ``engine`` read (green right, red wrong).  ``images[method](i)`` gives crop ``i``."""

    levels = list(dict.fromkeys(s.level for s in samples))
    shown = [next(i for i, s in enumerate(samples) if s.level == lv) for lv in levels][:n_show]
    sel = [w for w in per_word if w["engine"] == engine and w["protocol"] == protocol]
    text = {(w["method"], w["item"]): w["pred"] for w in sel}
    ok = {(w["method"], w["item"]): w["correct"] for w in sel}
    return image_grid([[images[m](i) for m in columns] for i in shown], col_titles=columns, cell=(2.4, 1.3),
                      row_titles=[f"{samples[i].level}\n'{samples[i].label}'" for i in shown],
                      xlabels=[[repr(text.get((m, i), "")) for m in columns] for i in shown],
                      xlabel_colors=[["tab:green" if ok.get((m, i)) else "tab:red" for m in columns] for i in shown],
                      title=f"recognised text ({engine}, protocol {protocol}, {scale})")


# ----------------------------------------------------------------------------------------------- evaluation
def ilvr_settings(ks: Sequence[int] = (0, 3, 6, 18)) -> list[dict]:
    """Settings for the ILVR-steps ablation (paper default k = 6 of 18)."""
    return [{"setting": f"ILVR k={k}", "ilvr_steps": k} for k in ks]


def overlap_settings(overlaps: Sequence[int] = (0, 8)) -> list[dict]:
    """Settings for the tiling ablation: 0 = paper's non-overlapping tiles, > 0 = our blended tiles."""
    return [{"setting": "non-overlapping tiles (paper)" if o == 0 else f"blended tiles (overlap {o})", "overlap": o}
            for o in overlaps]


def evaluate_settings(model: DiDModel, dark: torch.Tensor, bright: torch.Tensor, settings: Sequence[Mapping],
                      *, seed: int = 0, metrics: Sequence[str] = ("psnr", "ssim", "lpips"), suite=None,
                      max_batch: int | None = None, chunk: int | None = None, keep: int | None = None
                      ) -> tuple[list[dict], dict[str, CascadeResult]]:
    """Run :func:`enhance` on the images ``dark`` (N x 3 x H x W) once per setting and score against ``bright``.

    Each setting is a dict with a ``"setting"`` label and :func:`enhance` keyword overrides.  Returns
    ``(rows, results)``: one row per setting with the mean metrics (a metric that cannot run is its
    ``"unavailable: ..."`` string, never a number), seam visibility at the 32-px grid and at the setting's own
    tile borders, seconds per image and 32x32 network evaluations per image; ``results[label]`` the cascade.
    Level 0 is sampled once for all settings that share it (``level0_cache``; e.g. every ILVR or few-step setting),
    so a later setting's seconds exclude it while its network evaluations per image still count it.
    The images go through the cascade ``chunk`` at a time (default the model sampler's ``chunk``); metrics are
    kept per image and averaged, and ``results`` holds the outputs of the chunks covering the first ``keep``
    images (``None``: all).  Tiles draw their noise by image index in ``dark``, so nothing depends on ``chunk``.
    """

    suite = suite or MetricSuite(metrics, device=model.device)
    rows, results, level0 = [], {}, {}
    step = max(1, int(chunk or model.sampler.chunk))
    n = dark.shape[0]
    for st in settings:
        kw = {k: v for k, v in st.items() if k != "setting"}
        per, seam32, seam_own, parts, seconds, res = [], [], [], [], 0.0, None
        for a in range(0, n, step):
            with Timer(model.device) as t:
                res = enhance(model, dark[a:a + step], generator=seed, max_batch=max_batch, level0_cache=level0,
                              chunk=step, image_offset=a, **kw)
            seconds += t.seconds
            per += suite.per_image(res.image, bright[a:a + step].to(model.device))
            seam32 += res.seam_visibility(grid=model.did.patch).tolist()
            seam_own += res.seam_visibility().tolist()
            if keep is None or a < keep:
                parts.append(res)
        vals = {k: (per[0][k] if isinstance(per[0][k], str) else sum(p[k] for p in per) / n) for k in suite.names}
        row = {"setting": st["setting"], "normalization": model.normalization,
               "ilvr_steps": kw.get("ilvr_steps", model.sampler.ilvr_steps),
               "overlap": kw.get("overlap", model.sampler.tile_overlap), **vals,
               "seam_grid32": sum(seam32) / n, "seam_own_tiles": sum(seam_own) / n,
               "sec_per_image": seconds / n, "tile_nfe_per_image": res.tile_nfe}
        rows.append(row)
        results[st["setting"]] = parts[0] if len(parts) == 1 else CascadeResult.concat(parts)
    return rows, results


def few_step_settings(pairs: Sequence[tuple[float, int]], num_steps: int = 18) -> list[dict]:
    """Settings (for rawdiff.did.train.evaluate_settings / enhance) of the paper cascade followed by one
    few-step cascade per ``(sigma_start, upper_steps)`` pair."""
    out = [{"setting": f"paper ({num_steps} steps every level)"}]
    out += [{"setting": f"sigma_start={s:g}, {k} steps", "sigma_start": float(s), "upper_steps": int(k)}
            for s, k in pairs]
    return out


# ----------------------------------------------------------------------------------------------- notebook 06
def cascade_cost_line(model: DiDModel, size: tuple[int, int]) -> str:
    """What the cascade costs on one ``size`` crop: scales, padded size, tiles per level, 32x32 network evaluations
    (rawdiff.diffusion.cascade.cascade_cost with the model's sampler)."""
    e = model.sampler
    cost = cascade_cost(*size, model.did.scales, karras_sigmas(e.num_steps, e.sigma_min, e.sigma_max, e.rho))
    return (f"DiD cascade per {tuple(size)} crop: scales {model.did.scales}, padded to {cost['padded']}, tiles per "
            f"level {cost['tiles_per_scale']}, {cost['tile_nfe']} 32x32 network evaluations")


def save_ocr_tables(rows: Sequence[Mapping], per_word: Sequence[Mapping], reasons: Mapping, out_dir, *, scale: str,
                    n_words: int) -> tuple[list[dict], list[dict]]:
    """Notebook 06's tables: per level and method (``06_ocr_accuracy``, with a row per unavailable engine), per
    darkened word (``06_ocr_per_word``, the claim's input), means over levels (``06_ocr_summary``) and DiD minus
    each method, paired per word (``06_ocr_comparisons``, rawdiff.claims.did.did_ocr_comparisons).
    Returns ``(summary, comparisons)``."""
    rows = [{**r, "scale": scale} for r in list(rows) + TB.unavailable_rows(reasons)]
    save_table(rows, out_dir, "06_ocr_accuracy", title=f"OCR on dark word crops ({scale}, {n_words} words per level)")
    save_table([{**{k: w[k] for k in ("method", "protocol", "level", "engine", "item", "label", "pred", "correct")},
                 "scale": scale} for w in per_word], out_dir, "06_ocr_per_word")
    summary = [{**r, "scale": scale} for r in TB.level_means(rows)]
    save_table(summary, out_dir, "06_ocr_summary", title=f"OCR means over levels ({scale})")
    comps = [{**c, "scale": scale} for c in did_ocr_comparisons(per_word)] if per_word else []
    save_table(comps, out_dir, "06_ocr_comparisons",
               title=f"DiD minus each method, word accuracy, paired bootstrap 95% ({scale})")
    return summary, comps


def ocr_claim_tables(per_word: Sequence[Mapping], out_dir, *, scale: str) -> tuple[list[dict], list[dict]]:
    """The OCR claim as rawdiff.claims.did decides it (issue 24 rule 7): one row per (protocol, engine, level) with
    its kind — ``floor`` / ``ceiling`` (every method < 5 % / > 85 %; reported, excluded from the arms) or
    ``kept`` — and each method's accuracy (``06_ocr_levels``), and one row per arm with its verdict
    (``06_ocr_arms``).  Returns ``(levels, arms)``."""
    kinds = ocr_level_kinds(list(per_word))
    levels = []
    for (prot, eng, lv), kind in sorted(kinds.items()):
        acc: dict[str, list[float]] = {}
        for w in per_word:
            if (w["protocol"], w["engine"], w["level"]) == (prot, eng, lv):
                acc.setdefault(w["method"], []).append(float(w["correct"]))
        levels.append({"protocol": prot, "engine": eng, "level": lv, "kind": kind,
                       **{m: sum(v) / len(v) for m, v in sorted(acc.items())}, "scale": scale})
    arms = [{"protocol": a["protocol"], "engine": a["engine"], "verdict": a["verdict"],
             "excluded_levels": "; ".join(a["excluded"]) or "none",
             "best_other": a["best"]["method"] if a["best"] else "", "n": a["best"]["n"] if a["best"] else 0,
             **{k: a["best"][k] if a["best"] else float("nan") for k in ("diff", "lo", "hi")}, "scale": scale}
            for a in ocr_arms(list(per_word))]
    save_table(levels, out_dir, "06_ocr_levels", title=f"OCR levels: floor / ceiling (excluded) or kept ({scale})")
    save_table(arms, out_dir, "06_ocr_arms", title=f"OCR claim per (protocol, engine) arm; DiD - best other ({scale})")
    return levels, arms


def ilvr_tables(rows_ilvr: Sequence[Mapping], res_ilvr: Mapping[str, CascadeResult], bright: torch.Tensor,
                names: Sequence[str], ks: Sequence[int], out_dir, *, scale: str, metrics: Sequence[str]):
    """Notebook 05's ILVR tables: per image and k (``05_ilvr_per_image``, the claim's input) and the means per k
    (``05_ilvr_ablation``).  Returns ``(items, rows)``."""
    items = [row for k in ks for row in per_image_rows(res_ilvr[f"ILVR k={k}"].image, bright, names, "ilvr_steps", k,
                                                       scale=scale)]
    save_table(items, out_dir, "05_ilvr_per_image")
    rows = [{"scale": scale, **{c: r[c] for c in ("ilvr_steps", *metrics, "seam_grid32", "sec_per_image")}}
            for r in rows_ilvr]
    save_table(rows, out_dir, "05_ilvr_ablation", title=f"ILVR steps ablation ({scale}; level 0 without ILVR)")
    return items, rows


def norm_tables(runs: Sequence[tuple], bright: torch.Tensor, names: Sequence[str], out_dir, *, scale: str,
                metrics: Sequence[str]):
    """Notebook 05's normalisation tables from ``runs`` = ``[(name, cascade result, mean row, Trained), ...]``
    (tail first): per image (``05_norm_per_image``, the claim's input) and means with the final training loss
    (``05_norm_ablation``).  Returns ``(items, rows, paired bootstrap of PSNR first - second)``."""
    items = [r for nm, res, _, _ in runs for r in per_image_rows(res.image, bright, names, "normalization", nm,
                                                                 scale=scale)]
    save_table(items, out_dir, "05_norm_per_image")
    rows = [{"scale": scale, "normalization": nm, **{m: r[m] for m in metrics},
             "final_loss": t.history[-1]["loss"] if t.history else float("nan")} for nm, _, r, t in runs]
    save_table(rows, out_dir, "05_norm_ablation", title=f"Normalisation ablation ({scale})")
    n = len(names)
    return items, rows, paired_bootstrap([r["psnr"] for r in items[:n]], [r["psnr"] for r in items[n:2 * n]])


def run_ocr(benches: Mapping[str, Sequence], did_out: Mapping[str, Sequence[torch.Tensor]], regress, engines,
            easyocr_words: int | None) -> tuple[list[dict], list[dict]]:
    """Notebook 06's reading: per protocol, the baselines, the regression UNet (``regress``: a function of a dark
    batch) and DiD's precomputed outputs through rawdiff.did.textbench.evaluate with every engine (easyocr on
    the first ``easyocr_words`` crops per level).  Returns ``(rows, per_word)``."""
    rows, per_word = [], []
    for protocol, samples in benches.items():
        if not engines:
            continue
        methods = {**TB.baseline_methods(), "regression unet": regress, "did": did_out[protocol]}
        r, p = TB.evaluate(methods, samples, engines, return_predictions=True,
                           engine_subsample={"easyocr": easyocr_words} if easyocr_words else None)
        rows += r
        per_word += p
    return rows, per_word
