"""rawdiff.data: scenes, synthetic datasets (layout, bit depth, determinism), loaders, checks, I/O errors, RAW."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rawdiff.config import DataConfig
from rawdiff.data.datasets import ensure_datasets
from rawdiff.data.check import check_dataset, inspect_dataset
from rawdiff.data.io import png_header, read_bayer_png, read_png16, read_rgb
from rawdiff.data.write import write_png16
from rawdiff.data.loaders import LowLightDataset, SIDSonyDataset, ZRRDataset, read_raw
from rawdiff.data.scenes import SceneBank, dead_leaves, random_scene, random_scenes
from rawdiff.data.synth import (
    lowlight_batch,
    phone2dslr_batch,
    synth_lowlight,
    synth_phone2dslr,
)
from rawdiff.errors import DataError
from rawdiff.utils import make_generator, sha256_file

SIZE = 32


@pytest.fixture(scope="module")
def bank():
    return SceneBank.load()


@pytest.fixture(scope="module")
def phone_root(tmp_path_factory, bank):
    return synth_phone2dslr(tmp_path_factory.mktemp("p") / "zrr", n_train=3, n_test=2, size=SIZE, seed=0,
                            progress=False, bank=bank)


@pytest.fixture(scope="module")
def low_root(tmp_path_factory, bank):
    return synth_lowlight(tmp_path_factory.mktemp("l") / "low", n_train=3, n_test=2, size=64, seed=0,
                          text_fraction=0.5, progress=False, bank=bank)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------- scenes
def test_scene_bank_loads_shipped_photos_offline(bank):
    assert len(bank) >= 5, bank                      # skimage + matplotlib ship >= 10 of them
    assert "astronaut" in bank.names
    for p in bank.photos:
        assert p.dtype == torch.uint8 and p.shape[0] == 3 and min(p.shape[1:]) <= 512


def test_random_scenes_shape_range_and_seed(bank):
    a = random_scenes(4, SIZE, make_generator(3), bank)
    b = random_scenes(4, SIZE, make_generator(3), bank)
    c = random_scenes(4, SIZE, make_generator(4), bank)
    assert a.shape == (4, 3, SIZE, SIZE) and a.dtype == torch.float32
    assert 0 <= float(a.min()) and float(a.max()) <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    dl = dead_leaves(48, make_generator(0))
    assert dl.shape == (3, 48, 48) and float(dl.std()) > 0.05     # textured, not flat
    assert random_scene(SIZE, make_generator(0)).shape == (3, SIZE, SIZE)   # bank=None: dead leaves only


# ------------------------------------------------------------------------------------------- synth layout
def test_synth_phone2dslr_writes_zrr_layout(phone_root):
    files = set(_tree(phone_root))
    expected = {"manifest.json"} | {f"{s}/huawei_raw/{i}.png" for s, n in (("train", 3), ("test", 2)) for i in range(n)} \
        | {f"{s}/canon/{i}.jpg" for s, n in (("train", 3), ("test", 2)) for i in range(n)} \
        | {"train/meta.json", "test/meta.json"}
    assert files == expected
    for p in phone_root.glob("*/huawei_raw/*.png"):
        h = png_header(p)
        assert (h["bit_depth"], h["colour_type"], h["width"], h["height"]) == (16, 0, SIZE, SIZE)
        raw = read_png16(p)
        assert raw.dtype == np.uint16 and raw.shape == (SIZE, SIZE)
        assert 63 <= raw.min() and raw.max() <= 1020
        assert len(np.unique(raw)) > 20            # real content, not a constant
    for p in phone_root.glob("*/canon/*.jpg"):
        with Image.open(p) as im:
            assert im.format == "JPEG" and im.mode == "RGB" and im.size == (SIZE, SIZE)


def test_manifest_records_sha256_and_config(phone_root):
    m = json.loads((phone_root / "manifest.json").read_text())
    assert m["kind"] == "phone2dslr" and m["config"]["seed"] == 0 and m["config"]["size"] == SIZE
    assert (m["config"]["n_train"], m["config"]["n_test"]) == (3, 2) and "rawdiff_version" in m
    assert len(m["files"]) == 12
    for rel, info in m["files"].items():
        p = phone_root / rel
        assert sha256_file(p) == info["sha256"] and p.stat().st_size == info["size"]


def test_synth_lowlight_layout_and_labels(low_root):
    for split, n in (("train", 3), ("test", 2)):
        for sub in ("low", "high", "raw_low"):
            assert sorted(p.name for p in (low_root / split / sub).iterdir()) == [f"{i}.png" for i in range(n)]
        labels = json.loads((low_root / split / "labels.json").read_text())
        assert set(labels) == {str(i) for i in range(n)}
        assert all(isinstance(v, list) and all(isinstance(w, str) and w for w in v) for v in labels.values())
        for i in range(n):
            assert read_rgb(low_root / split / "low" / f"{i}.png").shape == (64, 64, 3)
            raw = read_bayer_png(low_root / split / "raw_low" / f"{i}.png")
            assert raw.shape == (64, 64) and 63 <= raw.min() and raw.max() <= 1020
    assert check_dataset(low_root) == []


def test_lowlight_text_fraction_extremes(tmp_path, bank):
    all_text = synth_lowlight(tmp_path / "t", n_train=3, n_test=0, size=64, text_fraction=1.0, progress=False,
                              bank=bank)
    no_text = synth_lowlight(tmp_path / "n", n_train=3, n_test=0, size=64, text_fraction=0.0, progress=False,
                             bank=bank)
    assert all(json.loads((all_text / "train" / "labels.json").read_text()).values())
    assert not any(json.loads((no_text / "train" / "labels.json").read_text()).values())
    assert LowLightDataset(all_text, "test").labels == []             # empty split still readable
    ds = LowLightDataset(all_text, "train")
    assert all(lab and lab == lab.strip() for lab in ds.labels)
    assert float(ds[0]["low"].mean()) < float(ds[0]["high"].mean())    # dark vs well lit


# ------------------------------------------------------------------------------------------- determinism
def test_same_seed_same_bytes_different_seed_differs(tmp_path, bank, phone_root):
    again = synth_phone2dslr(tmp_path / "a", n_train=3, n_test=2, size=SIZE, seed=0, progress=False, bank=bank)
    other = synth_phone2dslr(tmp_path / "b", n_train=3, n_test=2, size=SIZE, seed=1, progress=False, bank=bank)
    assert _tree(again) == _tree(phone_root)
    t0, t1 = _tree(phone_root), _tree(other)
    assert all(t0[k] != t1[k] for k in t0 if k != "manifest.json")


def test_image_depends_only_on_seed_split_index(tmp_path, bank, phone_root):
    fewer = synth_phone2dslr(tmp_path / "f", n_train=2, n_test=1, size=SIZE, seed=0, progress=False, bank=bank)
    full = _tree(phone_root)
    for rel, data in _tree(fewer).items():
        if rel.endswith("meta.json"):   # one record per pair: the fewer pairs' records are the same
            small, big = json.loads(data), json.loads(full[rel])
            assert all(big[k] == v for k, v in small.items()), rel
        elif rel != "manifest.json":
            assert full[rel] == data, rel


def test_on_the_fly_batches(bank):
    a = phone2dslr_batch(2, SIZE, make_generator(5), bank=bank)
    b = phone2dslr_batch(2, SIZE, make_generator(5), bank=bank)
    assert a["raw"].shape == (2, 4, SIZE // 2, SIZE // 2) and a["rgb"].shape == (2, 3, SIZE, SIZE)
    assert 0 <= float(a["raw"].min()) and float(a["raw"].max()) <= 1
    assert torch.equal(a["raw"], b["raw"]) and torch.equal(a["rgb"], b["rgb"])
    ll = lowlight_batch(2, SIZE, make_generator(5))
    assert ll["low"].shape == ll["high"].shape == (2, 3, SIZE, SIZE)
    assert float(ll["low"].mean()) < float(ll["high"].mean())


# ------------------------------------------------------------------------------------------- loaders
def test_zrr_loader_reads_synthetic_pairs(phone_root):
    ds = ZRRDataset(phone_root, "train")
    assert len(ds) == 3 and ds.names == ["0", "1", "2"]
    it = ds[1]
    assert it["raw"].shape == (4, SIZE // 2, SIZE // 2) and it["rgb"].shape == (3, SIZE, SIZE)
    assert it["raw"].dtype == it["rgb"].dtype == torch.float32 and it["name"] == "1"
    dn = torch.from_numpy(read_png16(phone_root / "train" / "huawei_raw" / "1.png").astype(np.float32))
    assert torch.allclose(it["raw"][0], (dn[0::2, 0::2] - 63) / 957)       # R at [0::2, 0::2]
    assert torch.allclose(it["raw"][3], (dn[1::2, 1::2] - 63) / 957)       # B
    t = ZRRDataset(phone_root, "test").tensors()
    assert t["raw"].shape == (2, 4, SIZE // 2, SIZE // 2) and t["rgb"].shape == (2, 3, SIZE, SIZE)
    assert 0 <= float(t["rgb"].min()) and float(t["rgb"].max()) <= 1
    with pytest.raises(DataError, match="huawei_raw"):
        ZRRDataset(phone_root.parent, "train")


def test_lowlight_loader_reads_synthetic(low_root):
    ds = LowLightDataset(low_root, "train")
    it = ds[0]
    assert it["low"].shape == it["high"].shape == (3, 64, 64) and isinstance(it["label"], str)
    labels = json.loads((low_root / "train" / "labels.json").read_text())
    assert ds.labels == [" ".join(labels[str(i)]) for i in range(3)]
    assert LowLightDataset(low_root, "test").tensors()["low"].shape == (2, 3, 64, 64)


def _fake_lol(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for folder, n in (("our485", 3), ("eval15", 2)):
        for sub, scale in (("low", 40), ("high", 255)):
            (root / folder / sub).mkdir(parents=True)
            for i in range(n):
                arr = (rng.random((24, 36, 3)) * scale).astype(np.uint8)
                Image.fromarray(arr).save(root / folder / sub / f"{i + 1}.png")
    return root


def test_lol_layout_is_read(tmp_path, phone_root):
    lol = _fake_lol(tmp_path / "data" / "LOL")
    train, test = LowLightDataset(lol, "train"), LowLightDataset(lol, "test")
    assert (len(train), len(test)) == (3, 2) and train.layout == "lol"
    it = test[1]
    assert it["low"].shape == (3, 24, 36) and it["label"] == "" and it["name"] == "2"
    assert float(it["low"].max()) < 0.2 < float(it["high"].max())
    assert check_dataset(lol) == [] and inspect_dataset(lol).layout == "lol"
    # ensure_datasets finds data_root/zrr + data_root/LOL
    shutil.copytree(phone_root, tmp_path / "data" / "zrr")
    p, low = ensure_datasets(DataConfig(), data_root=tmp_path / "data")
    assert (p, low) == (tmp_path / "data" / "zrr", lol)
    # only ZRR there: the low-light set is synthesised (into cache_dir), the real ZRR is used as is
    tiny = DataConfig(lowlight_size=32, lowlight_n_train=2, lowlight_n_test=1)
    p, low = ensure_datasets(tiny, data_root=tmp_path / "data" / "zrr", cache_dir=tmp_path / "cache", progress=False)
    assert p == tmp_path / "data" / "zrr" and low.parent == tmp_path / "cache" / "data"
    assert len(LowLightDataset(low, "train")) == 2
    # neither dataset there: one error naming both expectations
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="expected a ZRR dataset.*expected a low-light dataset"):
        ensure_datasets(DataConfig(), data_root=tmp_path / "empty")


def test_ensure_datasets_reuses_cache(tmp_path):
    cfg = DataConfig(phone_size=32, phone_n_train=2, phone_n_test=1, lowlight_size=32, lowlight_n_train=2,
                     lowlight_n_test=1)
    p1, l1 = ensure_datasets(cfg, seed=0, cache_dir=tmp_path, progress=False)
    assert p1.parent == tmp_path / "data" and p1.name.startswith("phone2dslr-") and l1.name.startswith("lowlight-")
    stamp = {f: f.stat().st_mtime_ns for f in [*p1.rglob("*"), *l1.rglob("*")]}
    p2, l2 = ensure_datasets(cfg, seed=0, cache_dir=tmp_path, progress=False)
    assert (p2, l2) == (p1, l1)
    assert {f: f.stat().st_mtime_ns for f in [*p1.rglob("*"), *l1.rglob("*")]} == stamp
    p3, l3 = ensure_datasets(cfg, seed=1, cache_dir=tmp_path, progress=False)
    assert p3 != p1 and l3 != l1
    assert len(ZRRDataset(p1, "train")) == 2 and len(LowLightDataset(l1, "test")) == 1


# ------------------------------------------------------------------------------------------- check
def test_check_detects_corruption_missing_pair_and_bit_depth(tmp_path, phone_root):
    root = tmp_path / "z"
    shutil.copytree(phone_root, root)
    assert check_dataset(root) == []
    jpg = root / "train" / "canon" / "1.jpg"          # same size, one byte changed -> only sha256 can tell
    data = bytearray(jpg.read_bytes())
    data[len(data) // 2] ^= 0xFF
    jpg.write_bytes(bytes(data))
    (root / "test" / "canon" / "0.jpg").unlink()
    Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(root / "train" / "huawei_raw" / "2.png")
    problems = "\n".join(check_dataset(root))
    assert f"{jpg}: sha256 does not match" in problems
    assert "test/huawei_raw/0.png: missing pair" in problems
    assert "train/huawei_raw/2.png: expected 16-bit single-channel PNG, got 8-bit RGB" in problems
    with pytest.raises(DataError, match="no such dataset folder"):
        check_dataset(tmp_path / "nothing")


def test_check_flags_out_of_range_raw(tmp_path, phone_root):
    root = tmp_path / "z"
    shutil.copytree(phone_root, root)
    (root / "manifest.json").unlink()                 # a real-ZRR-like copy: no manifest, 10-bit limit only
    write_png16(root / "train" / "huawei_raw" / "0.png", np.full((SIZE, SIZE), 4000, np.uint16))
    problems = check_dataset(root)
    assert len(problems) == 1 and "expected 10-bit values" in problems[0]


# ------------------------------------------------------------------------------------------- io errors
def test_io_errors_are_one_line_data_errors(tmp_path):
    good = tmp_path / "good.png"
    write_png16(good, np.arange(32 * 32, dtype=np.uint16).reshape(32, 32))
    assert read_bayer_png(good)[1, 2] == 34
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(good.read_bytes()[:-60])
    rgb8 = tmp_path / "rgb8.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(rgb8)
    odd = tmp_path / "odd.png"
    write_png16(odd, np.zeros((31, 32), np.uint16))
    cases = [(trunc, read_png16, "corrupt or truncated"),
             (rgb8, read_png16, "expected 16-bit single-channel PNG, got 8-bit RGB"),
             (odd, read_bayer_png, "expected even height and width"),
             (tmp_path / "missing.png", read_png16, "no such file"),
             (good, read_rgb, "expected 8-bit RGB PNG, got 16-bit single-channel"),
             (tmp_path, read_rgb, "expected a file")]
    for path, fn, msg in cases:
        with pytest.raises(DataError) as err:
            fn(path)
        text = str(err.value)
        assert text.startswith(str(path)) and msg in text and "\n" not in text, text
    with pytest.raises(DataError, match="odd.png: expected even"):
        read_raw(odd)


# ------------------------------------------------------------------------------------------- RAW files
def _write_dng(path: Path, arr: np.ndarray, pattern: str = "RGGB", black: int = 64, white: int = 4000) -> Path:
    from rawdiff.camera.dng import write_bayer_dng

    return write_bayer_dng(path, arr, pattern, (black,) * 4, white, neutral=[1, 1, 1], color_matrix=np.eye(3))


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR"])
def test_read_raw_dng_bit_exact(tmp_path, pattern):
    pytest.importorskip("pidng")
    pytest.importorskip("rawpy")
    arr = np.random.default_rng(1).integers(64, 4000, (32, 48)).astype(np.uint16)
    dng = _write_dng(tmp_path / "x.dng", arr, pattern)
    r = read_raw(dng, normalize=False)    # always RGGB: BGGR loses its first row and column (and last, even size)
    assert r["pattern"] == "RGGB" and r["meta"]["cfa"] == pattern and r["black"] == [64.0] * 4 and r["white"] == 4000.0
    c0 = 0 if pattern == "RGGB" else 1
    exact = torch.from_numpy(arr.astype(np.float32))[c0:32 - 2 * c0 + c0, c0:48 - 2 * c0 + c0]
    for c, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        assert torch.equal(r["packed"][c], exact[dy::2, dx::2])
    n = read_raw(dng)["packed"]
    assert n.shape == (4, 16 - c0, 24 - c0) and torch.allclose(n, (r["packed"] - 64) / (4000 - 64))
    bad = tmp_path / "bad.dng"
    bad.write_bytes(dng.read_bytes()[:100])
    with pytest.raises(DataError, match="bad.dng: not a RAW file LibRaw can read"):
        read_raw(bad)


def test_read_raw_zrr_png_and_sid_layout(tmp_path, phone_root):
    r = read_raw(phone_root / "test" / "huawei_raw" / "0.png")
    assert r["pattern"] == "RGGB" and r["black"] == [63.0] * 4 and r["white"] == 1020.0
    assert r["packed"].shape == (4, SIZE // 2, SIZE // 2)
    pytest.importorskip("pidng")
    pytest.importorskip("rawpy")
    sony = tmp_path / "SID" / "Sony"
    (sony / "short").mkdir(parents=True)
    (sony / "long").mkdir()
    arr = np.random.default_rng(2).integers(512, 16383, (32, 32)).astype(np.uint16)   # LibRaw rejects < ~22 px
    _write_dng(sony / "short" / "00001_00_0.1s.ARW", arr, black=512, white=16383)
    _write_dng(sony / "short" / "00002_00_0.04s.ARW", arr, black=512, white=16383)
    _write_dng(sony / "long" / "00001_00_10s.ARW", arr, black=512, white=16383)
    _write_dng(sony / "long" / "00002_00_30s.ARW", arr, black=512, white=16383)
    (tmp_path / "SID" / "Sony_test_list.txt").write_text(
        "./Sony/short/00001_00_0.1s.ARW ./Sony/long/00001_00_10s.ARW ISO200 F8\n"
        "./Sony/short/00002_00_0.04s.ARW ./Sony/long/00002_00_30s.ARW ISO200 F8\n")
    ds = SIDSonyDataset(tmp_path / "SID", "test")
    assert len(ds) == 2
    a, b = ds[0], ds[1]
    assert a["ratio"] == pytest.approx(100.0) and b["ratio"] == 300.0           # 750 capped at 300
    assert a["short"].shape == a["long"].shape == (4, 16, 16) and a["pattern"] == "RGGB"
    with pytest.raises(DataError, match="Sony_train_list.txt"):
        SIDSonyDataset(tmp_path / "SID", "train")


def test_synth_refuses_existing_output_and_leaves_no_partial(tmp_path, bank, monkeypatch):
    out = tmp_path / "x"
    out.mkdir()
    with pytest.raises(DataError, match="already exists"):
        synth_phone2dslr(out, n_train=1, n_test=0, size=SIZE, progress=False, bank=bank)
    import rawdiff.data.synth as S

    calls = []

    def boom(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise DataError("simulated failure")
        return real(*a, **k)

    real = S.phone2dslr_item
    monkeypatch.setattr(S, "phone2dslr_item", boom)
    with pytest.raises(DataError, match="simulated"):
        synth_phone2dslr(tmp_path / "y", n_train=3, n_test=0, size=SIZE, progress=False, bank=bank)
    assert sorted(os.listdir(tmp_path)) == ["x"]


def test_lowlight_gain_range_controls_darkness(tmp_path, bank):
    kw = {"n_train": 2, "n_test": 0, "size": 32, "seed": 3, "progress": False, "bank": bank}
    plain = synth_lowlight(tmp_path / "g1", gain=(1.0, 1.0), **kw)
    gained = synth_lowlight(tmp_path / "g20", gain=(20.0, 20.0), **kw)
    exp = json.loads((gained / "train" / "exposure.json").read_text())
    assert [e["gain"] for e in exp.values()] == [20.0, 20.0] and all(100 <= e["ratio"] <= 300 for e in exp.values())
    a, b = LowLightDataset(plain, "train").tensors(), LowLightDataset(gained, "train").tensors()
    assert torch.equal(a["high"], b["high"])                          # same scenes, only the ISP gain differs
    assert float(a["low"].mean()) * 4 < float(b["low"].mean())
    with pytest.raises(DataError, match="gain must be a range"):
        synth_lowlight(tmp_path / "bad", gain=(2.0, 1.0), **kw)
