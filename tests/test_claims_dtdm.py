"""The DTDM (DiffRAW) claim rules of rawdiff.claims: paired intervals, non-inferiority, gates, inconclusive."""
import csv

import numpy as np
import pytest

from rawdiff.claims.common import FAILS, HOLDS, Unmeasurable
from rawdiff.claims.diffraw import (DTDM_TABLE, dtdm_comparisons, rule_colour, rule_dtdm, rule_dtdm_equal_nfe, rule_plug, rule_raw_structure)
from rawdiff.claims.scorecard import evaluate_claims

COLS = ["method", "steps", "s", "nfe", "image", "aligned_psnr", "cc_psnr", "spectrum_distance", "sharpness_ratio"]


def dtdm_rows(delta=0.0, noise=0.05, n=32, seed=0, sharp=0.95, gate_delta=2.0):
    """Per-image rows: DTDM's per-image scores = the from-noise ones + ``delta`` dB (and -delta/20 decades of
    spectrum distance) + ``noise`` x (+1, -1, +1, ...) per image (a paired difference whose mean is exactly
    ``delta`` and whose spread is ``noise``)."""
    rng = np.random.default_rng(seed)
    base = 25 + 3 * rng.standard_normal(n)          # image difficulty, shared by all methods (paired design)
    spec = 0.3 + 0.1 * rng.random(n)
    rows = []

    def add(method, steps, s, nfe, dpsnr, dspec, sh=0.9):
        e = noise * (-1.0) ** np.arange(n) if method.startswith("dtdm") else np.zeros(n)
        for i in range(n):
            rows.append({"method": method, "steps": steps, "s": s, "nfe": nfe, "image": i,
                         "aligned_psnr": base[i] - 3 + dpsnr + e[i], "cc_psnr": base[i] + dpsnr + e[i],
                         "spectrum_distance": spec[i] - dspec - e[i] / 20, "sharpness_ratio": sh})
    for k in (1, 2, 5, 10):
        add("dtdm", k, 200, k, delta, delta / 20, sharp)
        add("ddim", k, "", k, 0.0, 0.0)
    add("ddim", 250, "", 250, 0.0, 0.0)
    add("ddpm", 1000, "", 1000, 0.0, 0.0)
    add("d2", "", "", 0, -gate_delta, -gate_delta / 20)
    add("dtdm_d2", 1, 200, 1, 0.0, 0.0)
    return [{k: str(v) for k, v in r.items()} for r in rows]


def verdicts(rows):
    return rule_dtdm(rows)[0], rule_dtdm_equal_nfe(rows)[0]


def test_dtdm_clearly_wins():
    assert verdicts(dtdm_rows(delta=1.0)) == (HOLDS, HOLDS)


def test_dtdm_clearly_loses():
    assert verdicts(dtdm_rows(delta=-1.0)) == (FAILS, FAILS)


def test_dtdm_within_noise_is_inconclusive():
    a, b = verdicts(dtdm_rows(delta=0.0, noise=2.0, n=16))
    assert a == b == "inconclusive (n=16)"


def test_reference_is_the_many_step_row_and_nfe_ratio_is_enforced():
    comps = dtdm_comparisons(dtdm_rows(delta=1.0))
    a = [c for c in comps if c["part"] == "a"]
    assert {c["b"] for c in a} == {"ddpm K=1000"} and {c["a"] for c in a} == {"dtdm s=200 K=10"}
    assert {c["metric"] for c in a} == {"cc_psnr", "spectrum_distance"}
    assert all(c["kind"] == "noninferior" and c["n"] == 32 for c in a)
    # without DDPM-1000, DDIM-250 is the reference; K=10 still has 25x fewer NFE
    rows = [r for r in dtdm_rows(delta=1.0) if r["method"] != "ddpm"]
    assert {c["b"] for c in dtdm_comparisons(rows) if c["part"] == "a"} == {"ddim K=250"}
    # a cheap reference (DDIM-50 only): only K <= 2 has >= 20x fewer NFE
    rows = [r for r in dtdm_rows(delta=1.0) if r["method"] not in ("ddpm",) and r["steps"] != "250"]
    rows += [{**r, "method": "ddim", "steps": "50", "nfe": "50", "s": ""} for r in rows if r["method"] == "ddpm"]
    rows += [{**r, "steps": "50", "nfe": "50"} for r in dtdm_rows(delta=0.0) if r["method"] == "ddim" and r["steps"] == "10"]
    assert {c["a"] for c in dtdm_comparisons(rows) if c["part"] == "a"} == {"dtdm s=200 K=2"}


