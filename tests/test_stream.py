"""Streaming data (issue 23): lazy PhoneData, chunks, and step batches that do not depend on ranks or workers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from rawdiff.data.write import write_png16
from rawdiff.diffraw.data import PhoneData, load_phone
from rawdiff.errors import DataError


def write_zrr(root, n: int, bayer: int = 32, seed: int = 0, split: str = "train"):
    """A ZRR-layout split of random pairs: ``bayer`` px 16-bit Bayer PNGs and ``bayer`` px JPEGs."""
    rs = np.random.default_rng(seed)
    (root / split / "huawei_raw").mkdir(parents=True, exist_ok=True)
    (root / split / "canon").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_png16(root / split / "huawei_raw" / f"{i}.png", rs.integers(40, 1100, (bayer, bayer), dtype=np.uint16))
        Image.fromarray(rs.integers(0, 256, (bayer, bayer, 3), dtype=np.uint8)).save(
            root / split / "canon" / f"{i}.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def zrr(tmp_path_factory):
    return write_zrr(tmp_path_factory.mktemp("zrr"), 7)


def test_size_switch_and_chunks_match_in_memory(zrr):
    mem = load_phone(zrr, "train")
    lazy = load_phone(zrr, "train", max_bytes=0)
    assert not mem.is_lazy and lazy.is_lazy
    assert len(lazy) == len(mem) == 7 and lazy.names == mem.names and lazy.meta is None
    assert mem.nbytes == lazy.nbytes == 7 * 16 * 32 * 32           # 4 H W float32 values per pair
    with pytest.raises(DataError, match="chunks"):
        lazy.raw
    for data in (mem, lazy):
        pieces = list(data.chunks(3))
        assert [len(p) for p in pieces] == [3, 3, 1] and not any(p.is_lazy for p in pieces)
        assert torch.equal(torch.cat([p.raw for p in pieces]), mem.raw)
        assert torch.equal(torch.cat([p.rgb for p in pieces]), mem.rgb)
        assert sum((p.names for p in pieces), []) == mem.names
    sub = lazy.subset(2)
    assert not sub.is_lazy and torch.equal(sub.rgb, mem.rgb[:2])


# ------------------------------------------------------------------ step batches: ranks, workers, resume
from dataclasses import replace  # noqa: E402

from rawdiff.config import DTDMConfig, TrainConfig  # noqa: E402
from rawdiff.data.stream import step_batches  # noqa: E402
from rawdiff.did.enhance import fit_normalizers  # noqa: E402
from rawdiff.did.regress import RandomCropBatches  # noqa: E402
from rawdiff.did.train import (DiskImages, MultiScalePatchBatches, PackedImages, fit_pair_normalizers,  # noqa: E402
                               load_lowlight)
from rawdiff.diffraw.train import diffraw_batch_fn, ispnet_batch_fn  # noqa: E402
from rawdiff.presets import get_preset  # noqa: E402

CPU = torch.device("cpu")


def write_lowlight(root, n: int, h: int = 40, w: int = 56, seed: int = 0):
    rs = np.random.default_rng(seed)
    for side in ("low", "high"):
        (root / "train" / side).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        for side in ("low", "high"):
            Image.fromarray(rs.integers(0, 256, (h + i % 3 * 8, w, 3), dtype=np.uint8)).save(
                root / "train" / side / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def low(tmp_path_factory):
    return write_lowlight(tmp_path_factory.mktemp("low"), 5)


def _collect(batch_fn, steps=3, start=0, world=1, workers=0, seed=4):
    """The global batches of steps [start, steps): each rank's rows from step_batches, concatenated."""
    cfg = TrainConfig(steps=steps, seed=seed)
    per_rank = [list(step_batches(batch_fn, cfg, start, r, world, CPU, workers=workers)) for r in range(world)]
    out = []
    for rows in zip(*per_rank):
        assert len({s for s, _ in rows}) == 1
        out.append({k: torch.cat([b[k] for _, b in rows]) for k in rows[0][1]})
    return out


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            assert torch.equal(x[k], y[k]), k


