"""Dataset checks: layout, pairing, file formats, value ranges and manifest hashes.

:func:`check_dataset` returns a list of problems (empty = OK) for the three layouts rawdiff reads:

* ``zrr`` — ``train|test/huawei_raw/{i}.png`` (16-bit single-channel, even size, 10-bit values; our synthetic
  sets: within [63, 1020]) paired with ``train|test/canon/{i}.jpg`` (8-bit RGB of the same size); synthetic sets
  (data version >= 3) also need ``train|test/meta.json`` with one valid ground-truth record per pair;
* ``lowlight`` — ours: ``train|test/low|high/{i}.png`` (8-bit RGB, same size), ``raw_low/{i}.png``
  (16-bit Bayer, same size, [63, 1020]), ``labels.json`` (index -> list of words, one entry per pair);
* ``lol`` — ``our485|eval15/low|high/*.png`` or the GitHub mirror's ``[dataset/]train|test/low|normal/*.png``
  (rawdiff.data.lol): 8-bit RGB pairs of equal size, PNG files only; notes (not problems) when the sizes are not
  LOL's 600x400 or the counts not its 485 + 15.

When ``manifest.json`` is present every listed file must exist with the recorded size and sha256, and no other
file may be there.  A path that does not exist or holds none of these layouts raises :class:`DataError`
(a usage error, not a dataset problem).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rawdiff.camera.phone import check_meta_record
from rawdiff.data.io import read_bayer_png, read_rgb
from rawdiff.data.lol import LAYOUT_HELP, LOL_COUNTS, LOL_SIZE, locate_lowlight, natural_key, scan_pairs
from rawdiff.errors import DataError
from rawdiff.utils import sha256_file

__all__ = ["CheckReport", "check_dataset", "detect_layout", "inspect_dataset"]

_BLACK, _WHITE, _TEN_BIT = 63, 1020, 1023


@dataclass(frozen=True)
class CheckReport:
    """Result of :func:`inspect_dataset`: the layout, pairs per split and the problems found."""

    root: Path
    layout: str
    synthetic: bool
    counts: dict = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    where: str = ""                      # low-light layouts: e.g. "our485|eval15/low|high"
    sizes: dict = field(default_factory=dict)   # low-light layouts: (width, height) -> number of images
    notes: tuple[str, ...] = ()          # LOL: where it differs from the published set (not problems)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        n = sum(self.counts.values())
        parts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        what = f"{self.layout}{' (rawdiff synthetic)' if self.synthetic else ''}"
        if self.layout == "lol":
            what = f"lol ({self.where})"
            parts += "; images (WxH) " + ", ".join(f"{w}x{h}" for w, h in sorted(self.sizes)) if self.sizes else ""
        if self.ok:
            return f"OK: {what}, {n} pairs ({parts})"
        return f"{len(self.problems)} problem(s) in {self.root} ({what}, {n} pairs: {parts})"


def detect_layout(root: str | os.PathLike) -> str:
    """``"zrr"``, ``"lowlight"`` or ``"lol"``; :class:`DataError` if ``root`` is missing or none of them."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such dataset folder")
    if not root.is_dir():
        raise DataError(f"{root}: expected a dataset folder, got a file")
    if any((root / s / "huawei_raw").is_dir() for s in ("train", "test")):
        return "zrr"
    found = locate_lowlight(root)
    if found is not None:
        return found.kind
    raise DataError(f"{root}: not a dataset rawdiff knows; expected train|test/huawei_raw + canon (ZRR), "
                    f"{LAYOUT_HELP}")


