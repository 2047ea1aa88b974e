"""rawdiff.did.textbench (word crops, darkening protocols, user crops, evaluation) and rawdiff.claims."""
from __future__ import annotations

import json

import pytest
import torch

import rawdiff  # noqa: F401
from rawdiff.claims.common import CANNOT, FAILS, HOLDS, NOT_RUN, UNMEASURABLE
from rawdiff.claims.diffraw import DTDM_TABLE
from rawdiff.claims.scorecard import CLAIMS, CONTRACT, evaluate_claims, write_scorecard
from rawdiff.did import textbench as TB
from rawdiff.errors import DataError
from rawdiff.utils import make_generator


# ------------------------------------------------------------------------------------------- crops
def test_word_crops_are_seeded_and_labelled():
    from rawdiff.data.text import load_words

    a = TB.make_benchmark(4, make_generator(0), levels=[(0.5, 0.1)])
    b = TB.make_benchmark(4, make_generator(0), levels=[(0.5, 0.1)])
    c = TB.make_benchmark(4, make_generator(1), levels=[(0.5, 0.1)])
    assert len(a) == 4 and all(s.clean.shape == (3, *TB.CROP_SIZE) for s in a)
    assert all(torch.equal(x.dark, y.dark) and x.label == y.label for x, y in zip(a, b))
    assert any(not torch.equal(x.clean, y.clean) for x, y in zip(a, c))
    words = set(load_words())
    assert all(s.label in words and s.level == "v0.50_n0.10" and s.protocol == "did" for s in a)
    for s in a:
        assert 0 <= s.clean.min() and s.clean.max() <= 1 and s.clean.std() > 0.02


def test_every_background_and_levels_grid():
    g = make_generator(3)
    for kind in TB.BACKGROUNDS:
        crop, word = TB.make_word_crop(g, "camera", background=kind)
        assert word == "camera" and crop.shape == (3, 64, 192)
    samples = TB.make_benchmark(2, make_generator(0))
    assert len(samples) == 2 * len(TB.DID_FACTORS) * len(TB.DID_NOISE)
    assert len({s.level for s in samples}) == 12
    with pytest.raises(ValueError):
        TB.make_word_crop(g, background="plaid")


# --------------------------------------------------------------------------------------- darkening
def test_did_darkening_scales_value_and_keeps_hue():
    g = make_generator(0)
    img, _ = TB.make_word_crop(g, "hue")
    for f in TB.DID_FACTORS:
        d = TB.darken_did(img, f, 0.0, make_generator(1))
        assert d.amax(0).mean().item() == pytest.approx(f * img.amax(0).mean().item(), rel=1e-5)
        assert torch.allclose(d, f * img, atol=1e-6)  # V x f at fixed H, S == RGB x f


def test_did_noise_is_absolute_by_default_and_relative_as_an_option():
    img = torch.full((3, 128, 128), 0.5)
    img[0] = 0.4  # coloured: V = 0.5 (G, B), S > 0
    f = 0.5
    d = TB.darken_did(img, f, 0.05, make_generator(2))                       # literal protocol: std 0.05
    v = d.amax(0)
    assert v.mean().item() == pytest.approx(f * 0.5, abs=2e-3)
    assert v.std().item() == pytest.approx(0.05, rel=0.05)
    dr = TB.darken_did(img, f, 0.4, make_generator(2), relative=True)        # relative: 0.4 x mean(V_dark)
    assert dr.amax(0).std().item() == pytest.approx(0.4 * f * 0.5, rel=0.05)
    # hue/saturation kept: R/G ratio is unchanged where not clipped
    vr = dr.amax(0)
    ok = (vr < 0.99) & (vr > 0.01)
    assert torch.allclose((dr[0] / dr[1])[ok], torch.full_like(dr[0][ok], 0.8), atol=1e-4)
    # same generator state -> same noise; batched input works the same as per image
    assert torch.equal(d, TB.darken_did(img, f, 0.05, make_generator(2)))
    db = TB.darken_did(img[None].repeat(2, 1, 1, 1), f, 0.05, make_generator(2))
    assert db.shape == (2, 3, 128, 128) and torch.equal(db[0], d)
    # the protocols through make_benchmark
    a = TB.make_benchmark(2, make_generator(0), levels=[(0.5, 0.2)], photos=False)
    b = TB.make_benchmark(2, make_generator(0), protocol="did-relative", levels=[(0.5, 0.2)], photos=False)
    assert a[0].protocol == "did" and b[0].protocol == "did-relative" and a[0].level == b[0].level
    assert torch.equal(a[0].clean, b[0].clean) and not torch.equal(a[0].dark, b[0].dark)


