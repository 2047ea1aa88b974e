"""Low-light pair folders on disk: which layout a folder holds, its image pairs, and a sha256 list of its files.

LOL is the LOw-Light dataset of Wei et al., "Deep Retinex Decomposition for Low-Light Enhancement" (BMVC 2018):
485 training and 15 evaluation pairs of real low / normal-light photographs, 600x400 8-bit RGB PNGs.  Diffusion
in the Dark (Nguyen et al., WACV 2024) trains and evaluates on it.  Three layouts are read in place, never renamed
(data/README.md):

* ``lol`` as the LOL authors release it: ``our485/{low,high}/*.png`` (split ``"train"``) and
  ``eval15/{low,high}/*.png`` (split ``"test"``), often inside a ``LOLdataset/`` folder;
* ``lol`` as the public GitHub copy in ``meh2005/Low-Light-Image-Enhancement-using-RetinexNet`` has it:
  ``train/{low,normal}/*.png`` and ``test/{low,normal}/*.png`` inside that checkout's ``dataset/`` folder;
* ``lowlight``, rawdiff's synthetic sets: ``train|test/{low,high}/*.png`` (+ ``labels.json``, ``raw_low/``).

:func:`locate_lowlight` accepts the folder that holds the split folders, or, for LOL only, a folder whose
``dataset/`` sub-folder holds them (the mirror's checkout root).  The rule is unambiguous by construction: the
folder itself wins whenever it holds a layout; ``dataset/`` is looked at only when it holds none.  A folder whose
``train/low`` sits beside both ``high/`` and ``normal/`` (or neither) is refused with a one-line DataError.

:func:`lol_sha256` lists ``{relative path: sha256}`` of every image of a folder's pairs, so a results manifest can
record exactly which copy of LOL a number came from (the mirror's and the authors' evaluation images are
byte-identical; their paths differ).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from rawdiff.errors import DataError
from rawdiff.utils import sha256_file

__all__ = ["LAYOUT_HELP", "LOL_COUNTS", "LOL_SIZE", "LowLightLayout", "lol_sha256", "locate_lowlight",
           "lowlight_pairs", "natural_key", "scan_pairs"]

LOL_SIZE = (400, 600)                    # height, width of every LOL image
LOL_COUNTS = {"train": 485, "test": 15}  # our485, eval15
SPLITS = ("train", "test")
LAYOUT_HELP = ("our485|eval15/low|high/*.png (LOL), train|test/low|normal/*.png (LOL GitHub mirror, or its "
               "dataset/ folder) or train|test/low|high/*.png (rawdiff synthetic)")


def natural_key(name: str):
    """Sort key that orders ``2`` before ``10`` (ZRR and LOL files are numbered)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


@dataclass(frozen=True)
class LowLightLayout:
    """Where the pairs of a low-light folder are: ``root/<folder of split>/low`` and ``.../<high>``."""

    kind: str            # "lol" (either LOL layout) or "lowlight" (rawdiff synthetic)
    root: Path           # the folder holding the split folders
    folders: tuple       # (train folder, test folder): ("our485", "eval15") or ("train", "test")
    high: str            # name of the well-lit folder: "high" or "normal"

    def folder(self, split: str) -> Path:
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; expected one of {SPLITS}")
        return self.root / self.folders[SPLITS.index(split)]

    def low_dir(self, split: str) -> Path:
        return self.folder(split) / "low"

    def high_dir(self, split: str) -> Path:
        return self.folder(split) / self.high

    @property
    def description(self) -> str:
        """E.g. ``"our485|eval15/low|high"`` — how the folder is laid out."""
        return f"{'|'.join(self.folders)}/low|{self.high}"

    def splits(self) -> list[str]:
        """The splits whose folder exists."""
        return [s for s in SPLITS if self.folder(s).is_dir()]


