"""rawdiff.runs.store: one cache key, one run format, reuse / rebuild of cache entries, run discovery and the CLI's
default-run lookup (``rawdiff develop`` / ``enhance`` without --run, ``rawdiff runs``)."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from rawdiff.runs import store as runs
from rawdiff.config import ISPNetConfig, TrainConfig, UNetConfig
from rawdiff.presets import get_preset
from rawdiff.errors import DataError
from rawdiff.did.enhance import DiDModel
from rawdiff.did.train import DID, did_key, lpips_active, train_did_tensors
from rawdiff.diffraw.data import PhoneData
from rawdiff.diffraw.train import DIFFRAW, ISP, build_ispnet, diffraw_key, ispnet_key
from rawdiff.runs.lifecycle import get_or_train
from rawdiff.runs.kinds import load as load_any
from rawdiff.runs.store import train_config


def _tiny_diffraw():
    p = get_preset("smoke")
    return replace(p, isp_net=ISPNetConfig(channels=8, num_blocks=1, train_crop=8),
                   isp_train=TrainConfig(steps=2, batch_size=2, log_every=1, ckpt_every=2),
                   diffraw_unet=UNetConfig(in_channels=10, out_channels=3, base_channels=8, channel_mults=(1, 2),
                                           num_res_blocks=1),
                   diffraw_train=TrainConfig(steps=2, batch_size=2, log_every=1, ckpt_every=2),
                   dtdm=replace(p.dtdm, train_crop=8))


def _phone(n=4, size=16):
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(n, 3, size, size, generator=g)
    raw = torch.stack([rgb[:, 0, 0::2, 0::2], rgb[:, 1, 0::2, 1::2], rgb[:, 1, 1::2, 0::2], rgb[:, 2, 1::2, 1::2]], 1)
    return PhoneData(raw * 0.5, rgb, [str(i) for i in range(n)])


# ----------------------------------------------------------------------------------------------- keys
def test_cache_key_changes_with_seed_lpips_data_config_and_only_then():
    t = get_preset("smoke").did_train
    base = dict(model={"width": 8}, train=t, data="digest-1", seed=0, lpips=False)
    k = runs.cache_key("did", **base)
    assert k == runs.cache_key("did", **base) and len(k) == 16
    for change in (dict(seed=1), dict(lpips=True), dict(data="digest-2"), dict(model={"width": 16}),
                   dict(train=replace(t, lr=t.lr * 2)), dict(train=replace(t, steps=t.steps + 1))):
        assert runs.cache_key("did", **{**base, **change}) != k, change
    # logging / checkpoint cadence do not change the weights
    assert runs.cache_key("did", **{**base, "train": replace(t, log_every=1, ckpt_every=7)}) == k
    assert runs.cache_key("isp", **base) != k


def test_pipeline_keys_cover_seed_lpips_and_ignore_sampler_settings():
    p = get_preset("smoke")
    t0, t1 = p.did_train, train_config(p.did_train, seed=1)
    k = did_key(p, t0, "d")
    assert did_key(p, t1, "d") != k
    assert did_key(p, t0, "d", normalization="linear") != k and did_key(p, t0, "e") != k
    assert did_key(replace(p, did_unet=replace(p.did_unet, base_channels=8)), t0, "d") != k
    sampler_only = replace(p, did_sampler=replace(p.did_sampler, ilvr_steps=3, tile_overlap=8, num_steps=5))
    assert did_key(sampler_only, t0, "d") == k
    d0, d1 = p.diffraw_train, train_config(p.diffraw_train, seed=1)
    a = diffraw_key(p, d0, "fp")
    assert diffraw_key(p, d1, "fp") != a and diffraw_key(p, d0, "fp", s=p.dtdm.s // 2) != a
    assert diffraw_key(replace(p, dtdm_sampler=replace(p.dtdm_sampler, sample_steps=9)), d0, "fp") == a
    assert diffraw_key(p, d0, "fp", mode="ddpm", s=10) == diffraw_key(p, d0, "fp", mode="ddpm", s=20)
    assert ispnet_key(p, p.isp_train, "fp") != ispnet_key(p, train_config(p.isp_train, seed=1), "fp")


def test_did_lpips_active_follows_the_setting(monkeypatch):
    p = get_preset("smoke")
    assert not lpips_active(p, None)
    assert not lpips_active(replace(p, edm=replace(p.edm, lpips_weight=0.0)), "auto")
    import rawdiff.metrics.image as M

    monkeypatch.setattr("rawdiff.did.train.metric_availability", lambda name: M.Availability(name, "fr", True))
    assert lpips_active(p, "auto")


def test_data_digest_one_policy(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.bin").write_bytes(b"1234")
    d1 = runs.data_digest(tmp_path)
    (tmp_path / ".hidden").write_text("ignored")
    assert runs.data_digest(tmp_path) == d1
    (tmp_path / "a" / "x.bin").write_bytes(b"1235")  # same size, new content
    assert runs.data_digest(tmp_path) != d1
    # above the file cap: names + sizes (a same-size edit is not seen), recorded in the digest
    assert runs.data_digest(tmp_path, max_content_files=0) != runs.data_digest(tmp_path)
    with pytest.raises(DataError):
        runs.data_digest(tmp_path / "missing")


# ----------------------------------------------------------------------------------------------- get_or_train
def test_same_seed_reuses_cache_and_run_json_is_written(tmp_path, monkeypatch):
    preset, data = _tiny_diffraw(), _phone()
    a = get_or_train(ISP, preset, data, "fp", cache_dir=tmp_path, device="cpu", seed=0, progress=False)
    assert not a.reused
    meta = runs.read_meta(a.run_dir)
    assert meta["kind"] == "isp" and meta["seed"] == 0 and meta["steps"] == 2 and meta["data_digest"] == "fp"
    assert meta["wall_seconds"] >= 0 and meta["date"] and "git_commit" in meta and meta["format"] == 1

    import rawdiff.diffraw.train as T

    def boom(*a, **k):
        raise AssertionError("retrained a cached run")

    monkeypatch.setattr(T, "train_ispnet", boom)
    b = get_or_train(ISP, preset, data, "fp", cache_dir=tmp_path, device="cpu", seed=0, progress=False)
    assert b.reused and b.run_dir == a.run_dir
    for n1, n2 in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert torch.equal(n1, n2)
    with pytest.raises(AssertionError, match="retrained"):  # another seed is another entry
        get_or_train(ISP, preset, data, "fp", cache_dir=tmp_path, device="cpu", seed=1, progress=False)


def test_did_seed_reaches_training(tmp_path, monkeypatch):
    seen = []

    def fake_train(preset, root, out, **kw):
        seen.append(kw["seed"])
        raise RuntimeError("stop")

    monkeypatch.setattr("rawdiff.did.train.train_did", fake_train)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.txt").write_text("x")
    with pytest.raises(RuntimeError):
        get_or_train(DID, "smoke", tmp_path / "d", cache_dir=tmp_path / "c", device="cpu", seed=3, lpips=None)
    assert seen == [3]


def test_corrupt_entry_is_rebuilt_with_a_warning(tmp_path):
    from rawdiff.runs.lifecycle import ModelKind

    calls = []

    def train_fn(preset, data, d, *, tcfg, resume, **kw):  # what rawdiff.train leaves (+ our fake weights)
        calls.append(resume)
        (d / "ckpt-00000001").mkdir(parents=True, exist_ok=True)
        (d / "ckpt-00000001" / "state.json").write_text(json.dumps({"step": 1, "history": []}))
        (d / "latest").write_text("ckpt-00000001")
        (d / "weights").write_text("good")

    def load_fn(d, device="auto", **kw):
        if (d / "weights").read_text() != "good":
            raise DataError(f"{d}: truncated weights")
        return "model"

    fake = ModelKind(name="isp", train_cfg=lambda p: replace(p.isp_train, steps=1), key=lambda p, t, d: "0123",
                     train=train_fn, load=load_fn, folder=lambda: "x")
    kw = dict(cache_dir=tmp_path / "cache", progress=False)
    hit = get_or_train(fake, "smoke", None, "fp", **kw)
    run = hit.run_dir
    assert run == tmp_path / "cache" / "x-0123"
    assert hit.model == "model" and not hit.reused and calls == [False]
    hit = get_or_train(fake, "smoke", None, "fp", **kw)
    assert hit.reused and calls == [False]
    (run / "weights").write_text("go")  # corrupt it
    with pytest.warns(UserWarning, match="unreadable"):
        hit = get_or_train(fake, "smoke", None, "fp", **kw)
    assert hit.model == "model" and not hit.reused and calls == [False, False]
    assert runs.read_meta(run)["kind"] == "isp"
    assert not [p for p in run.parent.iterdir() if p.name.startswith(".")]  # no leftover temp folder


def test_real_corrupt_checkpoint_is_rebuilt(tmp_path):
    from rawdiff.train import load_run

    preset, data = _tiny_diffraw(), _phone()
    a = get_or_train(ISP, preset, data, "fp", cache_dir=tmp_path, device="cpu", progress=False)
    ema = next(a.run_dir.glob("ckpt-*/ema.safetensors"))
    ema.write_bytes(ema.read_bytes()[:100])
    try:
        load_run(a.run_dir, build_ispnet(preset))
    except DataError:
        pass
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"rawdiff.train raises {type(err).__name__}, not DataError, on a truncated checkpoint "
                    f"(issue 14 hardens it)")
    with pytest.warns(UserWarning, match="unreadable"):
        b = get_or_train(ISP, preset, data, "fp", cache_dir=tmp_path, device="cpu", progress=False)
    assert not b.reused and b.run_dir == a.run_dir
    load_run(b.run_dir, build_ispnet(preset))


# ----------------------------------------------------------------------------------------------- discovery + CLI
def _fake_run(path, kind, date, **meta):
    path.mkdir(parents=True)
    (path / "latest").write_text("ckpt-00000001")
    runs.write_meta(path, kind=kind, date=date, scale="smoke", steps=5, data="/d", **meta)
    return path


def test_find_runs_newest_first_by_kind(tmp_path):
    old = _fake_run(tmp_path / "cache" / "did-tail-aaaa", "did", "2026-01-01T00:00:00+00:00")
    new = _fake_run(tmp_path / "runs" / "mine", "did", "2026-02-01T00:00:00+00:00")
    _fake_run(tmp_path / "cache" / "diffraw" / "isp-bbbb", "isp", "2026-03-01T00:00:00+00:00")
    (tmp_path / "cache" / ".did-tail-cccc.partial").mkdir()  # in-progress temp folders are skipped
    roots = [tmp_path / "cache", tmp_path / "runs"]
    found = runs.find_runs(roots, "did")
    assert [r.path for r in found] == [new, old]
    assert runs.latest_run("did", roots).path == new
    assert [r.kind for r in runs.find_runs(roots)] == ["isp", "did", "did"]
    assert runs.latest_run("regress", roots) is None


def test_default_did_run_skips_the_linear_normalisation_ablation(tmp_path, monkeypatch):
    from rawdiff.did.train import default_did_run

    monkeypatch.setenv("RAWDIFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    tail = _fake_run(tmp_path / "cache" / "did-tail-aaaa", "did", "2026-01-01T00:00:00+00:00", normalization="tail")
    _fake_run(tmp_path / "cache" / "did-linear-bbbb", "did", "2026-02-01T00:00:00+00:00", normalization="linear")
    said = []
    assert runs.resolve_run(None, "did", "did", default_did_run, announce=said.append) == tail
    assert str(tail) in said[0]


def test_cli_without_runs_says_what_to_do(tmp_path, monkeypatch, capsys):
    from rawdiff.cli import main

    monkeypatch.setenv("RAWDIFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "in.png"
    src.write_bytes(b"")
    for cmd in ("enhance", "develop"):
        capsys.readouterr()
        assert main([cmd, str(src), str(tmp_path / "out.png")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "make reproduce" in err and "rawdiff train" in err, err
    assert main(["runs"]) == 0
    assert "no runs found" in capsys.readouterr().out


def test_cli_uses_newest_runs_of_the_right_kind(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from rawdiff.cli import main

    cache = tmp_path / "cache"
    monkeypatch.setenv("RAWDIFF_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    # a DiffRAW notebook cache entry (DTDM + its ISPNet) ...
    preset, data = _tiny_diffraw(), _phone()
    get_or_train(ISP, preset, data, "fp", cache_dir=cache, device="cpu", progress=False)
    dtdm = get_or_train(DIFFRAW, preset, data, "fp", cache_dir=cache, device="cpu", progress=False)
    get_or_train(DIFFRAW, preset, data, "fp", mode="ddpm", cache_dir=cache, device="cpu", progress=False)
    # ... and a DiD run written by the training command into ./runs
    dark = [torch.rand(3, 128, 128, generator=torch.Generator().manual_seed(i)) * 0.2 for i in range(2)]
    tiny = replace(get_preset("smoke"), did_unet=UNetConfig(in_channels=12, out_channels=3, base_channels=8,
                                                            channel_mults=(1, 2), num_res_blocks=1),
                   did_train=replace(get_preset("smoke").did_train, steps=1, batch_size=2, log_every=1))
    train_did_tensors(tiny, dark, [d * 4 for d in dark], tmp_path / "runs" / "did1", device="cpu",
                        progress=False, lpips=None)
    runs.write_meta(tmp_path / "runs" / "did1", kind="did", scale="smoke", steps=1)

    bayer = (np.random.default_rng(0).random((16, 24)) * 900 + 63).astype(np.uint16)
    Image.fromarray(bayer).save(tmp_path / "photo.png")
    capsys.readouterr()
    assert main(["develop", "--quiet", "--steps", "1", "--tile", "8", "--overlap", "2", str(tmp_path / "photo.png"),
                 str(tmp_path / "dev.png")]) == 0
    out = capsys.readouterr().out
    assert "using the newest diffraw run (smoke scale" in out and str(dtdm.run_dir) in out
    assert Image.open(tmp_path / "dev.png").size == (24, 16)

    Image.fromarray((np.random.default_rng(1).random((40, 50, 3)) * 40).astype(np.uint8)).save(tmp_path / "dark.png")
    assert main(["enhance", "--steps", "2", str(tmp_path / "dark.png"), str(tmp_path / "en.png")]) == 0
    out = capsys.readouterr().out
    assert "using the newest did run" in out and "did1" in out
    assert Image.open(tmp_path / "en.png").size == (50, 40)

    assert main(["runs"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split()[:6] == ["kind", "scale", "steps", "data", "date", "size"]
    body = "\n".join(listing[1:])
    assert len(listing) == 5 and "diffraw (ddpm, raw+c)" in body and "isp" in body and "did1" in body
    # one load for every kind
    isp, unet, cfg, conf = load_any(dtdm.run_dir, device="cpu")
    assert conf["kind"] == "diffraw" and cfg.s == preset.dtdm.s
    assert isinstance(load_any(tmp_path / "runs" / "did1", device="cpu"), DiDModel)
    isp_dir = dtdm.run_dir / runs.read_meta(dtdm.run_dir)["isp_run"]
    assert type(load_any(isp_dir, device="cpu")).__name__ == "ISPNet"
    # --run accepts a notebook cache entry directly
    assert main(["develop", "--quiet", "--run", str(dtdm.run_dir), "--steps", "1", "--tile", "8", "--overlap", "2",
                 str(tmp_path / "photo.png"), str(tmp_path / "dev2.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "dev.png")), np.asarray(Image.open(tmp_path / "dev2.png")))