def test_gates_block_a_verdict():
    with pytest.raises(Unmeasurable, match="leftover noise"):
        rule_dtdm(dtdm_rows(delta=1.0, sharp=1.2))
    with pytest.raises(Unmeasurable, match="does not beat D"):
        rule_dtdm(dtdm_rows(delta=1.0, gate_delta=-2.0))
    rows = [r for r in dtdm_rows(delta=1.0) if r["method"] not in ("d2", "dtdm_d2")]
    with pytest.raises(Unmeasurable, match="gate rows missing"):
        rule_dtdm(rows)


def test_scorecard_reads_the_per_image_table(tmp_path):
    rows = dtdm_rows(delta=-1.0)
    with open(tmp_path / DTDM_TABLE, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLS)
        w.writeheader()
        w.writerows(rows)
    res = {r.claim.key: r for r in evaluate_claims(tmp_path)}
    assert res["dtdm_steps"].verdict == FAILS and "n=32" in res["dtdm_steps"].evidence
    assert res["dtdm_equal_nfe"].verdict == FAILS and "[" in res["dtdm_equal_nfe"].evidence


def test_notebook03_rows_with_paired_verdicts_use_them():
    abl = [{"condition": "none", "psnr": "20", "ssim": "0.70", "color_error": "6"},
           {"condition": "raw", "psnr": "21", "ssim": "0.72", "color_error": "5", "compared_with": "none", "n": "16",
            "diff": "0.02", "lo": "-0.01", "hi": "0.05", "verdict": "inconclusive (n=16)"},
           {"condition": "raw+c", "psnr": "22", "ssim": "0.73", "color_error": "3", "compared_with": "raw", "n": "16",
            "diff": "2", "lo": "1.5", "hi": "2.5", "verdict": "holds"}]
    assert rule_raw_structure(abl)[0] == "inconclusive (n=16)"      # means alone would say "holds"
    v, ev = rule_colour(abl)
    assert v == HOLDS and "[+1.500, +2.500] (n=16)" in ev
    assert rule_raw_structure([{k: v for k, v in r.items() if k != "verdict"} for r in abl])[0] is True
    pnp = [{"c_source": "swapped", "style": s, "color_dist_to_c": "3", "color_dist_to_source": "8", "n": "16",
            "diff": "5", "lo": lo, "hi": "6", "verdict": v} for s, lo, v in (("warm", "4", "holds"),
                                                                             ("sepia", "-1", "inconclusive (n=16)"))]
    assert rule_plug(pnp)[0] == "inconclusive (n=16)"
    assert rule_plug(pnp[:1])[0] == HOLDS


def test_leftover_noise_gate_uses_the_geometric_mean_of_the_ratio():
    """A few near-flat targets give huge per-image ratios; the gate must not read them as leftover noise."""
    rows = dtdm_rows(delta=-1.0)
    for r in rows:                      # 28 images at 0.6, 4 at 20: arithmetic mean 3.0, geometric mean ~0.94
        if r["method"] == "dtdm":
            r["sharpness_ratio"] = "20" if int(r["image"]) < 4 else "0.6"
    ratios = [float(r["sharpness_ratio"]) for r in rows if r["method"] == "dtdm"]
    assert sum(ratios) / len(ratios) > 1.05
    assert verdicts(rows) == (FAILS, FAILS)
    for r in rows:                      # every image 10 % too sharp: noise, whatever the average
        if r["method"] == "dtdm":
            r["sharpness_ratio"] = "1.1"
    with pytest.raises(Unmeasurable, match="geometric-mean sharpness ratio"):
        rule_dtdm(rows)