def _files(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")}


def _pairs(a_dir: Path, a_suf, b_dir: Path, b_suf, problems: list[str]) -> list[tuple[str, Path, Path]]:
    a, b = _files(a_dir, a_suf), _files(b_dir, b_suf)
    for stem in sorted(set(a) - set(b), key=natural_key):
        problems.append(f"{a[stem]}: missing pair {b_dir}/{stem}{b_suf[0]}")
    for stem in sorted(set(b) - set(a), key=natural_key):
        problems.append(f"{b[stem]}: missing pair {a_dir}/{stem}{a_suf[0]}")
    return [(s, a[s], b[s]) for s in sorted(set(a) & set(b), key=natural_key)]


def _try(problems: list[str], fn, path: Path):
    try:
        return fn(path)
    except DataError as err:
        problems.append(str(err))
    except Exception as err:  # noqa: BLE001 - a checker reports, it does not crash
        problems.append(f"{path}: unreadable ({type(err).__name__}: {err})")
    return None


def _check_bayer(path: Path, problems: list[str], synthetic: bool, shape: tuple[int, int] | None) -> None:
    raw = _try(problems, read_bayer_png, path)
    if raw is None:
        return
    lo, hi = int(raw.min()), int(raw.max())
    if hi > _TEN_BIT:
        problems.append(f"{path}: expected 10-bit values (<= {_TEN_BIT}), got max {hi}")
    elif synthetic and (lo < _BLACK or hi > _WHITE):
        problems.append(f"{path}: expected values in [{_BLACK}, {_WHITE}] (black/white level), got [{lo}, {hi}]")
    if shape is not None and tuple(raw.shape) != tuple(shape):
        problems.append(f"{path}: expected {shape[0]}x{shape[1]} to match its pair, got {raw.shape[0]}x{raw.shape[1]}")


def _rgb_shape(path: Path, problems: list[str]) -> tuple[int, int] | None:
    arr = _try(problems, read_rgb, path)
    return None if arr is None else tuple(np.shape(arr)[:2])


def _check_manifest(root: Path, problems: list[str]) -> dict | None:
    mpath = root / "manifest.json"
    if not mpath.is_file():
        return None
    try:
        manifest = json.loads(mpath.read_text())
        files = manifest["files"]
        assert isinstance(files, dict)
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        problems.append(f"{mpath}: expected a JSON object with a 'files' table (path -> sha256, size)")
        return None
    for rel, info in sorted(files.items()):
        p = root / rel
        if not p.is_file():
            problems.append(f"{p}: listed in manifest.json but missing")
            continue
        size = p.stat().st_size
        if size != info.get("size"):
            problems.append(f"{p}: size {size} bytes, manifest.json says {info.get('size')}")
        elif sha256_file(p) != info.get("sha256"):
            problems.append(f"{p}: sha256 does not match manifest.json (file changed or corrupt)")
    listed = set(files)
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel != "manifest.json" and rel not in listed and not p.name.startswith("."):
            problems.append(f"{p}: not listed in manifest.json")
    return manifest


def inspect_dataset(path: str | os.PathLike) -> CheckReport:
    """Check the dataset at ``path`` (see module docstring) and return a :class:`CheckReport`."""
    root = Path(path)
    layout = detect_layout(root)
    problems: list[str] = []
    manifest = _check_manifest(root, problems)
    synthetic = manifest is not None
    kind = (manifest or {}).get("kind")
    if synthetic and kind not in (None, {"zrr": "phone2dslr", "lowlight": "lowlight"}.get(layout)):
        problems.append(f"{root / 'manifest.json'}: kind {kind!r} does not match the {layout} layout on disk")
    counts: dict[str, int] = {}
    sizes: dict[tuple[int, int], int] = {}
    where = ""
    if layout == "zrr":
        for split in ("train", "test"):
            if not (root / split).is_dir():
                continue
            raw_dir, rgb_dir = root / split / "huawei_raw", root / split / "canon"
            for d in (raw_dir, rgb_dir):
                if not d.is_dir():
                    problems.append(f"{d}: missing (ZRR layout: {split}/huawei_raw/*.png + {split}/canon/*.jpg)")
            pairs = _pairs(raw_dir, (".png",), rgb_dir, (".jpg", ".jpeg"), problems)
            counts[split] = len(pairs)
            for _, raw_p, rgb_p in pairs:
                _check_bayer(raw_p, problems, synthetic, _rgb_shape(rgb_p, problems))
            _check_phone_meta(root / split / "meta.json", [s for s, _, _ in pairs], problems,
                              required=synthetic and kind == "phone2dslr" and (manifest or {}).get("data_version", 0) >= 3)
    else:
        found = locate_lowlight(root)
        where = found.description + ("" if found.root == root else f" in {found.root.name}/")
        for split in found.splits():
            base = found.folder(split)
            pairs, listed = scan_pairs(found, split)
            problems += listed
            counts[split] = len(pairs)
            for _, low_p, high_p in pairs:
                a, b = _rgb_shape(low_p, problems), _rgb_shape(high_p, problems)
                for hw in (a, b):
                    if hw:
                        sizes[hw[::-1]] = sizes.get(hw[::-1], 0) + 1
                if a and b and a != b:
                    problems.append(f"{high_p}: expected {a[1]}x{a[0]} (WxH) to match {low_p.name}, "
                                    f"got {b[1]}x{b[0]}")
                raw_p = base / "raw_low" / low_p.name
                if layout == "lowlight" and (synthetic or (base / "raw_low").is_dir()):
                    if raw_p.is_file():
                        _check_bayer(raw_p, problems, synthetic, a)
                    else:
                        problems.append(f"{raw_p}: missing (every low/ image has its dark RAW in raw_low/)")
            if layout == "lowlight":
                _check_labels(base, [s for s, _, _ in pairs], problems, required=synthetic)
    if not counts:
        problems.append(f"{root}: no train/test split found")
    elif sum(counts.values()) == 0:
        problems.append(f"{root}: no image pairs found")
    notes = _lol_notes(counts, sizes) if layout == "lol" else ()
    return CheckReport(root, layout, synthetic, counts, tuple(problems), where, sizes, notes)


def _lol_notes(counts: dict, sizes: dict) -> tuple[str, ...]:
    """Where a LOL folder differs from the published set (485 + 15 pairs, all 600x400): notes, not problems (a
    subset or a resized copy is a valid folder, but not the LOL whose numbers are published)."""
    notes = [f"{split}: {n} pairs; LOL has {LOL_COUNTS[split]}" for split, n in counts.items()
             if n != LOL_COUNTS[split]]
    other = sorted(wh for wh in sizes if wh != LOL_SIZE[::-1])
    if other:
        notes.append(f"{sum(sizes[wh] for wh in other)} image(s) not LOL's {LOL_SIZE[1]}x{LOL_SIZE[0]} (WxH), e.g. "
                     f"{other[0][0]}x{other[0][1]}")
    return tuple(notes)


def _check_labels(base: Path, stems: list[str], problems: list[str], required: bool) -> None:
    lab = base / "labels.json"
    if not lab.is_file():
        if required:
            problems.append(f"{lab}: missing (index -> list of words)")
        return
    try:
        labels = json.loads(lab.read_text())
    except (OSError, ValueError) as err:
        problems.append(f"{lab}: not valid JSON ({err})")
        return
    if not isinstance(labels, dict) or not all(isinstance(v, list) and all(isinstance(w, str) for w in v)
                                               for v in labels.values()):
        problems.append(f"{lab}: expected a JSON object index -> list of words")
        return
    missing = [s for s in stems if s not in labels]
    extra = sorted(set(labels) - set(stems), key=natural_key)
    if missing:
        problems.append(f"{lab}: no label for {len(missing)} image(s), e.g. {missing[0]!r}")
    if extra:
        problems.append(f"{lab}: labels for {len(extra)} image(s) that do not exist, e.g. {extra[0]!r}")


def _check_phone_meta(path: Path, stems: list[str], problems: list[str], required: bool) -> None:
    """Synthetic phone2dslr ``meta.json``: one valid record per pair (rawdiff.camera.phone.check_meta_record)."""

    if not path.is_file():
        if required:
            problems.append(f"{path}: missing (per-pair warp and colour ground truth)")
        return
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        problems.append(f"{path}: not valid JSON ({err})")
        return
    if not isinstance(meta, dict):
        problems.append(f"{path}: expected a JSON object index -> pair meta")
        return
    bad = [(s, check_meta_record(meta[s]) if s in meta else "no entry") for s in stems]
    bad = [(s, why) for s, why in bad if why]
    if bad:
        problems.append(f"{path}: {len(bad)} pair(s) with bad meta, e.g. {bad[0][0]!r}: {bad[0][1]}")


def check_dataset(path: str | os.PathLike) -> list[str]:
    """Problems found in the dataset at ``path`` (empty list = OK); see :func:`inspect_dataset`."""
    return list(inspect_dataset(path).problems)
