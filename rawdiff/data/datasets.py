"""The datasets every notebook starts from (DESIGN.md §3).

:func:`ensure_datasets` is what every notebook calls first: it returns the roots of the phone-RAW/DSLR dataset
(ZRR layout) and the low-light dataset (our layout or LOL), either found under ``data_root`` or synthesised
once into the cache (keyed by the data config, the seed and :data:`DATA_VERSION`) and reused afterwards.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from rawdiff.data.lol import LAYOUT_HELP, locate_lowlight
from rawdiff.data.scenes import SceneBank
from rawdiff.data.synth import DATA_VERSION, synth_lowlight, synth_phone2dslr
from rawdiff.errors import DataError
from rawdiff.utils import default_cache_dir, sha256_json

__all__ = ["DATA_VERSION", "cache_key", "ensure_datasets", "find_lowlight_root", "find_phone2dslr_root"]

_PHONE_FIELDS = ("phone_size", "phone_n_train", "phone_n_test")
_LOWLIGHT_FIELDS = ("lowlight_size", "lowlight_n_train", "lowlight_n_test", "text_fraction")


def _is_zrr(p: Path) -> bool:
    return (p / "train" / "huawei_raw").is_dir() or (p / "test" / "huawei_raw").is_dir()


def find_phone2dslr_root(data_root: str | os.PathLike) -> Path:
    """``data_root/zrr`` (or ``ZRR``), or ``data_root`` itself if it has ZRR's ``train|test/huawei_raw``."""
    root = Path(data_root)
    if not root.is_dir():
        raise DataError(f"{root}: data_root does not exist or is not a folder")
    for cand in (root / "zrr", root / "ZRR", root):
        if cand.is_dir() and _is_zrr(cand):
            return cand
    raise DataError(f"{root}: expected a ZRR dataset at {root}/zrr (or ZRR) with train|test/huawei_raw/*.png "
                    f"and train|test/canon/*.jpg")


def find_lowlight_root(data_root: str | os.PathLike) -> Path:
    """The folder holding the splits of the low-light set at ``data_root/lol`` (or ``LOL``, ``LOL/LOLdataset``,
    ``lowlight``) or at ``data_root`` itself: LOL's ``our485|eval15/low|high``, its GitHub mirror's
    ``train|test/low|normal`` (also one ``dataset/`` folder down: the mirror's checkout root) or our
    ``train|test/low|high`` (rawdiff.data.lol.locate_lowlight)."""
    root = Path(data_root)
    if not root.is_dir():
        raise DataError(f"{root}: data_root does not exist or is not a folder")
    for cand in (root / "lol", root / "LOL", root / "LOL" / "LOLdataset", root / "lol" / "LOLdataset",
                 root / "lowlight", root / "LOLdataset", root):
        found = locate_lowlight(cand) if cand.is_dir() else None
        if found is not None:
            return found.root
    raise DataError(f"{root}: expected a low-light dataset at {root}/lol (or LOL) or {root} with {LAYOUT_HELP}")


def cache_key(data_cfg, kind: str, seed: int) -> str:
    """First 12 hex digits of sha256 over the data-config fields that ``kind`` uses, the seed and DATA_VERSION."""

    fields = _PHONE_FIELDS if kind == "phone2dslr" else _LOWLIGHT_FIELDS
    cfg = dataclasses.asdict(data_cfg) if dataclasses.is_dataclass(data_cfg) else dict(data_cfg)
    return sha256_json({"kind": kind, "config": {f: cfg[f] for f in fields}, "seed": int(seed),
                        "data_version": DATA_VERSION})[:12]


def ensure_datasets(data_cfg, *, seed: int = 0, data_root: str | os.PathLike | None = None,
                    cache_dir: str | os.PathLike | None = None, progress: bool = True,
                    only: str | None = None) -> tuple[Path | None, Path | None]:
    """``(phone2dslr_root, lowlight_root)`` for a :class:`rawdiff.config.DataConfig`.

    With ``data_root``: the real datasets found there (:func:`find_phone2dslr_root`, :func:`find_lowlight_root`);
    if only one of the two is there, the other is synthesised (a notice says so); if neither is, a
    :class:`DataError` says what was expected.  Otherwise: synthetic datasets under
    ``(cache_dir or default_cache_dir())/data/phone2dslr-<key>`` and ``lowlight-<key>`` (key:
    :func:`cache_key`), written by :func:`rawdiff.data.synth.synth_phone2dslr` / ``synth_lowlight`` if their
    ``manifest.json`` is not there yet, else reused untouched.  ``only="lowlight"`` (or ``"phone2dslr"``): the
    other set is not synthesised and returned as ``None`` (notebooks 05/06 with ``data_root`` = LOL need no
    phone-RAW set, which takes minutes to synthesise on 2 cores); the data_root errors stay the same.
    """
    if only not in (None, "phone2dslr", "lowlight"):
        raise ValueError(f"only must be None, 'phone2dslr' or 'lowlight', got {only!r}")
    real_phone = real_low = None
    if data_root is not None:
        errors = []
        try:
            real_phone = find_phone2dslr_root(data_root)
        except DataError as err:
            errors.append(str(err))
        try:
            real_low = find_lowlight_root(data_root)
        except DataError as err:
            errors.append(str(err))
        if real_phone is None and real_low is None:
            raise DataError("; ".join(errors))
        if only == "lowlight":
            real_phone = None
        elif only == "phone2dslr":
            real_low = None
        if (real_phone is not None or only == "lowlight") and (real_low is not None or only == "phone2dslr"):
            return real_phone, real_low
        missing = "phone2dslr (ZRR)" if real_phone is None else "low-light (LOL)"
        print(f"ensure_datasets: no {missing} dataset under {data_root}; using the synthetic one instead")

    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    base = base / "data"
    phone = base / f"phone2dslr-{cache_key(data_cfg, 'phone2dslr', seed)}"
    low = base / f"lowlight-{cache_key(data_cfg, 'lowlight', seed)}"
    bank = None
    if real_phone is not None or only == "lowlight":
        phone = real_phone
    elif not (phone / "manifest.json").is_file():
        bank = SceneBank.load()
        synth_phone2dslr(phone, n_train=data_cfg.phone_n_train, n_test=data_cfg.phone_n_test,
                         size=data_cfg.phone_size, seed=seed, overwrite=True, progress=progress, bank=bank)
    if real_low is not None or only == "phone2dslr":
        low = real_low
    elif not (low / "manifest.json").is_file():
        bank = bank if bank is not None else SceneBank.load()
        synth_lowlight(low, n_train=data_cfg.lowlight_n_train, n_test=data_cfg.lowlight_n_test,
                       size=data_cfg.lowlight_size, seed=seed, text_fraction=data_cfg.text_fraction,
                       overwrite=True, progress=progress, bank=bank)
    return phone, low
