"""Budget curves for the DiD claims (issue 24, "Budget curves"): the same paired effect at the budget checkpoints
every run keeps (rawdiff.train.budget_steps: 1/4, 1/2 and all of its steps), evaluation only.

Each checkpoint's per-image (notebook 05) or per-word (notebook 06) rows go through the claim's own rule
(rawdiff.claims.scorecard.CLAIMS) and rawdiff.claims.budget.budget_effect_rows, so a curve shows exactly the effects
the scorecard judges; rawdiff.claims.budget.budget_trend labels it.  Smaller budgets may be evaluated on fewer
images / words than the full one (the notebooks say how many); the rule is never changed.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from rawdiff.claims.budget import budget_effect_rows, budget_figure
from rawdiff.claims.common import Unmeasurable
from rawdiff.claims.did import ILVR_PAPER, PRIMARY_OCR_ARM
from rawdiff.claims.scorecard import CLAIMS
from rawdiff.did import textbench as TB
from rawdiff.did.enhance import load_did
from rawdiff.did.evaluate import evaluate_settings, ilvr_settings, per_image_rows
from rawdiff.did.regress import enhance_regress, load_regress
from rawdiff.did.wordcascade import enhance_words, first_per_level, word_cascade
from rawdiff.figures import save_figure, save_table
from rawdiff.train import budget_steps, checkpoint_steps

__all__ = ["budget_checkpoints", "claim_budget_rows", "did_budget_effects",
           "ocr_budget_effects", "save_budget_curves", "ocr_budget_curves", "BUDGET_COLUMNS"]

BUDGET_COLUMNS = ("claim", "comparison", "budget", "diff", "lo", "hi")   # rawdiff.claims.budget's table contract


def budget_checkpoints(trained) -> tuple[list[int], list[int]]:
    """``(smaller, missing)``: the budget checkpoints below the full budget that ``trained``'s run folder
    (rawdiff.runs.store.Trained) holds, and those it lacks (runs trained before budget checkpoints existed)."""
    full = int(trained.step)
    have = set(checkpoint_steps(trained.run_dir)) if trained.run_dir is not None else set()
    want = [k for k in budget_steps(full) if k < full]
    return [k for k in want if k in have], [k for k in want if k not in have]


def claim_budget_rows(claim_key: str, budget: int, rows: Sequence[Mapping]) -> list[dict]:
    """The ``*_budget_effects.csv`` rows of ``claim_key`` at ``budget`` steps: its rule applied to ``rows``; a rule
    that cannot be computed on them gives no row (the trend then says "cannot be computed")."""
    claim = next((c for c in CLAIMS if c.key == claim_key), None)
    if claim is None:
        raise KeyError(f"unknown claim {claim_key!r}; known: {[c.key for c in CLAIMS]}")
    try:
        outcome = claim.rule([dict(r) for r in rows])
    except Unmeasurable:
        return []
    return budget_effect_rows(claim_key, budget, outcome)


def did_budget_effects(tail, lin, preset, dark: torch.Tensor, bright: torch.Tensor, names: Sequence[str], *,
                       seed: int, suite, scale: str, ks: Sequence[int] | None = None
                       ) -> tuple[list[dict], list[int]]:
    """Notebook 05 at the smaller budget checkpoints of the tail run ``tail`` (and of the linear run ``lin``, for
    the tail-normalisation claim; None skips it): ILVR ``ks`` (default: what the rule judges, k = 0, the paper's
    k* and every step) on ``dark``/``bright`` (per image, as ``05_ilvr_per_image``) -> the ``ilvr_first_steps`` and
    ``tail_norm`` rows per budget.  Returns ``(rows, missing budgets)``."""
    smaller, missing = budget_checkpoints(tail)
    total = preset.did_sampler.num_steps
    ks = tuple(ks) if ks is not None else (0, round(ILVR_PAPER[0] * total / ILVR_PAPER[1]), total)
    k_main = preset.did_sampler.ilvr_steps
    rows = []
    for step in smaller:
        model = load_did(tail.run_dir, dark.device, preset=preset, step=step)
        _, res = evaluate_settings(model, dark, bright, ilvr_settings(ks), seed=seed, suite=suite)
        items = [r for k in ks for r in per_image_rows(res[f"ILVR k={k}"].image, bright, names, "ilvr_steps", k,
                                                       scale=scale)]
        rows += claim_budget_rows("ilvr_first_steps", step, items)
        if lin is not None and step in checkpoint_steps(lin.run_dir):
            m_lin = load_did(lin.run_dir, dark.device, preset=preset, step=step)
            _, r_lin = evaluate_settings(m_lin, dark, bright, [{"setting": "linear", "ilvr_steps": k_main}],
                                         seed=seed, suite=suite)
            norm = (per_image_rows(res[f"ILVR k={k_main}"].image, bright, names, "normalization", "tail", scale=scale)
                    + per_image_rows(r_lin["linear"].image, bright, names, "normalization", "linear", scale=scale))
            rows += claim_budget_rows("tail_norm", step, norm)
    return rows, missing


def ocr_budget_effects(did_run, reg_run, preset, samples: Sequence, engine, *, words_per_level: int | None,
                       scales: Sequence[int] | None, overlap: int, seed: int, device) -> tuple[list[dict], list[int]]:
    """Notebook 06 at the smaller budget checkpoints: DiD (the word cascade, rawdiff.did.wordcascade) and the
    regression UNet at the same fraction of its own steps (rawdiff.train.budget_steps), the baselines, on the first
    ``words_per_level`` samples of each level of ``samples`` (one protocol: the primary arm's) read by ``engine``
    -> the ``did_ocr`` rows per budget (budget = DiD's steps).  A regression run without that checkpoint leaves
    the regression UNet out of that budget.  Returns ``(rows, missing DiD budgets)``."""
    smaller, missing = budget_checkpoints(did_run)
    reg_smaller, _ = budget_checkpoints(reg_run)
    reg_all = [k for k in budget_steps(int(reg_run.step)) if k < int(reg_run.step)]
    did_all = [k for k in budget_steps(int(did_run.step)) if k < int(did_run.step)]
    sub = first_per_level(samples, words_per_level)
    dark = torch.stack([s.dark for s in sub])
    rows = []
    for step in smaller:
        model = word_cascade(load_did(did_run.run_dir, device, preset=preset, step=step), scales, overlap)
        did_out = list(enhance_words(model, dark, generator=seed).image.float().cpu())
        methods = {**TB.baseline_methods(), "did": did_out}
        r_step = reg_all[did_all.index(step)] if len(reg_all) == len(did_all) else None
        if r_step in reg_smaller:
            reg = load_regress(reg_run.run_dir, device, step=r_step)
            methods["regression unet"] = lambda b, m=reg: enhance_regress(m, b.to(m.device)).cpu()
        _, per_word = TB.evaluate(methods, sub, [engine], return_predictions=True)
        rows += claim_budget_rows("did_ocr", step, per_word)
    return rows, missing


def save_budget_curves(rows: Sequence[Mapping], out_dir, name: str, title: str = "") -> list[dict]:
    """Write ``rows`` as ``<name>_budget_effects.csv`` (:data:`BUDGET_COLUMNS`, the scorecard's "with training"
    input) and their figure as ``<name>_budget_curves.png``; returns the rows sorted by claim, comparison, budget."""
    rows = sorted(rows, key=lambda r: (r["claim"], r["comparison"], int(r["budget"])))
    save_table(rows, out_dir, f"{name}_budget_effects", columns=BUDGET_COLUMNS, title=title or None)
    fig = budget_figure(rows)
    if title:
        fig.suptitle(title, fontsize=8)
        fig.tight_layout()
    save_figure(fig, out_dir, f"{name}_budget_curves")
    return rows


def ocr_budget_curves(did_run, reg_run, preset, benches: Mapping[str, Sequence], per_word: Sequence[Mapping], engines,
                      out_dir, *, words_per_level: int | None, scales, overlap: int, seed: int, device, scale: str
                      ) -> tuple[list[dict], list[int]]:
    """Notebook 06's budget curves: the primary arm (rawdiff.claims.did.PRIMARY_OCR_ARM) at the smaller budgets
    (:func:`ocr_budget_effects` on ``benches[protocol]``) and at the full one (its rows of ``per_word``), saved by
    :func:`save_budget_curves` as ``06_*``.  Nothing (``([], [])``) when the primary arm was not run."""
    prot, eng = PRIMARY_OCR_ARM
    prim = [w for w in per_word if (w["protocol"], w["engine"]) == PRIMARY_OCR_ARM]
    engine = next((e for e in engines if e.name == eng), None)
    if not prim or prot not in benches or engine is None:
        return [], []
    rows, missing = ocr_budget_effects(did_run, reg_run, preset, benches[prot], engine, words_per_level=words_per_level,
                                       scales=scales, overlap=overlap, seed=seed, device=device)
    rows = save_budget_curves(rows + claim_budget_rows("did_ocr", int(did_run.step), prim), out_dir, "06",
                              f"OCR budget curves ({scale}; {words_per_level or 'all'} words per level below the full "
                              f"budget)")
    return rows, missing
