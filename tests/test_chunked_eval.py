"""Evaluation in chunks (issue 23): one generator per image, so a set sampled or evaluated in chunks of 1, 3 or
all images gives the same outputs and the same per-image rows — up to the round-off of convolutions batched
differently (oneDNN picks kernels by batch size: ~1e-5 on [0, 1] images here, against ~0.1 between two seeds);
lazily read test sets; the bf16 sampling option."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from rawdiff.config import DiDConfig, DiDSampler, DTDMSampler, EDMConfig, UNetConfig
from rawdiff.data.synth import phone2dslr_batch
from rawdiff.data.write import write_png16
from rawdiff.diffraw import evaluate as E
from rawdiff.diffraw.data import PhoneData, load_phone
from rawdiff.diffraw.sample import Method, develop_baseline, develop_dtdm, evaluate, simple_isp_output
from rawdiff.did.enhance import DiDModel, build_denoiser, enhance
from rawdiff.did.evaluate import evaluate_settings
from rawdiff.diffusion.precision import image_generators
from rawdiff.errors import DataError
from rawdiff.nn.unet import UNet
from rawdiff.norm import LinearNorm
from rawdiff.presets import get_preset
from rawdiff.utils import make_generator, seeded_init

N = 5
CHUNKS = (1, 3, N)


def _perturb(net: torch.nn.Module) -> None:
    """Random weights everywhere: a fresh UNet's zero-initialised output layer would make every sample the same."""
    g = make_generator(11)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))


@pytest.fixture(scope="module")
def setup():
    b = phone2dslr_batch(N, 32, make_generator(0))
    test = PhoneData(b["raw"], b["rgb"], [f"im{i}" for i in range(N)], b["meta"])
    with seeded_init(0, "chunk-test-unet"):
        unet = UNet(UNetConfig(in_channels=10, out_channels=3, base_channels=8, channel_mults=(1, 2),
                               num_res_blocks=1)).eval()
    _perturb(unet)
    cfg = replace(get_preset("smoke").dtdm, T=60, s=30)
    return test, unet, cfg, simple_isp_output(test.raw)


TOL = 2e-4   # round-off of differently batched convolutions, accumulated over up to 60 sampler steps


def _same(outs: list[torch.Tensor], tol: float = TOL) -> None:
    for o in outs[1:]:
        assert o.shape == outs[0].shape and float((o - outs[0]).abs().max()) < tol


