"""rawdiff.diffraw.budget: the DiffRAW claims' effects at the budget checkpoints (issue 24, "Budget curves"),
on tiny runs trained here for 4 steps (checkpoints at steps 1, 2 and 4)."""
import shutil
from dataclasses import replace

import pytest

from rawdiff.claims.budget import budget_column
from rawdiff.claims.common import CANNOT
from rawdiff.data.synth import phone2dslr_batch
from rawdiff.diffraw import budget as B
from rawdiff.diffraw.data import PhoneData
from rawdiff.diffraw.sample import Method, ispnet_condition
from rawdiff.diffraw.train import DIFFRAW, ISP
from rawdiff.figures import save_table
from rawdiff.presets import get_preset
from rawdiff.runs.lifecycle import get_or_train
from rawdiff.utils import make_generator

SIZES = B.ClaimSizes(reference_images=0, beside_steps=20, budget_images=2, budget_reference_images=0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    b = phone2dslr_batch(8, 32, make_generator(0))
    data = PhoneData(b["raw"], b["rgb"], [f"im{i}" for i in range(8)], b["meta"])
    p = get_preset("smoke")
    p = replace(p, diffraw_unet=replace(p.diffraw_unet, base_channels=8, channel_mults=(1, 2)),
                dtdm=replace(p.dtdm, s=200, train_crop=16), isp_net=replace(p.isp_net, channels=8, num_blocks=1,
                                                                             train_crop=16))
    kw = dict(cache_dir=tmp_path_factory.mktemp("cache"), device="cpu", seed=0, steps=4, progress=False)
    isp = get_or_train(ISP, p, data, "digest", **kw)
    nets = {c: get_or_train(DIFFRAW, p, data, "digest", condition=c, **kw) for c in ("raw+c", "raw", "none")}
    ddpm = get_or_train(DIFFRAW, p, data, "digest", mode="ddpm", **kw)
    return p, data.subset(3), isp, nets, ddpm


def test_budget_pairs_are_the_same_fractions_of_each_run():
    assert B.budget_pairs(300, 1000) == [(75, 250), (150, 500)]
    assert B.budget_pairs(1500, 2000) == [(375, 500), (750, 1000)]


def test_sizes_follow_issue_24_outside_smoke():
    s = B.claim_sizes("study")
    assert s.reference_images >= 16 and s.beside_steps == 100 and s.budget_reference_images >= 16
    ms, ctl = B.dtdm_methods(get_preset("study").dtdm, s)
    ref = [m for m in ms if m.kind == "ddpm"]
    assert ref == [Method("ddpm", images=16, seeds=1)] and Method("ddim", 100) in ms and ctl in ms
    assert {m.steps for m in ms if m.kind == "dtdm"} == {m.steps for m in ms if m.kind == "ddim"} - {100} == {1, 2, 5, 10}


@pytest.mark.slow
def test_dtdm_budget_effects_every_budget_and_cannot_rows(runs, tmp_path):
    p, test, isp, nets, ddpm = runs
    dt = nets["raw+c"]
    main = B.dtdm_table(test, ispnet_condition(isp.model), {200: dt.model}, ddpm.model, p.dtdm, SIZES, seeds=(0,),
                        device="cpu")
    eff = B.dtdm_budget_effects(main, test, isp=isp, dtdm=dt, ddpm=ddpm, cfg=p.dtdm, preset=p, sizes=SIZES,
                                seeds=(0,), device="cpu")
    assert {r["budget"] for r in eff} == {1, 2, 4}
    assert all(set(r) == set(B.BUDGET_COLUMNS) and r["images"] == 2 for r in eff)
    # no DDPM-1000 rows here: rule (a) says so at every budget rather than judging against something else
    a = [r for r in eff if r["claim"] == "dtdm_steps"]
    assert len(a) == 3 and all(r["verdict"] == CANNOT and "ddpm" in r["note"] for r in a)
    # rule (b) gives its effects (or says why not) at every budget; the full budget reads the main rows
    b = [r for r in eff if r["claim"] == "dtdm_equal_nfe"]
    assert {r["budget"] for r in b} == {1, 2, 4}
    save_table(eff, tmp_path, "04_budget_effects", columns=B.BUDGET_COLUMNS)
    assert budget_column(tmp_path, "dtdm_steps").startswith(f"({CANNOT})")
    # a run without its budget checkpoints: those budgets cannot be computed, and the rows say why
    bare = tmp_path / "bare"
    shutil.copytree(dt.run_dir, bare)
    for d in bare.glob("ckpt-0000000[12]"):
        shutil.rmtree(d)
    eff2 = B.dtdm_budget_effects(main, test, isp=isp, dtdm=replace(dt, run_dir=bare), ddpm=ddpm, cfg=p.dtdm, preset=p,
                                 sizes=SIZES, seeds=(0,), device="cpu")
    low = [r for r in eff2 if r["budget"] in (1, 2)]
    assert low and all(r["verdict"] == CANNOT and "no checkpoint" in r["note"] for r in low)


@pytest.mark.slow
def test_condition_budget_effects_and_figure(runs):
    from rawdiff.claims.budget import budget_figure
    p, test, isp, nets, _ = runs
    eff = B.condition_budget_effects(nets, isp, test, p.dtdm, p, SIZES, steps=2, seeds=(0,), styles=("own", "warm"),
                                     device="cpu")
    assert {r["claim"] for r in eff} == {"raw_structure", "colour_condition", "plug_and_play"}
    for claim in ("raw_structure", "colour_condition", "plug_and_play"):
        assert {r["budget"] for r in eff if r["claim"] == claim} == {1, 2, 4}
    rs = [r for r in eff if r["claim"] == "raw_structure"]
    assert all(r["comparison"] == "raw - none" and r["lo"] <= r["diff"] <= r["hi"] for r in rs)
    fig = budget_figure(eff)
    panels = {(r["claim"], r["comparison"]) for r in eff}
    assert sum(ax.has_data() for ax in fig.axes) == len(panels)
