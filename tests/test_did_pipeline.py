"""DiD pipeline: multi-scale patch batches, normalisation saved with the checkpoint, train/load/reuse, enhance."""
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

import rawdiff  # noqa: F401
from rawdiff.config import UNetConfig
from rawdiff.presets import get_preset
from rawdiff.tiling import resize
from rawdiff.norm import LinearNorm, TailNorm
from rawdiff.did.evaluate import evaluate_settings, ilvr_settings, overlap_settings
from rawdiff.did.enhance import enhance, fit_normalizers, load_did
from rawdiff.did.train import DID, MultiScalePatchBatches, train_did_tensors
from rawdiff.runs.lifecycle import get_or_train
from rawdiff.utils import make_generator




def _images(n=3, size=128, seed=0):
    g = make_generator(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    bright = []
    for _ in range(n):
        a, b, c = torch.rand(3, generator=g) * 6 + 1
        img = torch.stack([0.5 + 0.4 * torch.sin(a * xx + b * yy), 0.5 + 0.4 * torch.cos(c * xx),
                           (0.3 + 0.5 * yy) * torch.rand(size, size, generator=g) ** 0.1])
        bright.append(img.clamp(0, 1))
    dark = [(0.08 * b ** 1.5 + 0.01 * torch.rand(b.shape, generator=g)).clamp(0, 1) for b in bright]
    return dark, bright


def _tiny_preset(steps=3):
    s = get_preset("smoke")
    return replace(s, did_unet=UNetConfig(in_channels=12, out_channels=3, base_channels=8, channel_mults=(1, 2),
                                          num_res_blocks=1),
                   did_train=replace(s.did_train, steps=steps, batch_size=4, log_every=1, ckpt_every=2))


def _find(patch, full):
    """(y, x) where the 3 x p x p ``patch`` sits exactly in ``full`` (3 x H x W), else None."""
    p = patch.shape[-1]
    cols = F.unfold(full[None], p)[0]                       # (3 p p) x L
    err = (cols - patch.reshape(-1, 1)).abs().amax(0)
    k = int(err.argmin())
    if err[k] > 1e-5:
        return None
    n_w = full.shape[-1] - p + 1
    return divmod(k, n_w)


def test_batches_follow_the_multiscale_recipe():
    dark, bright = _images(1)
    s = get_preset("smoke")
    dn, bn = fit_normalizers(dark, bright, "tail")
    fn = MultiScalePatchBatches(dark, bright, s.did, s.edm, 3, dn, bn)
    seen = set()
    for step in range(30):
        b = fn(step, make_generator(100 + step))
        assert b["target"].shape == (3, 3, 32, 32) and b["cond"].shape == (3, 9, 32, 32)
        assert b["sigma"].shape == (3,) and b["noise"].shape == (3, 3, 32, 32)
        lvl = int(b["level"][0])
        if lvl in seen:
            continue
        seen.add(lvl)
        res = s.did.scales[lvl]
        if lvl == 0:  # whole crop at 32x32, all conditions from the dark image
            assert torch.allclose(b["target"], bn.forward(resize(bright[0][None], (32, 32))).expand(3, -1, -1, -1),
                                  atol=1e-5)
            assert torch.allclose(b["cond"][:, :3], dn.forward(resize(dark[0][None], (32, 32))).expand(3, -1, -1, -1),
                                  atol=1e-5)
            continue
        tgt_full = bn.forward(resize(bright[0][None], (res, res)))[0]
        cx_full = dn.forward(resize(dark[0][None], (res, res)))[0]
        cy2_full = bn.forward(resize(resize(bright[0][None], (32, 32)), (res, res)))[0]
        for i in range(3):
            loc = _find(b["target"][i], tgt_full)
            assert loc is not None
            y, x = loc
            assert torch.allclose(b["cond"][i, :3], cx_full[:, y:y + 32, x:x + 32], atol=1e-5)
            assert torch.allclose(b["cond"][i, 6:], cy2_full[:, y:y + 32, x:x + 32], atol=1e-5)
            cy1 = bn.forward(resize(resize(bright[0][None], (res // 2, res // 2)), (res, res)))[0]
            # c_y1 is that plus eta noise (eta < 1): same location, bounded deviation
            assert (b["cond"][i, 3:6] - cy1[:, y:y + 32, x:x + 32]).std() < 1.0
    assert seen == {0, 1, 2}


def test_batches_depend_on_seed_and_step_only():
    dark, bright = _images(3)
    s = get_preset("smoke")
    dn, bn = fit_normalizers(dark, bright, "tail")
    fn = MultiScalePatchBatches(dark, bright, s.did, s.edm, 4, dn, bn)
    a, b = fn(5, make_generator(9)), fn(5, make_generator(9))
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = fn(5, make_generator(10))
    assert not torch.equal(a["noise"], c["noise"])


def test_tail_statistics_are_dataset_level_and_separate():
    dark, bright = _images(3)
    dn, bn = fit_normalizers(dark, bright, "tail")
    assert isinstance(dn, TailNorm) and dn.mean == TailNorm.fit(dark).mean
    assert dn.mean != bn.mean
    lin = fit_normalizers(dark, bright, "linear")
    assert all(isinstance(n, LinearNorm) for n in lin)
    with pytest.raises(ValueError):
        fit_normalizers(dark, bright, "nope")


@pytest.mark.parametrize("normalization", ["tail", "linear"])
def test_train_save_load_enhance(tmp_path, normalization):
    dark, bright = _images(3)
    preset = _tiny_preset()
    res = train_did_tensors(preset, dark, bright, tmp_path / "run", normalization=normalization, device="cpu",
                            progress=False, lpips=None)
    assert len(res.history) == 3 and all(h["loss"] == h["loss"] for h in res.history)
    m = res.model
    loaded = load_did(tmp_path / "run", device="cpu")
    assert loaded.normalization == normalization and loaded.dark_norm == m.dark_norm
    for (k, a), (_, b) in zip(m.denoiser.state_dict().items(), loaded.denoiser.state_dict().items()):
        assert torch.equal(a, b), k
    img = dark[0][:, :45, :70]
    r1 = enhance(loaded, img, num_steps=3, generator=1)
    r2 = enhance(tmp_path / "run", img, num_steps=3, generator=1)
    assert r1.image.shape == (1, 3, 45, 70) and len(r1.per_scale) == 3
    assert torch.allclose(r1.image, r2.image, atol=1e-6)


@pytest.mark.filterwarnings("ignore:DiD loss runs without")
def test_get_or_train_reuses_cache(tmp_path, monkeypatch):
    dark, bright = _images(2)
    root = tmp_path / "data"
    root.mkdir()
    (root / "marker.txt").write_text("v1")
    monkeypatch.setattr("rawdiff.did.train.load_lowlight", lambda r, split="train": (dark, bright, ["a", "b"]))
    preset = _tiny_preset(steps=2)
    a = get_or_train(DID, preset, root, cache_dir=tmp_path / "cache", device="cpu", progress=False)

    def boom(*a, **k):
        raise AssertionError("should have reused the cached run")

    monkeypatch.setattr("rawdiff.did.train.train_did", boom)
    b = get_or_train(DID, preset, root, cache_dir=tmp_path / "cache", device="cpu", progress=False)
    assert b.run_dir == a.run_dir
    (root / "marker.txt").write_text("v2")  # new data -> new key -> must train
    with pytest.raises(AssertionError, match="reused"):
        get_or_train(DID, preset, root, cache_dir=tmp_path / "cache", device="cpu", progress=False)


def test_evaluate_settings_rows(tmp_path):
    dark, bright = _images(2)
    m = train_did_tensors(_tiny_preset(2), dark, bright, None, device="cpu", progress=False, lpips=None).model
    d = torch.stack(dark)[:, :, :64, :64]
    t = torch.stack(bright)[:, :, :64, :64]
    settings = [{**s, "num_steps": 2} for s in ilvr_settings((0, 2)) + overlap_settings((8,))]
    rows, results = evaluate_settings(m, d, t, settings, metrics=("psnr", "ssim", "lpips"))
    assert [r["setting"] for r in rows] == ["ILVR k=0", "ILVR k=2", "blended tiles (overlap 8)"]
    for r in rows:
        assert isinstance(r["psnr"], float) and r["tile_nfe_per_image"] > 0
        assert isinstance(r["lpips"], (float, str))
        if isinstance(r["lpips"], str):
            assert r["lpips"].startswith("unavailable")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    dark, bright = _images(2)
    run = tmp_path_factory.mktemp("did") / "run"
    train_did_tensors(_tiny_preset(2), dark, bright, run, device="cpu", progress=False, lpips=None)
    return run


def test_cli_enhance_any_size_and_clear_errors(tiny_run, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from rawdiff.cli import main

    src = tmp_path / "dark.png"
    Image.fromarray((np.random.default_rng(0).random((97, 311, 3)) * 40).astype(np.uint8)).save(src)
    out = tmp_path / "out.png"
    rc = main(["enhance", "--run", str(tiny_run), "--ilvr-steps", "3", "--overlap", "8", "--steps", "3",
               "--seed", "1", str(src), str(out)])
    assert rc == 0
    assert Image.open(out).size == (311, 97)

    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    for argv, msg in [([str(tmp_path / "missing.png"), str(out)], "no such file"),
                      ([str(bad), str(out)], "not a readable image"),
                      ([str(src), str(tmp_path / "out.xyz")], "output must end"),
                      (["--overlap", "40", str(src), str(out)], "--overlap"),
                      ([str(tmp_path / "broken.dng"), str(out)], "")]:
        if argv[0].endswith("broken.dng"):
            (tmp_path / "broken.dng").write_bytes(b"not a raw file")
        capsys.readouterr()
        assert main(["enhance", "--run", str(tiny_run), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("rawdiff enhance: error:") and msg in err
    capsys.readouterr()
    assert main(["enhance", "--run", str(tmp_path), str(src), str(out)]) == 2
    assert "not a DiD run" in capsys.readouterr().err


def _write_dng(path, h=64, w=96, seed=0):
    """A small RGGB DNG (pidng) that rawpy reads back."""
    import numpy as np

    pytest.importorskip("pidng")
    from rawdiff.camera.dng import write_bayer_dng

    raw = (np.random.default_rng(seed).random((h, w)) * 600 + 64).astype(np.uint16)
    return write_bayer_dng(path, raw, "RGGB", (64,) * 4, 4095, neutral=[1, 1, 1], color_matrix=np.eye(3))


def test_cli_enhance_raw_dng(tiny_run, tmp_path):
    pytest.importorskip("rawpy")
    from PIL import Image

    from rawdiff.cli import main

    src = _write_dng(tmp_path / "dark.dng")
    out = tmp_path / "out.png"
    assert main(["enhance", "--run", str(tiny_run), "--steps", "2", str(src), str(out)]) == 0
    w, h = Image.open(out).size
    assert h > 0 and w > 0


def test_existing_run_needs_resume(tiny_run):
    from rawdiff.errors import RawdiffError

    before = (tiny_run / "run.json").read_text()
    dark, bright = _images(2, seed=5)
    with pytest.raises(RawdiffError, match="resume"):
        train_did_tensors(_tiny_preset(2), dark, bright, tiny_run, device="cpu", progress=False, lpips=None)
    assert (tiny_run / "run.json").read_text() == before  # metadata of the existing run untouched


@pytest.mark.filterwarnings("ignore:DiD loss runs without")
def test_sampler_settings_are_not_trained_and_old_runs_keep_theirs(tmp_path):
    """The sampler (rawdiff.config.DiDSampler) is saved beside the run, replaced by a caller's preset, and read
    from the ``did`` / ``edm`` sections of runs saved before it had its own config."""
    import json
    from dataclasses import replace

    dark, bright = _images(2)
    preset = _tiny_preset(2)
    preset = replace(preset, did_sampler=replace(preset.did_sampler, ilvr_steps=2, num_steps=4))
    run = tmp_path / "run"
    train_did_tensors(preset, dark, bright, run, device="cpu", progress=False, lpips=None)
    assert load_did(run, device="cpu").sampler == preset.did_sampler
    other = replace(preset, did_sampler=replace(preset.did_sampler, ilvr_steps=5))
    assert load_did(run, device="cpu", preset=other).sampler.ilvr_steps == 5
    run_json = json.loads((run / "run.json").read_text())
    meta = run_json.pop("config")          # a run saved before run.json held its configs: they sat in did.json
    (run / "run.json").write_text(json.dumps(run_json))
    old = {k: v for k, v in meta.items() if k != "sampler"}
    old["did"] = {**meta["did"], "ilvr_steps": 3, "tile_overlap": 8, "normalization": "tail"}
    old["edm"] = {**meta["edm"], "num_steps": 7, "sigma_max": 60.0}
    (run / "did.json").write_text(json.dumps(old))
    s = load_did(run, device="cpu").sampler
    assert (s.ilvr_steps, s.tile_overlap, s.num_steps, s.sigma_max) == (3, 8, 7, 60.0)
