"""Issue 24's claim rules on fixtures where each verdict flips for the right reason: DTDM (a) with Holm over
the four K (the K is chosen by the rule, not the data), DTDM (b) on the perception–distortion frontier, the
leftover-noise gate (blur passes, grain fails, also on the study's pattern), plug-and-play with the "output = c"
baseline, ILVR as the paper reads, OCR arms with the futility bound and floor levels, budget trends."""
import math

import numpy as np
import pytest
import torch

from rawdiff.claims.budget import budget_trend
from rawdiff.claims.common import CANNOT, FAILS, HOLDS, MissingInput, Unmeasurable
from rawdiff.claims.conditions import rule_plug
from rawdiff.claims.did import ocr_arms, ocr_level_kinds, rule_ilvr, rule_ocr
from rawdiff.claims.diffraw import (CC_MARGIN, DETAIL, FLAT_STD, dtdm_comparisons, rule_dtdm,
                                    rule_dtdm_equal_nfe)
from rawdiff.claims.frontier import pareto_front, read_frontier
from rawdiff.data.synth import phone2dslr_batch
from rawdiff.metrics.detail import sharpness_ratio
from rawdiff.metrics.noise import flat_local_std
from rawdiff.stats import bootstrap_pvalue, holm
from rawdiff.utils import make_generator

N = 32
KS = (1, 2, 5, 10)


def with_comparisons(rule, rows):
    """(verdict, evidence, comparisons): a rule's result unpacks as (verdict, evidence) and carries the rest."""
    out = rule(rows)
    verdict, evidence = out                    # what notebooks do
    return verdict, evidence, out.comparisons


def _pm(n, amp):
    """+amp, -amp, ... : a per-image spread whose mean is exactly 0."""
    return amp * (-1.0) ** np.arange(n)


def dtdm_table(*, cc=None, det=None, spread=0.3, det_spread=0.02, flat=None, ddim=None, n=N, n_ref=N,
               ref=True, d2=-2.0, control=-0.05, seed=0):
    """Per-image rows with issue 24's columns.  ``cc[K]`` / ``det[K]``: DTDM K's cc-PSNR / highband_ssim minus
    DDPM-1000's (mean; per-image spread ``spread`` / ``det_spread``); ``flat[K]``: DTDM's flat_std over
    ISPNet's (same for every image); ``ddim[K]`` = (cc, det) of DDIM-K from noise relative to DDPM-1000."""
    rng = np.random.default_rng(seed)
    base_cc, base_det = 25 + 3 * rng.standard_normal(n), 0.5 + 0.1 * rng.random(n)
    isp_flat = 0.01 + 0.005 * rng.random(n)
    cc = cc or {k: 0.0 for k in KS}
    det = det or {k: 0.05 for k in KS}
    flat = flat or {k: 1.0 for k in KS}
    ddim = ddim or {k: (0.0, 0.0) for k in (*KS, 100)}
    rows = []

    def add(method, steps, s, nfe, dcc, ddet, fl, images=range(n), jitter=True):
        e = _pm(n, spread) if jitter else np.zeros(n)
        ed = _pm(n, det_spread) if jitter else np.zeros(n)
        for i in images:
            rows.append({"method": method, "steps": steps, "s": s, "nfe": nfe, "image": f"im{i}",
                         "aligned_psnr": base_cc[i] - 3 + dcc + e[i], "cc_psnr": base_cc[i] + dcc + e[i],
                         "spectrum_distance": 0.4, "sharpness_ratio": 0.9, DETAIL: base_det[i] + ddet + ed[i],
                         FLAT_STD: isp_flat[i] * fl})
    for k in KS:
        add("dtdm", k, 200, k, cc[k], det[k], flat[k])
    for k, (dc, dd) in ddim.items():
        add("ddim", k, "", k, dc, dd, 1.0, jitter=False)
    if ref:
        add("ddpm", 1000, "", 1000, 0.0, 0.0, 1.0, images=range(n_ref), jitter=False)
    add("ispnet", "", "", 0, -1.0, -0.1, 1.0, jitter=False)
    if control is not None:          # ISPNet + matched noise: ``control`` of detail relative to ISPNet
        add("ispnet_noise_control", "", "", 0, -1.5, -0.1 + control, 3.0)
    add("d2", "", "", 0, d2, -0.1, 1.0, jitter=False)
    add("dtdm_d2", 1, 200, 1, 0.0, 0.0, 1.0, jitter=False)
    return [{k: ("" if v == "" else str(v)) for k, v in r.items()} for r in rows]


