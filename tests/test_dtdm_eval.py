"""rawdiff.diffraw.evaluate: same images and seeds for every method, seed averaging, summaries, gates."""
import math

import pytest

from rawdiff.claims.common import HOLDS, Unmeasurable
from rawdiff.claims.diffraw import dtdm_comparisons, rule_dtdm
from dataclasses import replace

from rawdiff.config import UNetConfig
from rawdiff.presets import get_preset
from rawdiff.data.synth import phone2dslr_batch
from rawdiff.nn.unet import UNet
from rawdiff.diffraw.data import PhoneData
from rawdiff.diffraw.sample import Method, simple_isp_output
from rawdiff.diffraw import evaluate as E
from rawdiff.utils import make_generator, seeded_init


def _setup(n=4, size=32):
    b = phone2dslr_batch(n, size, make_generator(0))
    test = PhoneData(b["raw"], b["rgb"], [f"im{i}" for i in range(n)], b["meta"])
    with seeded_init(0, "test-unet"):
        unet = UNet(UNetConfig(in_channels=10, out_channels=3, base_channels=8, channel_mults=(1, 2),
                               num_res_blocks=1)).eval()
    cfg = replace(get_preset("smoke").dtdm, s=200)
    c = simple_isp_output(test.raw)
    return test, unet, cfg, c


def test_per_image_rows_seeds_and_summary():
    test, unet, cfg, c = _setup()
    M = Method
    methods = [M("ispnet"), M("dtdm", 1, s=200), M("dtdm", 2, s=200), M("ddim", 2)]
    nets = {"dtdm": {200: unet}, "ddpm": unet}
    rows = E.evaluate_per_image(methods, test, c_test=c, nets=nets, cfg=cfg, seeds=(0, 1, 2), device="cpu")
    again = E.evaluate_per_image(methods, test, c_test=c, nets=nets, cfg=cfg, seeds=(0, 1, 2), device="cpu")
    assert len(rows) == 4 * len(methods)
    strip = [{k: v for k, v in r.items() if k != "sec_per_image"} for r in rows]
    assert strip == [{k: v for k, v in r.items() if k != "sec_per_image"} for r in again]   # same seeds, same scores
    by = {(r["method"], r["steps"]): r for r in rows if r["image"] == "im0"}
    assert by[("ispnet", None)]["n_seeds"] == 1 and by[("dtdm", 2)]["n_seeds"] == 3 and by[("dtdm", 2)]["main"] == 1
    assert by[("ddim", 2)]["nfe"] == 2 and by[("dtdm", 1)]["nfe"] == 1
    # a seed-averaged row is the mean of the single-seed rows
    one = [E.evaluate_per_image([methods[2]], test, c_test=c, nets=nets, cfg=cfg, seeds=(s,), device="cpu")
           for s in (0, 1, 2)]
    want = sum(r[0]["cc_psnr"] for r in one) / 3
    assert math.isclose(rows[8]["cc_psnr"], want, rel_tol=1e-6)
    summ = E.summarise(rows)
    assert len(summ) == len(methods) and all(r["n"] == 4 for r in summ)
    assert all(r["cc_psnr_lo"] <= r["cc_psnr"] <= r["cc_psnr_hi"] for r in summ)


def test_gate_rows_and_rules_run_end_to_end():
    test, unet, cfg, c = _setup()
    gates = E.gate_rows(unet, test, cfg, seeds=(0, 1), device="cpu")
    assert {r["method"] for r in gates} == {"d2", "dtdm_d2"} and len(gates) == 8
    M = Method
    rows = E.evaluate_per_image([M("dtdm", 1, s=200), M("ddim", 50)], test, c_test=c,
                                nets={"dtdm": {200: unet}, "ddpm": unet}, cfg=cfg, seeds=(0,), device="cpu")
    comps = dtdm_comparisons(rows + gates)
    assert comps[0]["part"] == "gate" and comps[0]["n"] == 4
    assert comps[0]["verdict"] in (HOLDS, "does not hold", "inconclusive (n=4)")
    # issue 24: rule (a) reads DDPM-1000 rows and the highband_ssim / flat_std columns; without them it says so
    str_rows = [{k: ("" if v is None else str(v)) for k, v in r.items()} for r in rows + gates]
    with pytest.raises(Unmeasurable, match="method ddpm, steps 1000"):
        rule_dtdm(str_rows)
