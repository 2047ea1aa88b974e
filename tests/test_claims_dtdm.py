"""The DTDM (DiffRAW) claim rules of rawdiff.claims through the scorecard, and notebook 03's condition rules
(rawdiff.claims.conditions).  The issue-24 rule details (Holm over K, the frontier, the noise gate) are in
tests/test_claim_rules.py; ``dtdm_rows``/``COLS`` are the per-image fixture other tests reuse."""
import csv

import numpy as np
import pytest

from rawdiff.claims.common import CANNOT, FAILS, HOLDS, Unmeasurable
from rawdiff.claims.conditions import rule_colour, rule_plug, rule_raw_structure
from rawdiff.claims.diffraw import DETAIL, DTDM_KS, DTDM_TABLE, FLAT_STD, rule_dtdm, rule_dtdm_equal_nfe
from rawdiff.claims.scorecard import evaluate_claims
from test_claim_rules import dtdm_table, with_comparisons

COLS = ["method", "steps", "s", "nfe", "image", "aligned_psnr", "cc_psnr", "spectrum_distance", "sharpness_ratio",
        DETAIL, FLAT_STD]


def dtdm_rows(delta=0.0, noise=0.05, n=32, seed=0, gate_delta=2.0):
    """Per-image rows where DTDM at every K is ``delta`` dB of cc-PSNR and ``0.05 * sign(delta)`` of detail away
    from DDPM-1000 and from DDIM at every K (per-image spread ``noise``); D²(y) is ``gate_delta`` dB below DTDM
    K=1 on D²(y)."""
    return dtdm_table(cc={k: delta for k in DTDM_KS}, det={k: 0.05 * float(np.sign(delta)) for k in DTDM_KS},
                      spread=noise, n=n, n_ref=n, d2=-gate_delta, seed=seed)


def verdicts(rows):
    return rule_dtdm(rows)[0], rule_dtdm_equal_nfe(rows)[0]


def test_dtdm_clearly_wins():
    assert verdicts(dtdm_rows(delta=1.0)) == (HOLDS, HOLDS)


def test_dtdm_clearly_loses():
    assert verdicts(dtdm_rows(delta=-1.0)) == (FAILS, FAILS)


def test_dtdm_within_noise_is_inconclusive():
    a, b = verdicts(dtdm_rows(delta=0.0, noise=2.0, n=16))
    assert a == "inconclusive (n=16)" and b.startswith("inconclusive"), (a, b)


def test_d2_gate_blocks_a_verdict():
    with pytest.raises(Unmeasurable, match="does not beat D"):
        rule_dtdm(dtdm_rows(delta=1.0, gate_delta=-2.0))
    rows = [r for r in dtdm_rows(delta=1.0) if r["method"] not in ("d2", "dtdm_d2")]
    with pytest.raises(Unmeasurable, match="gate rows missing"):
        rule_dtdm_equal_nfe(rows)


def _write(path, rows, cols):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def test_scorecard_reads_the_per_image_table(tmp_path):
    _write(tmp_path / DTDM_TABLE, dtdm_rows(delta=-1.0), COLS)
    res = {r.claim.key: r for r in evaluate_claims(tmp_path)}
    assert res["dtdm_steps"].verdict == FAILS and "n=32" in res["dtdm_steps"].evidence
    assert res["dtdm_equal_nfe"].verdict == FAILS and "[" in res["dtdm_equal_nfe"].evidence
    assert {c["name"].split()[0] for c in res["dtdm_steps"].comparisons} == {"gate", "gate-noise", "gate-detail", "a"}


def test_scorecard_says_what_cannot_be_computed(tmp_path):
    """The committed study snapshot's table shape: no detail / flat-std columns, no DDPM-1000 rows."""
    old = [c for c in COLS if c not in (DETAIL, FLAT_STD)]
    _write(tmp_path / DTDM_TABLE, [r for r in dtdm_rows(delta=1.0) if r["method"] != "ddpm"], old)
    res = {r.claim.key: r for r in evaluate_claims(tmp_path)}
    for k in ("dtdm_steps", "dtdm_equal_nfe"):
        assert res[k].verdict == CANNOT and f"column {DETAIL}; column {FLAT_STD}" in res[k].evidence
    assert "reference rows (method ddpm, steps 1000)" in res["dtdm_steps"].evidence


def test_notebook03_rows_with_paired_verdicts_use_them():
    abl = [{"condition": "none", "psnr": "20", "ssim": "0.70", "color_error": "6"},
           {"condition": "raw", "psnr": "21", "ssim": "0.72", "color_error": "5", "compared_with": "none", "n": "16",
            "diff": "0.02", "lo": "-0.01", "hi": "0.05", "verdict": "inconclusive (n=16)"},
           {"condition": "raw+c", "psnr": "22", "ssim": "0.73", "color_error": "3", "compared_with": "raw", "n": "16",
            "diff": "2", "lo": "1.5", "hi": "2.5", "verdict": "holds"}]
    assert rule_raw_structure(abl)[0] == "inconclusive (n=16)"      # means alone would say "holds"
    v, ev, comps = with_comparisons(rule_colour, abl)
    assert v == HOLDS and "[+1.500, +2.500] (n=16)" in ev and comps[0]["name"] == "raw+c - raw"
    assert rule_raw_structure([{k: v for k, v in r.items() if k != "verdict"} for r in abl])[0] is True
    ssim = {"luma_ssim_to_own": "0.9", "luma_ssim_to_own_lo": "0.88", "luma_ssim_to_own_hi": "0.92"}
    base = {"c_source": "baseline", "style": "output = c", "color_dist_to_c": "0", "color_dist_to_source": "9",
            "n": "16", "luma_ssim_to_own": "0.5", "luma_ssim_to_own_lo": "0.45", "luma_ssim_to_own_hi": "0.55"}
    pnp = [{"c_source": "swapped", "style": s, "color_dist_to_c": "3", "color_dist_to_source": "8", "n": "16",
            "diff": "5", "lo": lo, "hi": "6", "verdict": v, **ssim} for s, lo, v in (("warm", "4", "holds"),
                                                                                   ("sepia", "-1", "inconclusive (n=16)"))]
    assert rule_plug(pnp + [base])[0] == "inconclusive (n=16)"
    assert rule_plug(pnp[:1] + [base])[0] == HOLDS
