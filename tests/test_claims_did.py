"""DiD claim rules (rawdiff.claims): paired per-image / per-word intervals and holds / does not hold /
inconclusive (n=...) on constructed tables."""
from __future__ import annotations

import numpy as np

from rawdiff.claims.common import CANNOT, FAILS, HOLDS
from rawdiff.claims.did import did_ocr_comparisons
from rawdiff.claims.scorecard import CONTRACT, evaluate_claims


def _write(path, header, rows):
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")


def did_tables(d, *, tail_gain=1.5, ilvr_ks=(0, 6, 18), ilvr_gain=2.0, did_gain=0.3, n_img=20, n_words=60,
               noise=0.3, seed=0):
    """Per-image / per-word DiD tables whose effects are ``tail_gain`` dB (tail - linear), ``ilvr_gain`` dB
    (k = 6 over the ends) and ``did_gain`` (word accuracy of DiD over gamma), with per-item noise."""
    rng = np.random.default_rng(seed)
    base = 22 + rng.normal(0, 2, n_img)
    rows = []
    for i, b in enumerate(base):
        rows.append(["tail", f"im{i}", b + tail_gain + rng.normal(0, noise), 0.8])
        rows.append(["linear", f"im{i}", b, 0.75])
    _write(d / "05_norm_per_image.csv", ["normalization", "image", "psnr", "ssim"], rows)
    rows = []
    for i, b in enumerate(base):
        for k in ilvr_ks:
            rows.append([k, f"im{i}", b + (ilvr_gain if 0 < k < max(ilvr_ks) else 0) + rng.normal(0, noise), 0.7])
    _write(d / "05_ilvr_per_image.csv", ["ilvr_steps", "image", "psnr", "ssim"], rows)
    rows = []
    p_gamma = 0.5
    for lvl in ("v0.40_n0.10", "v0.60_n0.20"):
        for j in range(n_words):
            g = rng.random() < p_gamma
            dd = rng.random() < p_gamma + did_gain
            for m, c in (("did", dd), ("gamma", g), ("clean (reference)", 1)):
                rows.append([m, "did", lvl, "rapidocr", f"w{j}", int(c)])
    _write(d / "06_ocr_per_word.csv", CONTRACT["06_ocr_per_word.csv"], rows)


def _res(d):
    return {r.claim.key: r for r in evaluate_claims(d)}


def test_did_rules_hold_with_clear_paired_effects(tmp_path):
    did_tables(tmp_path)
    r = _res(tmp_path)
    for k in ("tail_norm", "ilvr_first_steps", "did_ocr"):
        assert r[k].verdict == HOLDS, (k, r[k].evidence)
    assert "PSNR tail - linear: +1.5" in r["tail_norm"].evidence and "(n=20)" in r["tail_norm"].evidence
    assert "k = 6 (the paper's 6 of 18)" in r["ilvr_first_steps"].evidence
    assert "rapidocr" in r["did_ocr"].evidence and "n=120" in r["did_ocr"].evidence


def test_did_rules_do_not_hold_when_the_other_side_wins(tmp_path):
    did_tables(tmp_path, tail_gain=-1.0, ilvr_gain=-2.0, did_gain=-0.3)
    r = _res(tmp_path)
    for k in ("tail_norm", "ilvr_first_steps", "did_ocr"):
        assert r[k].verdict == FAILS, (k, r[k].evidence)


def test_did_rules_inconclusive_when_the_interval_straddles_zero(tmp_path):
    did_tables(tmp_path, tail_gain=0.0, ilvr_gain=0.0, did_gain=0.0, n_img=6, n_words=5, noise=2.0, seed=3)
    r = _res(tmp_path)
    for k in ("tail_norm", "ilvr_first_steps", "did_ocr"):
        assert r[k].verdict.startswith("inconclusive (n="), (k, r[k].verdict, r[k].evidence)
    assert r["tail_norm"].verdict == "inconclusive (n=6)"


def test_ilvr_rule_needs_both_ends_and_a_middle(tmp_path):
    did_tables(tmp_path, ilvr_ks=(0, 18))
    assert _res(tmp_path)["ilvr_first_steps"].verdict == CANNOT
    did_tables(tmp_path, ilvr_ks=(0, 3, 9, 18))           # no 6: the judged k comes from the paper, not the data
    r = _res(tmp_path)["ilvr_first_steps"]
    assert r.verdict == CANNOT and "no rows with ilvr_steps = 6" in r.evidence


def test_ocr_comparisons_pair_words_across_methods(tmp_path):
    rows = [{"method": m, "protocol": "did", "level": "l", "engine": "e", "item": f"w{i}", "correct": c}
            for i in range(4) for m, c in (("did", 1), ("gamma", int(i < 2)), ("clean (reference)", 1))]
    comps = did_ocr_comparisons(rows)
    assert [c["method"] for c in comps] == ["gamma"]
    assert comps[0]["n"] == 4 and comps[0]["diff"] == 0.5 and comps[0]["mean_a"] == 1.0