def _rows_close(a: list[dict], b: list[dict], tol: float = 1e-3) -> None:
    """Same rows: equal labels and counts, metrics within ``tol`` (dB / colour units); seconds ignored."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            if k == "sec_per_image":
                continue
            if isinstance(x[k], float):
                assert x[k] == pytest.approx(y[k], abs=tol), k
            else:
                assert x[k] == y[k], k


@pytest.mark.parametrize("eta", [0.0, 0.7])
def test_dtdm_output_does_not_depend_on_the_chunk(setup, eta):
    test, unet, cfg, c = setup
    outs = [develop_dtdm(unet, test.raw, c, cfg, 3, generator=7, eta=eta, chunk=k) for k in CHUNKS]
    _same(outs)
    # an int seed is the per-image streams image_generators(seed, i); another seed gives other noise
    assert torch.equal(outs[0], develop_dtdm(unet, test.raw, c, cfg, 3, eta=eta, chunk=1,
                                             generator=image_generators(7, range(N))))
    assert float((outs[0] - develop_dtdm(unet, test.raw, c, cfg, 3, generator=8, eta=eta)).abs().max()) > 0.05
    # image 3 alone, given its own stream, is image 3 of the set
    alone = develop_dtdm(unet, test.raw[3:4], c[3:4], cfg, 3, eta=eta, generator=image_generators(7, [3]))
    assert torch.equal(alone, outs[0][3:4])


@pytest.mark.parametrize("method", ["ddim", "truncated", "ddpm"])
def test_baselines_do_not_depend_on_the_chunk(setup, method):
    test, unet, cfg, c = setup
    _same([develop_baseline(unet, test.raw, c, cfg, method, 2, generator=3, chunk=k) for k in CHUNKS])


def test_per_image_rows_and_tables_do_not_depend_on_the_chunk(setup):
    test, unet, cfg, c = setup
    methods = [Method("ispnet"), Method("dtdm", 2, s=30), Method("ddim", 2)]
    nets = {"dtdm": {30: unet}, "ddpm": unet}

    runs = [E.evaluate_per_image(methods, test, c_test=c, nets=nets, cfg=cfg, seeds=(0, 1), device="cpu", chunk=k,
                                 keep_outputs=2) for k in CHUNKS]
    for r in runs[1:]:
        _rows_close(r[0], runs[0][0])
    assert len(runs[0][0]) == N * len(methods)
    assert [r["image"] for r in runs[0][0][:N]] == test.names
    for rows, outs in runs:   # the kept figures: the first 2 images, the same as from the whole-set sampler
        assert outs[("dtdm", 30, 2)].shape[0] == 2
        _same([outs[("dtdm", 30, 2)], develop_dtdm(unet, test.raw[:2], c[:2], cfg, 2,
                                                   generator=image_generators(0, range(2)))])
    gates = [E.gate_rows(unet, test, cfg, seeds=(0, 1), device="cpu", chunk=k) for k in CHUNKS]
    for g in gates[1:]:
        _rows_close(g, gates[0])
    assert len(gates[0]) == 2 * N
    abl = [E.condition_ablation({"raw+c": unet, "raw": unet}, test, c, cfg, None, steps=2, seeds=(0, 1), chunk=k,
                                keep=3) for k in CHUNKS]
    for a in abl[1:]:
        _rows_close(a[0], abl[0][0])
    assert abl[0][0][0]["n"] == N and abl[0][1]["raw"].shape[0] == 3
    _same([a[1]["raw"] for a in abl])
    pnp = [E.plug_and_play_rows(unet, test, c, cfg, None, styles=("own", "warm"), steps=2, seeds=(0,), chunk=k)[0]
           for k in CHUNKS]
    for p in pnp[1:]:
        _rows_close(p, pnp[0])
    cal = [E.d2_calibration(test, c, None, chunk=k) for k in CHUNKS]
    assert all(x == cal[0] for x in cal)   # no network: exactly equal
    old = [evaluate([Method("dtdm", 2, s=30)], test, c_test=c, nets=nets, cfg=cfg, device="cpu", chunk=k)
           for k in CHUNKS]
    for r in old[1:]:
        _rows_close(r, old[0])


def _write_zrr(root, n: int, bayer: int = 32):
    rs = np.random.default_rng(0)
    (root / "test" / "huawei_raw").mkdir(parents=True)
    (root / "test" / "canon").mkdir(parents=True)
    for i in range(n):
        write_png16(root / "test" / "huawei_raw" / f"{i}.png", rs.integers(40, 1100, (bayer, bayer), dtype=np.uint16))
        Image.fromarray(rs.integers(0, 256, (bayer, bayer, 3), dtype=np.uint8)).save(
            root / "test" / "canon" / f"{i}.jpg", quality=90)


def test_a_test_set_read_from_disk_scores_like_one_in_memory(tmp_path, setup):
    _, unet, cfg, _ = setup
    _write_zrr(tmp_path, 4)
    mem, lazy = load_phone(tmp_path, "test"), load_phone(tmp_path, "test", max_bytes=0)
    assert lazy.is_lazy
    methods = [Method("dtdm", 1, s=30)]
    nets = {"dtdm": {30: unet}}
    c_of = lambda piece: simple_isp_output(piece.raw)   # noqa: E731  (c computed chunk by chunk)
    a = E.evaluate_per_image(methods, mem, c_test=simple_isp_output(mem.raw), nets=nets, cfg=cfg, seeds=(0,),
                             device="cpu")
    b = E.evaluate_per_image(methods, lazy, c_test=c_of, nets=nets, cfg=cfg, seeds=(0,), device="cpu", chunk=3)
    _rows_close(a, b)
    shown, c, aligned = E.shown_images(lazy, c_of, 2)   # what the notebooks' figures hold in memory
    assert not shown.is_lazy and torch.equal(shown.rgb, mem.rgb[:2]) and c.shape == aligned.shape == (2, 3, 32, 32)


def _did_model(sampler: DiDSampler = DiDSampler(num_steps=3, ilvr_steps=1)) -> DiDModel:
    unet = UNetConfig(in_channels=12, out_channels=3, base_channels=8, channel_mults=(1, 2), num_res_blocks=1)
    did = DiDConfig(scales=(32, 64), crop=64)
    den = build_denoiser(unet, EDMConfig()).eval()
    _perturb(den)
    return DiDModel(denoiser=den, dark_norm=LinearNorm(),
                    bright_norm=LinearNorm(), unet=unet, did=did, edm=EDMConfig(), normalization="linear",
                    sampler=sampler)


def test_did_cascade_and_settings_do_not_depend_on_the_chunk():
    model = _did_model()
    dark = torch.rand(4, 3, 40, 48, generator=make_generator(1)) * 0.3
    bright = torch.rand(4, 3, 40, 48, generator=make_generator(2))
    outs = [enhance(model, dark, generator=5, chunk=k) for k in (1, 3, 4)]
    _same([o.image for o in outs], 2e-3)   # Heun from sigma = 80 amplifies the round-off more
    for lvl in range(2):
        _same([o.per_scale[lvl] for o in outs], 2e-3)
    assert float((outs[0].image - enhance(model, dark, generator=6).image).abs().mean()) > 0.05
    settings = [{"setting": "k=1", "ilvr_steps": 1}, {"setting": "k=0", "ilvr_steps": 0}]
    runs = [evaluate_settings(model, dark, bright, settings, metrics=("psnr", "ssim"), chunk=k, keep=2)
            for k in (1, 3)]
    for (ra, _), (rb, _) in zip(runs, runs[1:]):
        for x, y in zip(ra, rb):
            assert x.keys() == y.keys()
            for k in ("psnr", "ssim", "seam_grid32", "tile_nfe_per_image"):
                assert x[k] == pytest.approx(y[k], abs=1e-3)
    assert runs[0][1]["k=1"].image.shape[0] == 2 and runs[1][1]["k=1"].image.shape[0] == 3   # chunks covering 2


def test_bf16_sampling_option(setup):
    test, unet, cfg, c = setup
    fp32 = develop_dtdm(unet, test.raw, c, cfg, 2, generator=0)
    bf16 = develop_dtdm(unet, test.raw, c, cfg, 2, generator=0, precision="bf16")
    assert bf16.dtype == torch.float32 and not torch.equal(bf16, fp32)       # the UNet really ran in bf16
    assert (bf16 - fp32).abs().mean() < 0.02
    model = _did_model()
    dark = torch.rand(1, 3, 32, 32, generator=make_generator(1)) * 0.3
    a, b = enhance(model, dark, precision="fp32").image, enhance(model, dark, precision="bf16").image
    assert not torch.equal(a, b) and (a - b).abs().mean() < 0.05
    with pytest.raises(ValueError, match="precision"):
        develop_dtdm(unet, test.raw, c, cfg, 2, precision="fp16")
    with pytest.raises(DataError, match="precision"):
        DTDMSampler(precision="fp16")
    with pytest.raises(DataError, match="chunk"):
        DiDSampler(chunk=0)


@pytest.mark.slow   # 22 s on a contended 2-core CPU: two child processes that import torch
def test_eval_memory_benchmark_runs_each_case_in_its_own_process(tmp_path, monkeypatch):
    from benchmarks import bench_eval_memory as B

    monkeypatch.setenv("RAWDIFF_BENCH_OUT", str(tmp_path / "bench.jsonl"))
    rows = B.main(["--n", "1,3", "--size", "32", "--chunk", "2", "--threads", "1"])
    assert [r["n_images"] for r in rows] == [1, 3] and all(r["peak_rss_mib"] > 50 for r in rows)
    assert min(r["rss_ratio"] for r in rows) == 1.0 and (tmp_path / "bench.jsonl").is_file()


def test_test_set_d2_draws_its_shared_parameters_per_image(monkeypatch):
    """The gate's D²(y_test) samples D²'s distribution image by image: each test image draws its own resize factors,
    order-2 gate and final-stage order (batch-shared only in training), and a chunk gives its images' rows of the
    whole set."""
    import rawdiff.camera.degrade as D

    seen = []
    real = D.draw_shared
    monkeypatch.setattr(D, "draw_shared", lambda g=None: seen.append(real(g)) or seen[-1])
    y = torch.rand(6, 3, 32, 32, generator=make_generator(3))
    whole = E._d2(y, 0, 0, D.DegradeConfig())
    assert len(seen) == 6 and len({s.u for s in seen}) == 6          # one shared draw per image, all different
    assert torch.equal(E._d2(y[2:5], 0, 2, D.DegradeConfig()), whole[2:5])
    assert not torch.equal(E._d2(y, 1, 0, D.DegradeConfig()), whole)