def _phone_fns(data):
    dtdm = DTDMConfig(train_crop=16)
    return [ispnet_batch_fn(data, 4, crop=8), ispnet_batch_fn(data, 4, crop=0),
            diffraw_batch_fn(data, 4, dtdm), diffraw_batch_fn(data, 4, dtdm, mode="ddpm")]


def _low_fns(dark, bright):
    s = get_preset("smoke")
    did = replace(s.did, scales=(32, 64), crop=64, augment=True, eta_per_batch=True)
    dn, bn = fit_normalizers(list(dark), list(bright), "tail")
    return [MultiScalePatchBatches(dark, bright, did, s.edm, 4, dn, bn),
            MultiScalePatchBatches(dark, bright, replace(did, augment=False, eta_per_batch=False), s.edm, 4, dn, bn),
            RandomCropBatches(dark, bright, 16, 4, dn, bn)]


def test_global_batch_same_for_any_world_size_workers_and_storage(zrr, low):
    """Issue 23: the global batch of step k is the same for 1/2/4 ranks, 0/2 workers, in memory or streamed."""
    mem, lazy = load_phone(zrr, "train"), load_phone(zrr, "train", max_bytes=0)
    dark, bright, _ = load_lowlight(low, "train")
    ldark, lbright, _ = load_lowlight(low, "train", max_bytes=0, packed_bytes=0)
    pdark, pbright, _ = load_lowlight(low, "train", max_bytes=0)
    assert isinstance(dark, list) and isinstance(ldark, DiskImages) and isinstance(pdark, PackedImages)
    packed = [None] * len(_phone_fns(mem)) + _low_fns(pdark, pbright)
    for fm, fl, fp in zip(_phone_fns(mem) + _low_fns(dark, bright), _phone_fns(lazy) + _low_fns(ldark, lbright),
                          packed):
        ref = _collect(fm)
        _same(ref, [fm(k, torch.Generator().manual_seed(_seed(4, k))) for k in range(3)])   # = plain call
        for world in (2, 4):
            _same(ref, _collect(fm, world=world))
            _same(ref, _collect(fl, world=world))
        _same(ref, _collect(fl))
        if fp is not None:
            _same(ref, _collect(fp))
            _same(ref, _collect(fp, world=2))


def _seed(seed, step):
    from rawdiff.utils import derive_seed
    return derive_seed(seed, "batch", step)


def test_workers_and_resume_draw_the_same_batches(zrr, low):
    lazy = load_phone(zrr, "train", max_bytes=0)
    ldark, lbright, _ = load_lowlight(low, "train", max_bytes=0, packed_bytes=0)
    for fn in (_phone_fns(lazy)[2], _low_fns(ldark, lbright)[0]):
        ref = _collect(fn, steps=4)
        _same(ref, _collect(fn, steps=4, workers=2))
        _same(ref[2:], _collect(fn, steps=4, start=2))                    # a resumed run
        _same(ref[1:], _collect(fn, steps=4, start=1, world=2, workers=2))


def test_streamed_normaliser_fit_matches_in_memory(low, monkeypatch):
    dark, bright, _ = load_lowlight(low, "train")
    ldark, lbright, _ = load_lowlight(low, "train", max_bytes=0, packed_bytes=0)
    a, b = fit_pair_normalizers(dark, bright), fit_pair_normalizers(ldark, lbright)
    assert a[0] == b[0] and a[1] == b[1]                    # all pairs when they are fewer than FIT_PAIRS
    monkeypatch.setattr("rawdiff.did.train.FIT_PAIRS", 3)
    c = fit_pair_normalizers(ldark, lbright)
    assert c[0].count == c[1].count == (40 + 56 + 48) * 56   # pairs 0, 2, 4: a bounded, evenly spaced sample
    assert c[0] != a[0]


def test_bad_image_in_a_worker_is_one_line_data_error(tmp_path):
    root = write_zrr(tmp_path, 4)
    (root / "train" / "canon" / "2.jpg").write_bytes(b"not a jpeg")
    data = load_phone(root, "train", max_bytes=0)
    fn = ispnet_batch_fn(data, 4, crop=8)
    for workers in (0, 2):
        with pytest.raises(DataError) as err:
            _collect(fn, steps=6, workers=workers)
        assert "2.jpg" in str(err.value) and "\n" not in str(err.value)