def test_word_crops_are_varied_like_scene_text():
    from rawdiff.data.wordcrops import _clutter, _gaussian_blur

    g = make_generator(5)
    crops = [TB.make_word_crop(g, "camera", background=k)[0] for k in TB.BACKGROUNDS]
    photo = crops[-1]
    assert photo.shape == (3, 64, 192) and photo.std() > 0.05
    flat = torch.full((3, 32, 64), 0.5)
    assert (_clutter(flat.clone(), make_generator(1)) - flat).abs().amax() > 0.1
    edge = torch.zeros(3, 16, 16)
    edge[:, :, 8:] = 1
    assert _gaussian_blur(edge, 1.0)[:, :, 7].mean() > 0.05                  # blur spreads the edge
    assert torch.allclose(_gaussian_blur(flat, 1.0), flat, atol=1e-6)


def test_raw_protocol_is_dark_and_right_skewed():
    g = make_generator(0)
    samples = TB.make_benchmark(3, g, protocol="raw", levels=[100, 300])
    assert {s.level for s in samples} == {"x100", "x300"}
    for s in samples:  # default: the training set's ISP gain (5-20) is applied, the crop is still dark
        assert s.dark.shape == s.clean.shape and torch.isfinite(s.dark).all()
        assert s.dark.mean() < 0.5 * s.clean.mean()
    clean = samples[0].clean
    for ratio in (100, 300):  # without gain, the raw short exposure is right-skewed (mass near 0, long tail)
        lum = TB.darken_raw(clean, ratio, make_generator(1), gain=(1, 1)).mean(0).flatten().double()
        skew = (((lum - lum.mean()) / lum.std()) ** 3).mean().item()
        assert skew > 0, skew
    # at a fixed gain, the x300 exposure is darker than the x100 one
    m100 = TB.darken_raw(clean, 100, make_generator(2), gain=(10, 10)).mean()
    m300 = TB.darken_raw(clean, 300, make_generator(2), gain=(10, 10)).mean()
    assert m300 < 0.6 * m100


# -------------------------------------------------------------------------------------- user crops
def _save(path, img):
    from PIL import Image

    from rawdiff.did.ocr import to_uint8_rgb

    Image.fromarray(to_uint8_rgb(img)).save(path)


def test_load_user_crops_filename_labels(tmp_path):
    g = make_generator(0)
    _save(tmp_path / "camera.png", TB.make_word_crop(g, "camera")[0])
    _save(tmp_path / "7_light42.png", TB.make_word_crop(g, "light42")[0])
    (tmp_path / "notes.md").write_text("ignored")
    pairs = TB.read_labelled_folder(tmp_path)
    assert sorted(lab for _, lab in pairs) == ["camera", "light42"]
    s = TB.load_user_crops(tmp_path, make_generator(1), levels=[(0.4, 0.05), (0.6, 0.2)])
    assert len(s) == 4 and {x.level for x in s} == {"v0.40_n0.05", "v0.60_n0.20"}
    assert all(x.dark.mean() < x.clean.mean() for x in s)
    raw = TB.load_user_crops(tmp_path, protocol=None)
    assert all(x.level == "as-is" and torch.equal(x.dark, x.clean) for x in raw)


def test_load_user_crops_labels_files(tmp_path):
    g = make_generator(0)
    _save(tmp_path / "a.png", TB.make_word_crop(g, "alpha")[0])
    _save(tmp_path / "b.png", TB.make_word_crop(g, "beta")[0])
    (tmp_path / "labels.txt").write_text("# file\tlabel\na.png\tAlpha\nb.png\tBeta 2\n")
    assert [lab for _, lab in TB.read_labelled_folder(tmp_path)] == ["Alpha", "Beta 2"]
    (tmp_path / "labels.txt").unlink()
    (tmp_path / "labels.json").write_text(json.dumps({"a.png": "x1", "b.png": "y2"}))
    assert [lab for _, lab in TB.read_labelled_folder(tmp_path)] == ["x1", "y2"]
    (tmp_path / "labels.json").write_text(json.dumps([{"file": "missing.png", "label": "z"}]))
    with pytest.raises(DataError, match="missing.png"):
        TB.read_labelled_folder(tmp_path)
    with pytest.raises(DataError):
        TB.read_labelled_folder(tmp_path / "nope")


