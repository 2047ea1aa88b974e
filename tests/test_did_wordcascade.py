"""Issue 24 on the evaluation side: word crops through the training cascade with overlapping tiles
(rawdiff.did.wordcascade, cascade_sample's skip_padding), the OCR claim tables (rawdiff.did.evaluate.ocr_claim_tables)
and the DiD budget curves (rawdiff.did.budget)."""
from __future__ import annotations

import csv
import dataclasses
from types import SimpleNamespace

import matplotlib
import pytest
import torch

from rawdiff.claims.budget import budget_column, budget_figure
from rawdiff.config import DiDConfig, DiDSampler, EDMConfig, UNetConfig
from rawdiff.did.budget import BUDGET_COLUMNS, budget_checkpoints, claim_budget_rows, save_budget_curves
from rawdiff.did.enhance import DiDModel
from rawdiff.did.evaluate import ocr_claim_tables
from rawdiff.did.wordcascade import first_per_level, word_cascade, word_cascade_line
from rawdiff.diffusion.cascade import cascade_sample
from rawdiff.diffusion.edm import karras_sigmas
from rawdiff.errors import DataError
from rawdiff.norm import LinearNorm

matplotlib.use("Agg")


def _cascade(denoiser, x, **kw):
    return cascade_sample(denoiser, x, scales=(32, 64, 128), dark_norm=LinearNorm(), bright_norm=LinearNorm(),
                          sigmas=karras_sigmas(3, 0.002, 80.0, 7.0), overlap=8, ilvr_steps=1, generator=5, **kw)


def _noise_only(x, sigma, cond):          # ignores the condition: the output is each tile's own noise stream
    return x / (1.0 + sigma.reshape(-1, 1, 1, 1) ** 2)


def test_skip_padding_samples_only_the_tiles_the_crop_needs_and_keeps_their_noise():
    x = torch.rand(2, 3, 64, 192) * 0.2
    full, skip = _cascade(_noise_only, x), _cascade(_noise_only, x, skip_padding=True)
    assert full.padded == skip.padded == (128, 256)
    assert full.tiles_per_scale == [3, 15, 55]
    assert skip.tiles_per_scale == [3, 8, 24]          # rows < 32 / 64 and columns < 96 / 192 of the padded levels
    assert skip.tile_nfe == 35 * 5 and full.tile_nfe == 73 * 5   # 32x32 evaluations per image (3 steps: 5 each)
    # every kept tile draws the noise of its place in the full grid: away from the last kept row / column of tiles
    # (whose ILVR reference and blending partners reach into the skipped padding) the two agree bit for bit
    assert torch.equal(skip.image[..., :48, :168], full.image[..., :48, :168])
    assert not torch.equal(skip.image, full.image)
    assert skip.image.shape == x.shape


def test_skip_padding_with_a_condition_reading_denoiser_fills_the_padding_from_the_level_below():
    def reads_cond(x, sigma, cond):
        return 0.5 * x / (1.0 + sigma.reshape(-1, 1, 1, 1) ** 2) + 0.5 * cond[:, 3:6]

    x = torch.rand(1, 3, 64, 192) * 0.2
    skip = _cascade(reads_cond, x, skip_padding=True)
    assert torch.isfinite(skip.image).all() and skip.image.shape == x.shape
    assert torch.isfinite(skip.model_space[-1]).all()            # padding rows hold the up-sampled level below
    assert skip.model_space[-1].shape[-2:] == (128, 256)


def _model(scales=(32, 64, 128)):
    net = torch.nn.Conv2d(12, 3, 1)
    return DiDModel(net, LinearNorm(), LinearNorm(), UNetConfig(in_channels=12, out_channels=3),
                    DiDConfig(scales=scales, crop=scales[-1]), EDMConfig(), sampler=DiDSampler())


def test_word_cascade_uses_the_training_scales_and_overlapping_tiles():
    m = word_cascade(_model())
    assert m.did.scales == (32, 64, 128) and m.sampler.tile_overlap == 8
    assert "content scale vs training per level [1.0, 1.0, 1.0]" in word_cascade_line(m, (64, 192))
    half = word_cascade(_model(), scales=(32, 64), overlap=0)     # the old cascade: half the training scale
    assert half.sampler.tile_overlap == 0
    assert "[0.5, 0.5]" in word_cascade_line(half, (64, 192))
    with pytest.raises(DataError):
        word_cascade(_model(), overlap=32)


def test_first_per_level_keeps_the_same_words_at_every_level():
    samples = [SimpleNamespace(level=lv, label=f"w{i}") for lv in ("a", "b") for i in range(4)]
    sub = first_per_level(samples, 2)
    assert [(s.level, s.label) for s in sub] == [("a", "w0"), ("a", "w1"), ("b", "w0"), ("b", "w1")]
    assert first_per_level(samples, None) == samples


def _ocr_rows():
    rows = []
    for lv, acc in (("low", {"did": 0, "gamma": 0, "dark input": 0}),          # a floor level
                    ("mid", {"did": 1, "gamma": 0, "dark input": 0})):
        for m, c in acc.items():
            for i in range(20):
                rows.append({"method": m, "protocol": "did", "level": lv, "engine": "rapidocr", "item": i,
                             "correct": float(c if lv == "low" or m != "did" else i % 10 != 0)})
    return rows


