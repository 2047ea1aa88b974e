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