# ------------------------------------------------------------------------------------------ DTDM rule (a)
def test_rule_a_holds_when_some_k_shows_both_arms_even_if_the_largest_k_loses():
    """The old rule judged only max(K) = 10; the new one reports every K and holds on K = 2."""
    rows = dtdm_table(cc={1: -1.0, 2: 0.0, 5: -1.0, 10: -1.0}, det={1: 0.05, 2: 0.05, 5: 0.05, 10: 0.05})
    v, ev, comps = with_comparisons(rule_dtdm, rows)
    assert v == HOLDS, ev
    for k in KS:
        assert f"K={k}: cc-PSNR" in ev
    a = {c["name"]: c for c in comps if c["name"].startswith("a ")}
    assert len(a) == 8 and a["a dtdm s=200 K=10 vs ddpm K=1000 cc_psnr"]["verdict"] == FAILS
    assert "beside, vs ddim K=100" in ev


def test_rule_a_does_not_hold_when_every_k_loses_an_arm():
    rows = dtdm_table(cc={1: -1.0, 2: 0.0, 5: -1.0, 10: 0.0}, det={1: 0.05, 2: -0.05, 5: 0.05, 10: -0.05})
    assert rule_dtdm(rows)[0] == FAILS


def test_holm_over_the_four_k_turns_a_lone_borderline_k_inconclusive():
    """One K whose detail arm has p ~ 0.01: enough on its own at one-sided 0.025, not after Holm over four K."""
    n, spread = 32, 0.02
    se = spread / math.sqrt(n)
    d = 2.3 * se                                          # one-sided p ~ 0.011
    rows = dtdm_table(cc={k: (0.0 if k == 2 else -1.0) for k in KS}, det={1: 0.05, 2: d, 5: 0.05, 10: 0.05},
                      det_spread=spread)
    comps = [c for c in dtdm_comparisons(rows) if c["part"] == "a" and c["a"].endswith("K=2")]
    p = comps[1]["p_value"]
    assert 0.00625 < p < 0.025 and comps[1]["verdict"] == HOLDS          # unadjusted: shown
    assert comps[0]["holm"] == "not shown"
    v = rule_dtdm(rows)[0]
    assert v.startswith("inconclusive"), v
    # with a clear detail gain the same K is shown after Holm
    rows = dtdm_table(cc={k: (0.0 if k == 2 else -1.0) for k in KS}, det={1: 0.05, 2: 6 * se, 5: 0.05, 10: 0.05},
                      det_spread=spread)
    assert rule_dtdm(rows)[0] == HOLDS


def test_rule_a_noise_gate_blocks_a_grainy_k():
    rows = dtdm_table(cc={1: -1.0, 2: 0.0, 5: -1.0, 10: -1.0}, flat={1: 1.0, 2: 4.0, 5: 1.0, 10: 1.0})
    v, ev, _ = with_comparisons(rule_dtdm, rows)
    assert v == FAILS and "noise 3." in ev and "fails" in ev     # K = 2 shows both arms but has leftover noise


def test_a_detail_metric_that_credits_the_noise_control_blocks_both_rules():
    rows = dtdm_table(control=+0.03)
    for rule in (rule_dtdm, rule_dtdm_equal_nfe):
        with pytest.raises(Unmeasurable, match="credits noise as detail"):
            rule(rows)
    assert "not credited" in rule_dtdm(dtdm_table())[1]
    with pytest.raises(MissingInput, match="noise-injection control"):
        rule_dtdm(dtdm_table(control=None))


def test_rule_a_cannot_be_computed_without_its_inputs():
    with pytest.raises(MissingInput, match="method ddpm, steps 1000"):
        rule_dtdm(dtdm_table(ref=False))
    with pytest.raises(MissingInput, match="covers 8 < 16 images"):
        rule_dtdm(dtdm_table(n_ref=8))
    rows = [{k: v for k, v in r.items() if k != DETAIL} for r in dtdm_table()]
    with pytest.raises(MissingInput, match=f"column {DETAIL}"):
        rule_dtdm(rows)
    rows = [r for r in dtdm_table() if not (r["method"] == "dtdm" and r["steps"] == "5")]
    with pytest.raises(MissingInput, match="dtdm rows at K=5"):
        rule_dtdm(rows)