# -------------------------------------------------------------------------------------- evaluation
class _ConstEngine:
    """Stub OCR engine: always reads 'camera' (makes evaluate's bookkeeping checkable in closed form)."""

    name = "const"

    def recognize_batch(self, crops):
        return ["CAMERA" for _ in crops]


def test_evaluate_rows_closed_form():
    g = make_generator(0)
    items = [TB.make_word_crop(g, w) for w in ("camera", "camera", "light")]
    samples = TB._darken_all([(c, w, "") for c, w in items], g, "did", TB._resolve_levels("did", [(0.5, 0.1)]))
    calls = []

    def brighten(b):
        calls.append(b.shape[0])
        return (b * 2).clamp(0, 1)

    rows = TB.evaluate({"x2": brighten, **TB.baseline_methods()}, samples, [_ConstEngine()])
    assert {r["method"] for r in rows} == {"x2", "dark input", "gamma", "clahe", "clean (reference)"}
    assert calls == [3]
    for r in rows:
        assert set(r) == {"method", "protocol", "level", "engine", "word_acc", "one_minus_ned", "cer", "n"}
        assert r["n"] == 3 and r["word_acc"] == pytest.approx(2 / 3) and r["engine"] == "const"
        assert r["cer"] == pytest.approx(6 / (6 + 6 + 5))  # "camera" vs "light": no shared letter, 6 edits
    with pytest.raises(ValueError, match="returned shape"):
        TB.evaluate({"bad": lambda b: b[:, :, :8]}, samples, [_ConstEngine()])


def test_evaluate_precomputed_outputs_and_per_word_rows():
    g = make_generator(0)
    items = [TB.make_word_crop(g, w) for w in ("camera", "light")]
    samples = TB._darken_all([(c, w, "") for c, w in items], g, "did", TB._resolve_levels("did", [(0.5, 0.1), (0.4, 0.2)]))
    pre = [(s.dark * 2).clamp(0, 1) for s in samples]
    rows_f, words_f = TB.evaluate({"x2": lambda b: (b * 2).clamp(0, 1)}, samples, [_ConstEngine()],
                                  include_clean=False, return_predictions=True)
    rows_p, words_p = TB.evaluate({"x2": pre}, samples, [_ConstEngine()], include_clean=False,
                                  return_predictions=True)
    assert rows_f == rows_p and words_f == words_p
    assert set(words_p[0]) >= set(CONTRACT["06_ocr_per_word.csv"])
    assert sorted(w["item"] for w in words_p) == [0, 1, 2, 3]
    assert [w["correct"] for w in words_p if w["label"] == "camera"] == [1, 1]
    assert [w["correct"] for w in words_p if w["label"] == "light"] == [0, 0]
    with pytest.raises(ValueError, match="precomputed"):
        TB.evaluate({"x2": pre[:3]}, samples, [_ConstEngine()])
    sub = TB.evaluate({"x2": pre}, samples, [_ConstEngine()], include_clean=False, engine_subsample={"const": 1})
    assert [r["n"] for r in sub] == [1, 1]


def test_baselines_brighten():
    d = TB.darken_did(TB.make_word_crop(make_generator(0))[0], 0.4, 0.05, make_generator(1))[None]
    for name, fn in TB.baseline_methods().items():
        out = fn(d)
        assert out.shape == d.shape and 0 <= out.min() and out.max() <= 1
        if name != "dark input":
            assert out.mean() > d.mean(), name


def test_rapidocr_reads_clean_better_than_very_dark():
    from rawdiff.did.ocr import engine_availability, get_engine

    reason = engine_availability("rapidocr")
    if reason:
        pytest.skip(reason)
    g = make_generator(0)
    samples = TB.make_benchmark(6, g, levels=[(0.4, 0.4)])
    rows = TB.evaluate({"dark input": lambda b: b * 0.1}, samples, [get_engine("rapidocr")])
    acc = {r["method"]: r["word_acc"] for r in rows}
    assert acc["clean (reference)"] >= 0.8
    assert acc["clean (reference)"] > acc["dark input"]


# ------------------------------------------------------------------------------------------ claims
def _write(path, header, rows):
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")


