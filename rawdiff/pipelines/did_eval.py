"""Notebook 05's evaluation helpers: per-image rows for the DiD claims and the few-step cascade table.

* :func:`per_image_rows` — one row per test image (PSNR/SSIM against the ground truth), the per-item contract the
  DiD claim rules read (``05_*_per_image.csv``, rawdiff.claims.did).
* :func:`few_step_table` — the paper cascade vs truncated upper levels (``sigma_start``, fewer Heun steps; the
  cascade's own docstring gives the idea): PSNR and tile network evaluations per image on the test images, and
  OCR word accuracy on darkened word crops, each setting paired per word with the paper cascade (first setting)
  by a non-inferiority bootstrap (rawdiff.stats, margin in word-accuracy points).
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import torch

from rawdiff.metrics import psnr, ssim
from rawdiff.stats import paired_bootstrap

__all__ = ["center_crop", "per_image_rows", "few_step_table"]


def center_crop(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """The central ``size`` x ``size`` window of ``... x H x W`` (the whole short side when ``size`` is None)."""
    h, w = x.shape[-2:]
    s = min(size or h, h, w)
    return x[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]


def per_image_rows(image: torch.Tensor, bright: torch.Tensor, names: Sequence[str], key: str, value, *,
                   scale: str) -> list[dict]:
    """``{scale, key: value, image, psnr, ssim}`` for each image of ``image`` scored against ``bright``."""
    p, s = psnr(image, bright).tolist(), ssim(image, bright).tolist()
    return [{"scale": scale, key: value, "image": n, "psnr": a, "ssim": b} for n, a, b in zip(names, p, s)]


def few_step_table(model, settings: Sequence[Mapping], rows: Sequence[Mapping], words, engine, *, seed: int,
                   scale: str, word_scales: Sequence[int], margin: float = 0.05) -> list[dict]:
    """One row per cascade setting: tile evaluations per image, their ratio to the first (paper) setting, PSNR,
    and OCR word accuracy on ``words`` (rawdiff.textbench samples, enhanced at cascade ``word_scales``) with the
    paired interval of its difference to the paper cascade and the non-inferiority verdict (``margin``).

    ``rows``: :func:`rawdiff.pipelines.did.evaluate_settings`'s rows for the same ``settings`` on the test images.
    """
    from rawdiff import textbench as TB
    from rawdiff.pipelines.did import enhance

    word_model = dataclasses.replace(model, did=dataclasses.replace(model.did, scales=tuple(word_scales)))
    dark = torch.stack([s.dark for s in words]).to(model.device)
    correct = {}
    for st in settings:
        kw = {k: v for k, v in st.items() if k != "setting"}
        out = enhance(word_model, dark, generator=seed, **kw)
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