def test_ocr_claim_tables_show_floor_levels_and_one_verdict_per_arm(tmp_path):
    levels, arms = ocr_claim_tables(_ocr_rows(), tmp_path, scale="smoke")
    kinds = {lv["level"]: lv["kind"] for lv in levels}
    assert kinds == {"low": "floor", "mid": "kept"}
    assert len(arms) == 1 and arms[0]["excluded_levels"] == "low floor" and arms[0]["verdict"] == "holds"
    assert arms[0]["n"] == 20                                          # the floor level is left out of the arm
    assert (tmp_path / "06_ocr_levels.csv").is_file() and (tmp_path / "06_ocr_arms.csv").is_file()


def _ilvr_rows(gain):
    rows = []
    for k, off in ((0, 0.0), (6, gain), (18, -0.2)):
        rows += [{"ilvr_steps": k, "image": f"i{i}", "psnr": 20.0 + off + 0.01 * i} for i in range(8)]
    return rows


def test_budget_rows_follow_the_claims_rule_and_feed_the_scorecard_column(tmp_path):
    rows = []
    for step, gain in ((5, 0.1), (10, 0.5), (20, 1.0)):
        rows += claim_budget_rows("ilvr_first_steps", step, _ilvr_rows(gain))
    assert {r["comparison"] for r in rows} == {"k=6 - k=0 psnr", "k=6 - k=18 psnr"}
    assert [round(r["diff"], 6) for r in rows if r["comparison"] == "k=6 - k=0 psnr"] == [0.1, 0.5, 1.0]
    assert claim_budget_rows("ilvr_first_steps", 5, [r for r in _ilvr_rows(0.1) if r["ilvr_steps"] != 6]) == []
    with pytest.raises(KeyError):
        claim_budget_rows("no_such_claim", 5, [])
    saved = save_budget_curves(rows, tmp_path, "05", "test")
    assert [int(r["budget"]) for r in saved[:3]] == [5, 10, 20]
    with open(tmp_path / "05_budget_effects.csv") as f:
        assert tuple(next(csv.reader(f))) == BUDGET_COLUMNS
    assert (tmp_path / "05_budget_curves.png").is_file()
    col = budget_column(tmp_path, "ilvr_first_steps")
    assert "k=6 - k=0 psnr: growing with training" in col
    assert budget_figure([]) is not None


def test_budget_checkpoints_lists_the_ones_a_run_holds(tmp_path):
    for step in (5, 20):
        d = tmp_path / f"ckpt-{step:08d}"
        d.mkdir()
        (d / "state.json").write_text("{}")
    have, missing = budget_checkpoints(SimpleNamespace(step=20, run_dir=tmp_path))
    assert have == [5] and missing == [10]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:DiD loss runs without")
def test_budget_effects_evaluate_the_checkpoints_of_tiny_runs(tmp_path):
    """did_budget_effects / ocr_budget_effects end to end: 8-step DiD (tail, linear) and regression runs keep budget
    checkpoints at 2 and 4 steps; each is loaded and judged by the claims' rules (3 Heun steps, 2 images, 2 words)."""
    from rawdiff.data.datasets import ensure_datasets
    from rawdiff.did import textbench as TB
    from rawdiff.did.budget import did_budget_effects, ocr_budget_effects
    from rawdiff.did.evaluate import eval_crops
    from rawdiff.did.regress import REGRESS
    from rawdiff.did.train import DID
    from rawdiff.metrics.image import MetricSuite
    from rawdiff.presets import get_preset
    from rawdiff.runs.lifecycle import get_or_train
    from rawdiff.utils import make_generator

    p = get_preset("smoke")
    p = dataclasses.replace(p, did_sampler=dataclasses.replace(p.did_sampler, num_steps=3, ilvr_steps=1),
                            data=dataclasses.replace(p.data, lowlight_n_train=8, lowlight_n_test=2))
    _, root = ensure_datasets(p.data, cache_dir=tmp_path / "c", only="lowlight", progress=False)
    kw = dict(cache_dir=tmp_path / "c", device="cpu", steps=8, progress=False)
    tail, lin = (get_or_train(DID, p, root, normalization=n, **kw) for n in ("tail", "linear"))
    reg = get_or_train(REGRESS, p, root, **kw)
    dark, bright, names = eval_crops(root, 2, 64, "cpu")
    rows, missing = did_budget_effects(tail, lin, p, dark, bright, names, seed=0, suite=MetricSuite(("psnr",)),
                                       scale="smoke")
    assert missing == [] and sorted({r["budget"] for r in rows}) == [2, 4]
    assert {(r["claim"], r["comparison"]) for r in rows} == {
        ("ilvr_first_steps", "k=1 - k=0 psnr"), ("ilvr_first_steps", "k=1 - k=3 psnr"),
        ("tail_norm", "tail - linear psnr")}
    words = TB.make_benchmark(2, make_generator(0), "did", [(0.5, 0.1)], photos=False)
    first, d0 = words[0].label, words[0].dark[None]
    thr = (float(d0.mean()) + float(TB.gamma_brighten(d0).mean())) / 2
    # a fake engine under the primary arm's name: reads the first word right where the crop is brighter than halfway
    # between its dark input and its gamma-brightened version, so gamma reads 1 of 2 words and the dark input none
    engine = SimpleNamespace(name="rapidocr", recognize_batch=lambda crops: [first if float(c.mean()) > thr else ""
                                                                               for c in crops])
    ocr_rows, missing = ocr_budget_effects(tail, reg, p, words, engine, words_per_level=2, scales=None, overlap=8,
                                           seed=0, device="cpu")
    assert missing == [] and {r["claim"] for r in ocr_rows} <= {"did_ocr"}
    assert {r["budget"] for r in ocr_rows} == {2, 4}        # gamma (mean 0.5) reads word 1, the dark input none