def _dtdm_table(d, delta):
    from test_claims_dtdm import COLS, dtdm_rows  # the DTDM rules' own fixture (per-image rows)

    _write(d / DTDM_TABLE, COLS + ["scale"], [[r[c] for c in COLS] + ["smoke"] for r in dtdm_rows(delta)])


def _holding_tables(d):
    _dtdm_table(d, 1.0)
    _write(d / "03_condition_ablation.csv", ["condition", "psnr", "ssim", "color_error"],
           [["none", 15, 0.4, 9.0], ["raw", 20, 0.7, 6.0], ["raw+c", 22, 0.72, 3.0]])
    _write(d / "03_plug_and_play.csv", ["c_source", "color_dist_to_c", "color_dist_to_source", "n", "luma_ssim_to_own",
                                        "luma_ssim_to_own_lo", "luma_ssim_to_own_hi"],
           [["own", 2.0, 2.0, 16, 1, 1, 1], ["swapped", 3.0, 8.0, 16, 0.9, 0.88, 0.92],
            ["swapped", 4.0, 7.0, 16, 0.9, 0.87, 0.93], ["baseline", 0.0, 9.0, 16, 0.5, 0.45, 0.55]])
    from test_claims_did import did_tables

    did_tables(d)
    (d / "04_dtdm_per_image.png").write_bytes(b"png")


def test_scorecard_all_hold(tmp_path):
    _holding_tables(tmp_path)
    res = {r.claim.key: r for r in evaluate_claims(tmp_path)}
    assert len(res) == len(CLAIMS)
    assert all(r.verdict == HOLDS for r in res.values()), {k: (r.verdict, r.evidence) for k, r in res.items()}
    assert "n=32" in res["dtdm_steps"].evidence and "(scale: smoke)" in res["dtdm_steps"].evidence
    assert res["dtdm_steps"].files == ("04_dtdm_per_image.csv", "04_dtdm_per_image.png")
    path = write_scorecard(tmp_path)
    text = path.read_text()
    assert path.name == "claims.md" and text.count("**holds**") == len(CLAIMS)
    assert "no paper numbers are quoted" in text
    assert write_scorecard(tmp_path).read_text() == text  # deterministic


def test_scorecard_failing_missing_and_unmeasurable(tmp_path):
    _holding_tables(tmp_path)
    _dtdm_table(tmp_path, -1.0)                                                    # worse quality
    from test_claims_did import did_tables

    did_tables(tmp_path, tail_gain=-1.0, ilvr_ks=(0, 18), did_gain=-0.3)   # linear wins, no middle k, DiD worse
    _write(tmp_path / "03_condition_ablation.csv", ["condition", "psnr", "ssim"], [["none", 1, 0.1]])
    (tmp_path / "03_plug_and_play.csv").unlink()
    res = {r.claim.key: r for r in evaluate_claims(tmp_path)}
    assert res["dtdm_steps"].verdict == FAILS
    assert res["tail_norm"].verdict == FAILS and "PSNR tail - linear: -0.9" in res["tail_norm"].evidence
    assert res["ilvr_first_steps"].verdict == CANNOT
    assert res["did_ocr"].verdict == FAILS
    assert res["raw_structure"].verdict == UNMEASURABLE and "color_error" in res["raw_structure"].evidence
    assert res["plug_and_play"].verdict == NOT_RUN and res["plug_and_play"].files == ()
    text = write_scorecard(tmp_path).read_text()
    assert "**not run**" in text and "**does not hold**" in text


def test_scorecard_empty_folder(tmp_path):
    text = write_scorecard(tmp_path).read_text()
    assert text.count("**not run**") == len(CLAIMS)


def test_level_means_and_unavailable_rows():
    rows = [{"method": "a", "protocol": "did", "engine": "e", "word_acc": 1.0, "one_minus_ned": 1.0, "cer": 0.0, "n": 3},
            {"method": "a", "protocol": "did", "engine": "e", "word_acc": 0.0, "one_minus_ned": 0.5, "cer": 1.0, "n": 1},
            {"method": "all methods", "protocol": "did", "engine": "x", "word_acc": "unavailable: no", "n": 0}]
    m = TB.level_means(rows)
    assert len(m) == 1 and m[0]["word_acc"] == 0.75 and m[0]["n"] == 4 and m[0]["levels"] == 2
    u = TB.unavailable_rows({("did", "x"): "unavailable: no", ("did", "e"): ""})
    assert len(u) == 1 and u[0]["word_acc"] == "unavailable: no" and u[0]["engine"] == "x"