# ------------------------------------------------------------------------------------------ DTDM rule (b)
def test_frontier_read_off():
    pts = [(0.50, 25.0), (0.55, 24.8), (0.52, 24.0), (0.60, 24.6)]
    assert pareto_front(pts) == [(0.50, 25.0), (0.55, 24.8), (0.60, 24.6)]      # (0.52, 24.0) is dominated
    assert read_frontier(pts, 0.575) == (pytest.approx(24.7), "interpolated")
    assert read_frontier(pts, 0.40) == (25.0, "nearest more detailed")
    assert read_frontier(pts, 0.70) == (-math.inf, "unreachable")


# DTDM's (cc, detail) relative to DDPM-1000 at K = 1, 2, 5, 10: more detail, less PSNR with more steps
DTDM_CC = {1: 0.0, 2: -0.2, 5: -0.4, 10: -0.5}
DTDM_DET = {1: 0.00, 2: 0.05, 5: 0.10, 10: 0.12}


def test_rule_b_holds_on_the_frontier_where_equal_k_comparisons_lose_psnr():
    """DDIM-K' sits below DTDM's frontier although DTDM-K' alone has lower cc-PSNR than DDIM-K' (K' >= 2)."""
    ddim = {1: (-0.3, -0.05), 2: (-0.1, 0.03), 5: (-0.3, 0.06), 10: (-0.4, 0.07), 100: (0.0, 0.0)}
    rows = dtdm_table(cc=DTDM_CC, det=DTDM_DET, ddim=ddim)
    v, ev, comps = with_comparisons(rule_dtdm_equal_nfe, rows)
    assert v == HOLDS, ev
    b = [c for c in comps if c["name"].startswith("b ")]
    assert len(b) == 4 and all(c["lo"] > -CC_MARGIN for c in b)
    assert DTDM_CC[10] < ddim[10][0] and DTDM_CC[5] < ddim[5][0]        # equal-K PSNR favours DDIM
    assert "nearest more detailed" in ev and "interpolated" in ev


def test_rule_b_does_not_hold_when_ddim_is_above_the_frontier_or_out_of_reach():
    above = {1: (0.0, 0.0), 2: (0.0, 0.05), 5: (0.5, 0.10), 10: (0.0, 0.12), 100: (0.0, 0.0)}
    assert rule_dtdm_equal_nfe(dtdm_table(cc=DTDM_CC, det=DTDM_DET, ddim=above))[0] == FAILS
    beyond = {1: (0.0, 0.0), 2: (-0.2, 0.05), 5: (-0.4, 0.10), 10: (-2.0, 0.30), 100: (0.0, 0.0)}
    v, ev, _ = with_comparisons(rule_dtdm_equal_nfe, dtdm_table(cc=DTDM_CC, det=DTDM_DET, ddim=beyond))
    assert v == FAILS and "unreachable" in ev and "-inf" in ev        # DTDM never reaches DDIM-10's detail


def test_rule_b_inconclusive_between_margin_and_zero():
    on = {k: (DTDM_CC[k], DTDM_DET[k]) for k in KS} | {100: (0.0, 0.0)}       # DDIM exactly on the frontier
    v = rule_dtdm_equal_nfe(dtdm_table(cc=DTDM_CC, det=DTDM_DET, ddim=on, spread=1.0))[0]
    assert v.startswith("inconclusive"), v


