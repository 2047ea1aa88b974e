"""DiffRAW's claim tables under issue 24's rules, and their budget curves.

* :func:`claim_sizes` — per scale, how many images the DDPM-1000 reference (1 seed) and the budget evaluations
  use, and the DDIM step count reported beside the reference (issue 24, rule 1: DDPM-1000 on >= 16 test images
  x 1 seed, DDIM-100 beside on all images).
* :func:`dtdm_table` — notebook 04's per-image table (``04_dtdm_per_image.csv``): every method on the same test
  images (rawdiff.diffraw.evaluate.evaluate_per_image), the DDPM-1000 reference on the first images, the noise-
  injection control row and the D² sanity-gate rows — what rawdiff.claims.diffraw reads.
* budget curves (issue 24, "Budget curves"): every training run keeps checkpoints at 1/4 and 1/2 of its steps
  (rawdiff.train.budget_steps).  :func:`dtdm_budget_effects` (notebook 04) and :func:`condition_budget_effects`
  (notebook 03) evaluate those checkpoints on the first ``budget_images`` test images with the same seeds and
  apply each claim's own rule to the table at that checkpoint (rawdiff.claims.budget.budget_effect_rows), so a
  curve shows exactly the effects the scorecard judges.  Evaluation only: nothing is retrained.  The 04 curves'
  full-budget point is the main table restricted to the same images (identical numbers: image i under seed sd
  draws the same noise wherever it is evaluated); the 03 tables are per-set, so 03 re-evaluates the full budget
  on the subset too.  A budget whose checkpoint is missing or whose rule cannot be computed (e.g. no DDPM-1000
  at the smaller budgets at ``smoke``) is a row with an empty effect and the reason in ``note``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from rawdiff.claims.budget import budget_effect_rows
from rawdiff.claims.common import CANNOT, Unmeasurable
from rawdiff.claims.diffraw import DTDM_KS, DTDM_TABLE
from rawdiff.claims.scorecard import CLAIMS
from rawdiff.config import DTDMConfig
from rawdiff.diffraw.evaluate import (
    condition_ablation,
    evaluate_per_image,
    gate_rows,
    plug_and_play_rows,
)
from rawdiff.diffraw.sample import Method, ispnet_condition
from rawdiff.diffraw.train import load_diffraw_unet, load_ispnet
from rawdiff.errors import RawdiffError
from rawdiff.train import budget_steps

__all__ = ["ClaimSizes", "claim_sizes", "dtdm_methods", "dtdm_table", "claim_rows", "rule_effects",
           "budget_pairs", "dtdm_budget_effects", "condition_budget_effects", "BUDGET_COLUMNS"]

BUDGET_COLUMNS = ("claim", "comparison", "budget", "diff", "lo", "hi", "verdict", "images", "note")


@dataclass(frozen=True)
class ClaimSizes:
    """``reference_images``: images of the DDPM-1000 reference (1 seed; the rule needs >= 16); ``beside_steps``:
    the DDIM-from-noise step count reported beside it on all images; ``budget_images``: test images of each
    budget evaluation; ``budget_reference_images``: DDPM-1000 images at the smaller budgets (0: skipped, rule (a)
    then says it cannot be computed there)."""

    reference_images: int = 16
    beside_steps: int = 100
    budget_images: int = 16
    budget_reference_images: int = 16


def claim_sizes(scale: str) -> ClaimSizes:
    """``smoke`` keeps the cost small (DDPM-1000 on 2 images, so rule (a) says it cannot be computed; budgets on
    4 images without DDPM-1000); every other scale follows issue 24 (16 images, DDIM-100 beside)."""
    if scale == "smoke":
        return ClaimSizes(reference_images=2, beside_steps=50, budget_images=4, budget_reference_images=0)
    return ClaimSizes()


def dtdm_methods(cfg: DTDMConfig, sizes: ClaimSizes, *, step_counts: Sequence[int] = DTDM_KS,
                 s_values: Sequence[int] | None = None, extras: bool = True) -> tuple[list[Method], Method]:
    """The methods of the DTDM table and the method the noise control is matched to (DTDM K = max(step_counts)
    at the main s).  ``extras``: also the simple ISP, other s values, the truncated baseline and DDIM-beside
    (left out of the budget evaluations: no rule reads them)."""
    s_values = sorted(set(s_values or [cfg.s])) if extras else [cfg.s]
    ms = ([Method("simple_isp")] if extras else []) + [Method("ispnet")]
    ms += [Method("dtdm", k, s=s) for s in s_values for k in step_counts if k <= s]
    ms += [Method("truncated", k, s=cfg.s) for k in (5, 10)] if extras else []
    ms += [Method("ddim", k) for k in step_counts]
    ms += [Method("ddim", sizes.beside_steps)] if extras and sizes.beside_steps not in step_counts else []
    n_ref = sizes.reference_images if extras else sizes.budget_reference_images
    ms += [Method("ddpm", images=n_ref, seeds=1)] if n_ref > 0 else []
    return ms, Method("dtdm", max(step_counts), s=cfg.s)


def dtdm_table(test, c_test, dtdm_nets: dict, ddpm_net, cfg: DTDMConfig, sizes: ClaimSizes, *,
               seeds: Sequence[int] = (0, 1, 2), step_counts: Sequence[int] = DTDM_KS,
               s_values: Sequence[int] | None = None, extras: bool = True, device="auto", **kw):
    """``04_dtdm_per_image.csv``'s rows: :func:`dtdm_methods` on ``test`` (``dtdm_nets`` = {s: unet}), the
    ``ispnet_noise_control`` rows and the gate rows (rawdiff.diffraw.evaluate.gate_rows on the main-s net);
    ``kw`` go to evaluate_per_image (e.g. ``keep_outputs``, ``suite_metrics``).  Returns what it returns."""
    methods, ctl = dtdm_methods(cfg, sizes, step_counts=step_counts, s_values=s_values, extras=extras)
    res = evaluate_per_image(methods, test, c_test=c_test, nets={"dtdm": dtdm_nets, "ddpm": ddpm_net}, cfg=cfg,
                             seeds=seeds, device=device, noise_control=ctl, **kw)
    rows = res[0] if isinstance(res, tuple) else res
    rows += gate_rows(dtdm_nets[cfg.s], test, cfg, seeds=seeds, device=device)
    return res


def claim_rows(rows: Sequence[dict]) -> list[dict]:
    """Rows as a claim rule reads them from a CSV: every value text, None empty, every row with every column."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    return [{k: "" if r.get(k) is None else str(r.get(k)) for k in cols} for r in rows]