def test_training_on_streamed_data_gives_the_same_weights(zrr, low):
    from rawdiff.config import ISPNetConfig, UNetConfig
    from rawdiff.diffraw.train import train_diffraw, train_ispnet
    from rawdiff.did.train import train_did_tensors

    p = get_preset("smoke")
    p = replace(p, isp_net=ISPNetConfig(channels=8, num_blocks=1, train_crop=8),
                isp_train=TrainConfig(steps=2, batch_size=2, log_every=1),
                diffraw_unet=UNetConfig(in_channels=10, out_channels=3, base_channels=8, channel_mults=(1, 2),
                                        num_res_blocks=1),
                diffraw_train=TrainConfig(steps=2, batch_size=2, log_every=1), dtdm=replace(p.dtdm, train_crop=8),
                did_unet=UNetConfig(in_channels=12, out_channels=3, base_channels=8, channel_mults=(1, 2),
                                    num_res_blocks=1),
                did_train=TrainConfig(steps=2, batch_size=2, log_every=1), did=replace(p.did, scales=(32, 64), crop=64))
    mem, lazy = load_phone(zrr, "train"), load_phone(zrr, "train", max_bytes=0)
    dark, bright, _ = load_lowlight(low, "train")
    ldark, lbright, _ = load_lowlight(low, "train", max_bytes=0, packed_bytes=0)
    runs = [(lambda d, **k: train_ispnet(p, d, None, "cpu", progress=False, **k), mem, lazy),
            (lambda d, **k: train_diffraw(p, d, None, "cpu", progress=False, **k), mem, lazy),
            (lambda d, **k: train_did_tensors(p, d[0], d[1], None, device="cpu", progress=False, lpips=None, **k)
             .model.denoiser, (dark, bright), (ldark, lbright))]
    for fn, a, b in runs:
        sa = fn(a)
        sa = getattr(sa, "model", sa).state_dict()
        sb = fn(b, workers=2)
        sb = getattr(sb, "model", sb).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_packed_images_hold_8_bit_pixels_and_decline_others(low, tmp_path):
    """LOL-sized splits are held as 8-bit (PackedImages): the same float32 values as the files; a split with an
    image that is not 8-bit (here 16-bit grey) streams from disk instead."""
    dark, bright, _ = load_lowlight(low, "train")
    pdark, pbright, _ = load_lowlight(low, "train", max_bytes=0)
    assert isinstance(pdark, PackedImages) and pdark.images[0].dtype == torch.uint8
    assert all(torch.equal(a, b) for a, b in zip(dark + bright, list(pdark) + list(pbright)))
    assert PackedImages.pack([torch.full((3, 2, 2), 0.5)], [(3, 2, 2)]) is None   # 0.5 is not k / 255
    from skimage import data as skdata

    photo = tmp_path / "photo"       # a real photograph (not our generator): dark RGB PNG, bright palette PNG
    for side in ("low", "high"):
        (photo / "train" / side).mkdir(parents=True)
    im = Image.fromarray(skdata.astronaut()[:200, :300])
    Image.fromarray((np.asarray(im) * 0.1).astype(np.uint8)).save(photo / "train" / "low" / "a.png")
    im.quantize(64).save(photo / "train" / "high" / "a.png")
    mem, packed = load_lowlight(photo, "train"), load_lowlight(photo, "train", max_bytes=0)
    assert isinstance(packed[0], PackedImages) and all(torch.equal(a[0], b[0]) for a, b in
                                                       zip((mem[0], mem[1]), (packed[0], packed[1])))
    root = write_lowlight(tmp_path / "grey16", 3)
    low0 = sorted((root / "train" / "low").iterdir())[0]
    Image.fromarray(np.arange(40 * 56, dtype=np.uint16).reshape(40, 56) * 7).save(low0)
    assert isinstance(load_lowlight(root, "train", max_bytes=0)[0], DiskImages)