def _detect(folder: Path) -> LowLightLayout | None:
    """The layout of ``folder`` itself (no ``dataset/`` look-up), ``None`` if none; DataError if ambiguous."""
    official = any((folder / f).is_dir() for f in ("our485", "eval15"))
    subs = {name: [folder / s / name for s in SPLITS if (folder / s / name).is_dir()]
            for name in ("low", "high", "normal")}
    plain = any(subs.values())
    if official and plain:
        raise DataError(f"{folder}: holds both our485|eval15 (LOL) and train|test/low (another layout); "
                        f"point data_root at one of them")
    if official:
        return LowLightLayout("lol", folder, ("our485", "eval15"), "high")
    if not plain:
        return None
    if subs["high"] and subs["normal"]:
        raise DataError(f"{folder}: has both {subs['high'][0].name}/ and {subs['normal'][0].name}/ beside low/ "
                        f"({subs['high'][0].parent}); expected high/ (rawdiff synthetic) or normal/ (LOL mirror)")
    if subs["normal"]:
        return LowLightLayout("lol", folder, SPLITS, "normal")
    if subs["high"]:
        return LowLightLayout("lowlight", folder, SPLITS, "high")
    raise DataError(f"{subs['low'][0]}: no high/ (rawdiff synthetic) or normal/ (LOL mirror) folder beside it; "
                    f"every low/ image needs its well-lit pair")


def locate_lowlight(root: str | os.PathLike) -> LowLightLayout | None:
    """The low-light layout at ``root`` (or, for LOL, at ``root/dataset``); ``None`` if neither holds one.

    DataError if ``root`` is not a folder, or a layout is ambiguous or lacks its well-lit folders.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: low-light dataset folder does not exist or is not a folder")
    found = _detect(root)
    if found is None and (root / "dataset").is_dir():
        inner = _detect(root / "dataset")
        found = inner if inner is not None and inner.kind == "lol" else None
    return found


def _pngs(folder: Path, problems: list[str]) -> dict[str, Path]:
    """Stem -> path of the PNGs in ``folder``; any other non-hidden file is a problem (LOL folders hold PNGs)."""
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir(), key=lambda q: natural_key(q.name)):
        if p.name.startswith(".") or not p.is_file():
            continue                      # .DS_Store (the mirror has one), sub-folders
        if p.suffix.lower() != ".png":
            problems.append(f"{p}: not a PNG image; {folder.name}/ must hold only the .png images of the pairs")
        else:
            out[p.stem] = p
    return out


def scan_pairs(layout: LowLightLayout, split: str) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """``(pairs, problems)`` of one split: pairs ``(name, low path, high path)`` matched by file name in natural
    order, and one line per problem (missing folder, non-PNG file, image without its pair).  Nothing decoded."""
    low, high = layout.low_dir(split), layout.high_dir(split)
    problems = [f"{d}: missing; expected {layout.description}/*.png pairs of the same names"
                for d in (low, high) if not d.is_dir()]
    if problems:
        return [], problems
    a, b = _pngs(low, problems), _pngs(high, problems)
    for stem in sorted(set(a) ^ set(b), key=natural_key):
        have, other = (a[stem], high) if stem in a else (b[stem], low)
        problems.append(f"{have}: no matching {other / have.name} (every image needs its pair of the same name)")
    return [(s, a[s], b[s]) for s in sorted(set(a) & set(b), key=natural_key)], problems


def lowlight_pairs(layout: LowLightLayout, split: str) -> list[tuple[str, Path, Path]]:
    """The pairs of :func:`scan_pairs`; its first problem as a one-line DataError (``rawdiff data check`` lists
    them all)."""
    pairs, problems = scan_pairs(layout, split)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s): rawdiff data check lists them)" if len(problems) > 1 else ""
        raise DataError(problems[0] + more)
    return pairs


def lol_sha256(root: str | os.PathLike, splits: tuple[str, ...] | list[str] | None = None) -> dict[str, str]:
    """``{path relative to the layout root: sha256}`` of every low and well-lit image of the pairs of ``splits``
    (default: the splits present), e.g. ``{"eval15/low/1.png": "b5...", ...}``, split by split, low before high,
    in natural order.  ``root`` as for :func:`locate_lowlight`; DataError if no layout is there or a pair is
    broken.  Hashes file bytes (decodes nothing): the real LOL (1000 files, 334 MB) takes about a second."""
    layout = locate_lowlight(root)
    if layout is None:
        raise DataError(f"{root}: not a low-light dataset; expected {LAYOUT_HELP}")
    out: dict[str, str] = {}
    for split in (layout.splits() if splits is None else splits):
        pairs = lowlight_pairs(layout, split)
        for idx in (1, 2):
            for pair in pairs:
                out[pair[idx].relative_to(layout.root).as_posix()] = sha256_file(pair[idx])
    return out