def rule_effects(table: str, budget: int, rows: Sequence[dict], images: int) -> list[dict]:
    """Budget-effect rows of every claim whose table is ``table`` (its rule applied to ``rows``); a rule that
    cannot be computed gives one row with an empty effect and the reason."""
    out = []
    for claim in (c for c in CLAIMS if c.table == table):
        try:
            outcome = claim.rule(claim_rows(rows))
            out += [{**r, "verdict": outcome[0], "images": images, "note": ""}
                    for r in budget_effect_rows(claim.key, budget, outcome)]
        except Unmeasurable as why:
            out.append(_cannot(claim.key, budget, images, str(why)))
    return out


def _cannot(claim: str, budget: int, images: int, why: str) -> dict:
    return {"claim": claim, "comparison": f"({CANNOT})", "budget": int(budget), "diff": "", "lo": "", "hi": "",
            "verdict": CANNOT, "images": images, "note": why}


def budget_pairs(steps: int, isp_steps: int) -> list[tuple[int, int]]:
    """(DiffRAW UNet step, ISPNet step) of the smaller budget checkpoints: the same fraction of each run."""
    return list(zip(budget_steps(steps)[:-1], budget_steps(isp_steps)[:-1]))


def _load(loader: Callable, trained, preset, device, step: int):
    return loader(trained.run_dir, device, preset=preset, step=step)


def dtdm_budget_effects(main_rows: Sequence[dict], test, *, isp, dtdm, ddpm, cfg: DTDMConfig, preset,
                        sizes: ClaimSizes, seeds: Sequence[int] = (0, 1, 2), device="auto") -> list[dict]:
    """``04_budget_effects.csv``'s rows: the DTDM claims' effects at the 1/4 and 1/2 checkpoints of the main-s
    DTDM run, the DDPM (gamma = 0) run and ISPNet (``Trained`` each), evaluated on the first
    ``sizes.budget_images`` test images, and at the full budget from ``main_rows`` on the same images."""
    sub = test.subset(sizes.budget_images)
    names = set(sub.names)
    out = []
    for step, isp_step in budget_pairs(dtdm.step, isp.step):
        try:
            nets = [_load(load_diffraw_unet, t, preset, device, step) for t in (dtdm, ddpm)]
            c_k = ispnet_condition(_load(load_ispnet, isp, preset, device, isp_step))
        except RawdiffError as why:
            out += [_cannot(c.key, step, len(sub), f"no checkpoint: {why}") for c in CLAIMS if c.table == DTDM_TABLE]
            continue
        rows = dtdm_table(sub, c_k, {cfg.s: nets[0]}, nets[1], cfg, sizes, seeds=seeds, extras=False, device=device)
        out += rule_effects(DTDM_TABLE, step, rows, len(sub))
    out += rule_effects(DTDM_TABLE, dtdm.step, [r for r in main_rows if r["image"] in names], len(sub))
    return out


def condition_budget_effects(nets: dict, isp, test, cfg: DTDMConfig, preset, sizes: ClaimSizes, *,
                             steps: int = 5, seeds: Sequence[int] = (0, 1, 2), seed: int = 0,
                             styles: Sequence[str] = ("own", "warm", "cool", "sepia"), device="auto") -> list[dict]:
    """``03_budget_effects.csv``'s rows: the condition-ablation and plug-and-play claims' effects at every budget
    checkpoint (1/4, 1/2, full) of the three condition runs (``nets`` = {condition: Trained}) and ISPNet, on the
    first ``sizes.budget_images`` test images (plug-and-play on the ``raw+c`` net)."""
    sub = test.subset(sizes.budget_images)
    out = []
    full = (max(t.step for t in nets.values()), isp.step)
    for step, isp_step in budget_pairs(full[0], full[1]) + [full]:
        try:
            un = {c: t.model if step == t.step else _load(load_diffraw_unet, t, preset, device, step)
                  for c, t in nets.items()}
            c_k = ispnet_condition(isp.model if isp_step == isp.step else _load(load_ispnet, isp, preset, device,
                                                                                  isp_step))
        except RawdiffError as why:
            out += [_cannot(c.key, step, len(sub), f"no checkpoint: {why}") for c in CLAIMS
                    if c.table in ("03_condition_ablation.csv", "03_plug_and_play.csv")]
            continue
        abl, _ = condition_ablation(un, sub, c_k, cfg, None, steps=steps, seeds=seeds, seed=seed, keep=1)
        pnp, _ = plug_and_play_rows(un["raw+c"], sub, c_k, cfg, None, styles=styles, steps=steps, seeds=seeds,
                                    seed=seed, keep=1)
        out += rule_effects("03_condition_ablation.csv", step, abl, len(sub))
        out += rule_effects("03_plug_and_play.csv", step, pnp, len(sub))
    return out