# ------------------------------------------------------------------------------------ leftover-noise gate
def _blur(x, sigma):
    k = int(2 * round(3 * sigma) + 1)
    r = torch.arange(k, dtype=x.dtype) - k // 2
    g = torch.exp(-0.5 * (r / sigma) ** 2)
    g = g / g.sum()
    z = torch.nn.functional.pad(x, (k // 2,) * 4, mode="reflect")
    z = torch.nn.functional.conv2d(z, g.view(1, 1, 1, k).expand(3, 1, 1, k), groups=3)
    return torch.nn.functional.conv2d(z, g.view(1, 1, k, 1).expand(3, 1, k, 1), groups=3)


def _gate_rows(targets, ispnet, dtdm):
    """dtdm_table rows whose flat_std come from the real metric on images (DTDM the same at every K)."""
    f_isp, f_dtdm = flat_local_std(ispnet, targets), flat_local_std(dtdm, targets)
    rows = dtdm_table(n=len(targets), n_ref=len(targets))
    for r in rows:
        i = int(r["image"][2:])
        r[FLAT_STD] = str(float(f_dtdm[i] if r["method"] == "dtdm" else f_isp[i]))
    return rows


def _gate(rows):
    return {c["a"]: c for c in dtdm_comparisons(rows) if c["part"] == "gate-noise"}["dtdm s=200 K=2"]


@pytest.fixture(scope="module")
def study_like():
    """28 synthetic targets (dead leaves, rawdiff.data.synth) and 4 flat ones; ISPNet-like = blur 1.2 px."""
    t = phone2dslr_batch(32, 64, make_generator(5))["rgb"].float()
    flat = torch.linspace(0.3, 0.4, 64).view(1, 1, 1, 64).expand(4, 3, 64, 64)
    t = torch.cat([t[:28], flat])
    return t, _blur(t, 1.2)


def test_noise_gate_blur_passes_grain_fails(study_like):
    t, isp = study_like
    t, isp = t[:28], isp[:28]
    assert _gate(_gate_rows(t, isp, _blur(t, 0.9)))["verdict"] == "passes"
    grain = (_blur(t, 0.9) + 0.04 * torch.randn(t.shape, generator=make_generator(1))).clamp(0, 1)
    g = _gate(_gate_rows(t, isp, grain))
    assert g["verdict"] == "fails" and g["lo"] > 1.5


def test_noise_gate_sees_grain_in_the_study_pattern_the_sharpness_gate_missed(study_like):
    """Most images blurred, a few flat targets, grain sd 0.04 everywhere: the old gate (geometric mean of the
    whole-image sharpness ratio <= 1.05) passes it, the flat-pixel gate fails it."""
    t, isp = study_like
    out = (_blur(t, 2.0) + 0.04 * torch.randn(t.shape, generator=make_generator(2))).clamp(0, 1)
    old = float(torch.exp(torch.log(sharpness_ratio(out, t)).mean()))
    assert old <= 1.05                                        # the old gate would call this "no leftover noise"
    assert _gate(_gate_rows(t, isp, out))["verdict"] == "fails"
    assert _gate(_gate_rows(t, isp, _blur(t, 2.0)))["verdict"] == "passes"


# ------------------------------------------------------------------------------------------ plug-and-play
def _pnp(ssim_style=(0.9, 0.88, 0.92), ssim_base=(0.6, 0.55, 0.65), base_to_c=0.0, baseline=True):
    rows = [{"c_source": "own", "style": "own", "n": "16", "color_dist_to_c": "1.5", "color_dist_to_source": "7",
             "luma_ssim_to_own": "1", "luma_ssim_to_own_lo": "1", "luma_ssim_to_own_hi": "1"}]
    for st in ("warm", "cool"):
        rows.append({"c_source": "swapped", "style": st, "n": "16", "color_dist_to_c": "2", "color_dist_to_source": "13",
                     "diff": "11", "lo": "10", "hi": "12", "verdict": HOLDS, "luma_ssim_to_own": str(ssim_style[0]),
                     "luma_ssim_to_own_lo": str(ssim_style[1]), "luma_ssim_to_own_hi": str(ssim_style[2])})
        if baseline:
            rows.append({"c_source": "baseline", "style": f"output = c ({st})", "n": "16",
                         "color_dist_to_c": str(base_to_c), "color_dist_to_source": "14", "diff": "14", "lo": "13",
                         "hi": "15", "verdict": HOLDS, "luma_ssim_to_own": str(ssim_base[0]),
                         "luma_ssim_to_own_lo": str(ssim_base[1]), "luma_ssim_to_own_hi": str(ssim_base[2])})
    return rows


def test_plug_and_play_needs_kept_structure_and_a_failing_baseline():
    v, ev, comps = with_comparisons(rule_plug, _pnp())
    assert v == HOLDS and "baseline output = c" in ev and "does not hold" in ev
    assert rule_plug(_pnp(ssim_style=(0.7, 0.65, 0.75)))[0] == FAILS             # colour moved, structure lost
    assert rule_plug(_pnp(ssim_style=(0.86, 0.80, 0.92)))[0] == "inconclusive (n=16)"
    with pytest.raises(Unmeasurable, match="baseline is not rejected"):          # the rule could not tell
        rule_plug(_pnp(ssim_base=(0.95, 0.9, 0.97)))
    with pytest.raises(MissingInput, match="baseline"):
        rule_plug(_pnp(baseline=False))
    with pytest.raises(MissingInput, match="luma_ssim_to_own"):
        rule_plug([{k: v for k, v in r.items() if not k.startswith("luma")} for r in _pnp()])


# ------------------------------------------------------------------------------------------ ILVR
def _ilvr(gains: dict[int, float], n=20):
    rng = np.random.default_rng(0)
    base = 20 + rng.normal(0, 2, n)
    return [{"ilvr_steps": str(k), "image": f"im{i}", "psnr": str(base[i] + g + 0.1 * (-1) ** i), "ssim": "0.5"}
            for k, g in gains.items() for i in range(n)]


def test_ilvr_judges_the_papers_k_and_reports_k3_beside():
    v, ev, comps = with_comparisons(rule_ilvr, _ilvr({0: 0.0, 3: 1.3, 6: 1.2, 18: 0.0}))
    assert v == HOLDS and "beside (not judged): k = 3 minus k = 6 +0.100" in ev
    assert [c["name"] for c in comps] == ["k=6 - k=0 psnr", "k=6 - k=18 psnr"]
    assert rule_ilvr(_ilvr({0: 0.0, 3: 1.3, 6: 1.2, 18: 1.5}))[0] == FAILS     # all steps beat the first 6
    with pytest.raises(MissingInput, match="ilvr_steps = 6"):                   # not the best mean instead
        rule_ilvr(_ilvr({0: 0.0, 3: 1.3, 9: 1.2, 18: 0.0}))
    v, ev, _ = with_comparisons(rule_ilvr, _ilvr({0: 0.0, 2: 1.0, 6: 0.0}))                     # 6 steps in all: k* = 6 x 6 / 18
    assert v == HOLDS and "k = 2 (the paper's 6 of 18)" in ev


# ------------------------------------------------------------------------------------------ OCR
def _ocr(acc: dict, n_words=100, engines=(("did", "rapidocr"),), seed=0, crn=True):
    """acc[(level, method)] = probability a word is read; with ``crn`` the words are drawn with common random
    numbers (the paired differences are those of the probabilities), else independently per method."""
    rng = np.random.default_rng(seed)
    rows = []
    for prot, eng in engines:
        for lvl in sorted({lv for lv, _ in acc}):
            u = rng.random(n_words)
            for (lv, m), p in acc.items():
                if not crn:
                    u = rng.random(n_words)
                if lv == lvl:
                    rows += [{"method": m, "protocol": prot, "level": lvl, "engine": eng, "item": str(j),
                              "correct": str(int(u[j] < p))} for j in range(n_words)]
            rows += [{"method": "clean (reference)", "protocol": prot, "level": lvl, "engine": eng,
                      "item": str(j), "correct": "1"} for j in range(n_words)]
    return rows


def _levels(did, others, floor=True):
    acc = {}
    for lv, pd, po in (("v0.5", did[0], others[0]), ("v0.6", did[1], others[1])):
        acc[(lv, "did")] = pd
        acc[(lv, "gamma")] = po
        acc[(lv, "clahe")] = po - 0.05
    if floor:
        acc[("v0.4", "did")], acc[("v0.4", "gamma")], acc[("v0.4", "clahe")] = 0.01, 0.0, 0.02
    return acc


def test_ocr_primary_arm_futility_and_floor_levels():
    rows = _ocr(_levels((0.30, 0.60), (0.30, 0.60)))                          # DiD = best other: futility
    kinds = ocr_level_kinds(rows)
    assert kinds[("did", "rapidocr", "v0.4")] == "floor" and kinds[("did", "rapidocr", "v0.5")] == "kept"
    v, ev, _ = with_comparisons(rule_ocr, rows)
    assert v == FAILS and "excluded: v0.4 floor" in ev and "(n=200" in ev
    assert rule_ocr(_ocr(_levels((0.45, 0.75), (0.30, 0.60))))[0] == HOLDS     # +0.15 over the best other
    v = rule_ocr(_ocr(_levels((0.33, 0.63), (0.30, 0.60)), crn=False))[0]       # +0.03, noisy: neither
    assert v.startswith("inconclusive"), v


def test_ocr_verdict_is_the_primary_arms_not_the_smallest_n():
    prim = _ocr(_levels((0.30, 0.60), (0.30, 0.60)))
    other = _ocr(_levels((0.5, 0.9), (0.3, 0.6), floor=False), n_words=20, engines=(("did", "easyocr"),))
    v, ev, comps = with_comparisons(rule_ocr, prim + other)
    assert v == FAILS and "other arm (reported) did/easyocr" in ev
    arms = {(a["protocol"], a["engine"]): a["verdict"] for a in ocr_arms(prim + other)}
    assert arms[("did", "rapidocr")] == FAILS and arms[("did", "easyocr")] != FAILS
    with pytest.raises(MissingInput, match="primary arm"):
        rule_ocr(other)
    ceiling = _ocr({("v0.9", "did"): 0.95, ("v0.9", "gamma"): 0.9, ("v0.5", "did"): 0.5, ("v0.5", "gamma"): 0.2})
    assert ocr_level_kinds(ceiling)[("did", "rapidocr", "v0.9")] == "ceiling"
    assert "excluded: v0.9 ceiling" in rule_ocr(ceiling)[1]


# ------------------------------------------------------------------------------------------ statistics
def test_holm_and_bootstrap_pvalue():
    assert holm([0.01, 0.04, 0.03, 0.005], alpha=0.05) == [True, False, False, True]
    assert holm([0.006, 0.5, 0.5, 0.5]) == [True, False, False, False]
    assert holm([0.007, 0.5, 0.5, 0.5]) == [False] * 4                          # 0.007 > 0.025 / 4
    v = 0.1 + _pm(40, 0.3)
    assert bootstrap_pvalue(v, 0.0) < 0.05 and bootstrap_pvalue(v, 0.2) > 0.95
    with pytest.raises(ValueError):
        holm([1.5])


# ------------------------------------------------------------------------------------------ budget curves
@pytest.mark.parametrize("points, want", [
    ([(500, 0.1, 0.0, 0.2), (1000, 0.3, 0.2, 0.4), (2000, 0.6, 0.5, 0.7)], "growing with training"),
    ([(500, -0.9, -1.0, -0.8), (1000, -0.5, -0.6, -0.4), (2000, -0.2, -0.3, -0.1)], "shrinking with training"),
    ([(500, -0.3, -0.4, -0.2), (1000, 0.0, -0.1, 0.1), (2000, 0.4, 0.3, 0.5)], "growing with training"),
    ([(500, 0.2, 0.0, 0.4), (1000, 0.25, 0.05, 0.45), (2000, 0.3, 0.1, 0.5)], "flat with training"),
    ([(500, 0.1, 0.0, 0.2), (1000, 1.2, 1.1, 1.3), (2000, 0.6, 0.5, 0.7)], "non-monotonic with training"),
    ([(500, 0.1, 0.0, 0.2), (2000, 0.6, 0.5, 0.7)], "cannot be computed"),
])
def test_budget_trend(points, want):
    assert budget_trend(points).startswith(want)
    assert budget_trend(list(reversed(points))).startswith(want)            # order of rows does not matter


def test_budget_column_in_the_scorecard(tmp_path):
    from rawdiff.claims.budget import budget_column, budget_effect_rows
    from rawdiff.claims.scorecard import write_scorecard
    from rawdiff.figures import save_table

    rows = []
    for budget, gain in ((375, 0.2), (750, 0.6), (1500, 1.2)):
        outcome = rule_ilvr(_ilvr({0: 0.0, 3: 1.0, 6: gain, 18: 0.0}))
        rows += budget_effect_rows("ilvr_first_steps", budget, outcome)
    save_table(rows, tmp_path, "05_budget_effects")
    cell = budget_column(tmp_path, "ilvr_first_steps")
    assert "k=6 - k=0 psnr: growing with training (375: +0.200, 750: +0.600, 1500: +1.200)" in cell
    assert budget_column(tmp_path, "did_ocr") == "—"
    text = write_scorecard(tmp_path).read_text()
    line = next(ln for ln in text.splitlines() if "ILVR on the first few steps" in ln)
    assert "| k=6 - k=0 psnr: growing with training" in line and "**not run**" in line
