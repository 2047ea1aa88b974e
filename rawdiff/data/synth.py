"""Synthetic datasets in the layouts of the real ones, and on-the-fly batches for training without disk.

* :func:`synth_phone2dslr` writes ZRR's layout (Ignatov et al., CVPR-W 2020; DESIGN.md §3):
  ``train|test/huawei_raw/{i}.png`` — single-channel uint16 Bayer RGGB (R at ``[0::2, 0::2]``), 10-bit values
  with black level 63 and white level 1020 — and ``train|test/canon/{i}.jpg`` — the ``size x size`` "DSLR"
  target (JPEG quality 100 **without chroma subsampling** (4:4:4), ~0.3 grey levels RMS: no colour-edge error
  floor; ZRR's own targets stay JPEG as they are) — and ``train|test/meta.json``: index -> the pair's ground
  truth (:func:`rawdiff.camera.phone.meta_record`: warp ``shift``/``angle``/``zoom``, ``blur_sigma`` and the
  colour transform ``color_matrix``/``gains``/``gamma``), read back by
  :class:`rawdiff.data.loaders.ZRRDataset` and used by the aligned metrics (rawdiff.metrics.aligned).  Pairs come from :func:`rawdiff.camera.phone.phone_dslr_pair` (unprocessed,
  misaligned, colour-unstable, noisy 10-bit phone RAW vs the clean scene) on :func:`rawdiff.data.scenes.random_scene`.
* :func:`synth_lowlight` writes ``train|test/low/{i}.png`` and ``train|test/high/{i}.png`` (8-bit sRGB, dark
  and well-lit, pixel-aligned), ``train|test/raw_low/{i}.png`` (the dark Bayer RAW, same 63/1020 convention)
  and ``train|test/labels.json`` (index -> list of rendered words, ``[]`` for none) from
  :func:`rawdiff.camera.noise.dark_srgb` (SID-style short exposure x100–x300 with Poisson–Gaussian noise, then
  the ISP with a digital gain of 5–20 so the 8-bit dark image looks like LOL's; ``exposure.json`` keeps both) on
  scenes that carry words from :func:`rawdiff.data.text.text_scene` with probability ``text_fraction``.

Both write ``manifest.json`` (sha256 + size of every file, the generator config, rawdiff version, scene-bank
photo names) and build the dataset in a temporary folder renamed into place at the end
(:func:`rawdiff.utils.atomic_dir`): a failure never leaves a half-written dataset.  Each item is generated on
its own from a generator seeded with ``derive_seed(seed, kind, split, index)``, so an image depends only on
(seed, split, index) — not on the counts, batch size or order — and the same seed gives byte-identical files.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from rawdiff.camera.bayer import normalize_levels, pack, to_digital
from rawdiff.camera.noise import dark_srgb
from rawdiff.camera.phone import META_KEYS, meta_record, phone_dslr_pair
from rawdiff.camera.rawfile import ZRR_BLACK, ZRR_WHITE
from rawdiff.data.write import encode_image, encode_png16, to_uint8
from rawdiff.data.scenes import SceneBank, cpu_generator, random_scene, random_scenes
from rawdiff.data.text import text_scene
from rawdiff.errors import DataError
from rawdiff.utils import atomic_dir, derive_seed, make_generator, sha256_file

__all__ = [
    "DATA_VERSION",
    "TARGET_JPEG_QUALITY",
    "LOWLIGHT_GAIN",
    "lowlight_batch",
    "lowlight_item",
    "phone2dslr_batch",
    "phone2dslr_item",
    "synth_lowlight",
    "synth_phone2dslr",
    "write_manifest",
]

# Bumped whenever the generated content changes (cache keys of rawdiff.data.datasets.ensure_datasets include it).
DATA_VERSION = 3   # 3: phone2dslr targets JPEG q100 4:4:4 + meta.json
# Digital gain applied by the ISP to the short exposure of low-light scenes (log-uniform).  Our choice: without
# it a x100-x300 exposure through the sRGB curve averages ~0.003 and 2/3 of its 8-bit pixels are 0; a gain of
# 5-20 gives LOL-like dark images (mean ~0.05, Wei et al. 2018) whose noise is still that of the short exposure.
LOWLIGHT_GAIN = (5.0, 20.0)
# phone2dslr targets: JPEG at this quality with 4:4:4 chroma (no subsampling), see the module docstring.
TARGET_JPEG_QUALITY = 100


def encode_target_jpeg(rgb: torch.Tensor, quality: int = TARGET_JPEG_QUALITY) -> bytes:
    """JPEG bytes of a 3 x H x W target in [0, 1] without chroma subsampling (4:4:4)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(to_uint8(rgb)).save(buf, format="JPEG", quality=int(quality), subsampling=0)
    return buf.getvalue()


def _check_args(n_train: int, n_test: int, size: int, what: str) -> None:
    if int(n_train) < 0 or int(n_test) < 0 or int(n_train) + int(n_test) == 0:
        raise DataError(f"{what}: need n_train >= 0, n_test >= 0 and at least one image, got {n_train}/{n_test}")
    if int(size) < 16 or int(size) % 2:
        raise DataError(f"{what}: size must be an even number >= 16 (Bayer 2x2 cells), got {size}")


def _load_bank(bank):

    return SceneBank.load() if bank is None else bank


# --------------------------------------------------------------------------------------------- items
def phone2dslr_item(size: int, generator: torch.Generator, bank=None) -> dict:
    """One pair: ``raw`` ``H x W`` int32 digital numbers (RGGB mosaic, [63, 1020]), ``rgb`` ``3 x H x W`` and
    ``meta`` (:func:`rawdiff.camera.phone.meta_record`: the pair's warp and colour transform)."""

    scene = random_scene(size, generator, bank)[None]
    pair = phone_dslr_pair(scene, generator)
    return {"raw": to_digital(pair["raw_mosaic"][0, 0], ZRR_BLACK, ZRR_WHITE), "rgb": pair["dslr"][0],
            "meta": meta_record(pair["meta"])}


def sample_gains(n: int, g: torch.Generator, gain: tuple[float, float] = LOWLIGHT_GAIN) -> torch.Tensor:
    lo, hi = torch.log(torch.tensor([float(gain[0]), float(gain[1])], dtype=torch.float64)).tolist()
    return torch.exp(lo + (hi - lo) * torch.rand(n, generator=g, device=g.device, dtype=torch.float64)).float()


def lowlight_item(size: int, generator: torch.Generator, bank=None, text_fraction: float = 0.5,
                  gain: tuple[float, float] = LOWLIGHT_GAIN) -> dict:
    """One dark/well-lit pair: ``low``, ``high`` (3 x H x W sRGB), ``raw_low`` (H x W int32 DN), ``words``,
    ``ratio`` (exposure ratio), ``gain`` (ISP digital gain on the short exposure, log-uniform in ``gain``;
    ``(1, 1)`` gives :func:`rawdiff.camera.noise.dark_srgb`'s unbrightened output).

    With probability ``text_fraction`` the scene carries 1–4 rendered words, on a plain procedural backdrop
    or (half the time) on a random scene.
    """

    g = generator
    has_text = float(torch.rand((), generator=g)) < float(text_fraction)
    if has_text:
        n_words = int(torch.randint(1, 5, (1,), generator=g))
        busy = float(torch.rand((), generator=g)) < 0.5
        background = random_scene(size, g, bank) if busy else None
        scene, words, _ = text_scene(size, g, n_words=n_words, background=background)
    else:
        scene, words = random_scene(size, g, bank), []
    k = sample_gains(1, g, gain)
    out = dark_srgb(scene[None], g, brighten=k)
    return {"low": out["low"][0], "high": out["high"][0],
            "raw_low": to_digital(out["raw_low"][0, 0], ZRR_BLACK, ZRR_WHITE), "words": list(words),
            "ratio": float(out["ratio"].reshape(-1)[0]), "gain": float(k[0])}


# --------------------------------------------------------------------------------------------- writers
def write_manifest(root: Path, info: dict) -> dict:
    """Write ``root/manifest.json``: ``info`` + ``files`` (relative path -> sha256 and size of every file)."""
    files = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            files[p.relative_to(root).as_posix()] = {"sha256": sha256_file(p), "size": p.stat().st_size}
    manifest = {**info, "files": files}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def _synth(out, kind: str, n_train: int, n_test: int, overwrite: bool, progress: bool, info: dict, write_item,
           subdirs: tuple[str, ...], extra_files: tuple[str, ...] = ()) -> Path:
    from tqdm.auto import tqdm

    import rawdiff

    out = Path(out)
    if out.exists() and not overwrite:
        raise DataError(f"{out}: already exists (pass overwrite=True / --overwrite to replace it)")
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")
    try:
        with atomic_dir(out, overwrite=overwrite) as tmp, \
                tqdm(total=int(n_train) + int(n_test), desc=f"synth {kind}", disable=not progress, unit="img") as bar:
            for split, n in (("train", int(n_train)), ("test", int(n_test))):
                for sub in subdirs:
                    (tmp / split / sub).mkdir(parents=True)
                extra: dict = {name: {} for name in extra_files}
                for i in range(n):
                    g = make_generator(derive_seed(info["seed"], kind, split, i))
                    write_item(tmp / split, i, g, extra)
                    bar.update(1)
                for name, obj in extra.items():
                    (tmp / split / name).write_text(json.dumps(obj, indent=1) + "\n")
            for d in [tmp, *(p for p in tmp.rglob("*") if p.is_dir())]:
                d.chmod(0o755)  # mkdtemp makes the folder private (0700); a dataset is shared like any output
            write_manifest(tmp, {"kind": kind, "data_version": DATA_VERSION, "rawdiff_version": rawdiff.__version__,
                                 "config": {**info, "n_train": int(n_train), "n_test": int(n_test)}})
    except OSError as err:  # disk full, permissions: the temp folder is already removed by atomic_dir
        raise DataError(f"{out}: cannot write the dataset ({err.strerror or err})") from None
    return out


def synth_phone2dslr(out: str | os.PathLike, *, n_train: int, n_test: int, size: int, seed: int = 0,
                     overwrite: bool = False, progress: bool = True, bank=None) -> Path:
    """Write a ZRR-layout phone-RAW/DSLR dataset of ``size x size`` pairs to ``out`` (see module docstring).

    ``bank``: a :class:`rawdiff.data.scenes.SceneBank` (default: every offline photo, loaded once here).
    """

    _check_args(n_train, n_test, size, "synth_phone2dslr")
    bank = _load_bank(bank)
    size = int(size)

    def write_item(split_dir: Path, i: int, g: torch.Generator, extra: dict) -> None:
        item = phone2dslr_item(size, g, bank)
        (split_dir / "huawei_raw" / f"{i}.png").write_bytes(encode_png16(item["raw"].numpy()))
        (split_dir / "canon" / f"{i}.jpg").write_bytes(encode_target_jpeg(item["rgb"]))
        extra["meta.json"][str(i)] = item["meta"]

    info = {"seed": int(seed), "size": size, "pattern": "RGGB", "black_level": ZRR_BLACK, "white_level": ZRR_WHITE,
            "jpeg_quality": TARGET_JPEG_QUALITY, "jpeg_subsampling": "4:4:4", "scene_bank": list(bank.names)}
    return _synth(out, "phone2dslr", n_train, n_test, overwrite, progress, info, write_item,
                  subdirs=("huawei_raw", "canon"), extra_files=("meta.json",))


def synth_lowlight(out: str | os.PathLike, *, n_train: int, n_test: int, size: int, seed: int = 0,
                   text_fraction: float = 0.5, overwrite: bool = False, progress: bool = True, bank=None,
                   gain: tuple[float, float] = LOWLIGHT_GAIN) -> Path:
    """Write a low-light dataset (``low``/``high``/``raw_low`` + ``labels.json`` + ``exposure.json`` per split).

    ``gain``: range of the ISP's digital gain on the short exposure (:data:`LOWLIGHT_GAIN`, see there).
    """

    _check_args(n_train, n_test, size, "synth_lowlight")
    if not 0.0 <= float(text_fraction) <= 1.0:
        raise DataError(f"synth_lowlight: text_fraction must be in [0, 1], got {text_fraction}")
    if not 0 < float(gain[0]) <= float(gain[1]):
        raise DataError(f"synth_lowlight: gain must be a range 0 < lo <= hi, got {tuple(gain)}")
    bank = _load_bank(bank)
    size = int(size)

    def write_item(split_dir: Path, i: int, g: torch.Generator, extra: dict) -> None:
        item = lowlight_item(size, g, bank, text_fraction, gain)
        (split_dir / "low" / f"{i}.png").write_bytes(encode_image(item["low"], ".png"))
        (split_dir / "high" / f"{i}.png").write_bytes(encode_image(item["high"], ".png"))
        (split_dir / "raw_low" / f"{i}.png").write_bytes(encode_png16(item["raw_low"].numpy()))
        extra["labels.json"][str(i)] = item["words"]
        extra["exposure.json"][str(i)] = {"ratio": round(item["ratio"], 6), "gain": round(item["gain"], 6)}

    info = {"seed": int(seed), "size": size, "text_fraction": float(text_fraction),
            "gain": [float(gain[0]), float(gain[1])], "pattern": "RGGB",
            "black_level": ZRR_BLACK, "white_level": ZRR_WHITE, "scene_bank": list(bank.names)}
    return _synth(out, "lowlight", n_train, n_test, overwrite, progress, info, write_item,
                  subdirs=("low", "high", "raw_low"), extra_files=("labels.json", "exposure.json"))


# --------------------------------------------------------------------------------------------- on the fly
def _device_generator(generator: torch.Generator, device) -> tuple[torch.Generator, torch.device]:
    dev = torch.device(device) if device is not None else generator.device
    if dev.type == generator.device.type:
        return generator, dev
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    g = torch.Generator(dev)
    g.manual_seed(seed)
    return g, dev


def phone2dslr_batch(n: int, size: int, generator: torch.Generator, device=None, bank=None) -> dict:
    """On-the-fly pairs: ``dict(raw = N x 4 x S/2 x S/2 packed RGGB in [0, 1], rgb = N x 3 x S x S, meta)``.

    ``meta``: the pairs' ground truth as batched tensors (keys :data:`rawdiff.camera.phone.META_KEYS`).

    Same pipeline as :func:`synth_phone2dslr` minus the files: the RAW goes through the same 63/1020 10-bit
    digital numbers and back (what :class:`rawdiff.data.loaders.ZRRDataset` returns); the target is not JPEG'd.
    Scenes are drawn on CPU (``bank=None``: dead leaves only; pass ``SceneBank.load()`` for photos), the camera
    simulation runs on ``device`` (default: the generator's).
    """

    _check_args(n, 0, size, "phone2dslr_batch")
    g, dev = _device_generator(generator, device)
    scenes = random_scenes(int(n), int(size), generator, bank).to(dev)
    pair = phone_dslr_pair(scenes, g)
    dn = to_digital(pair["raw_mosaic"], ZRR_BLACK, ZRR_WHITE)
    return {"raw": pack(normalize_levels(dn, ZRR_BLACK, ZRR_WHITE)), "rgb": pair["dslr"].contiguous(),
            "meta": {k: pair["meta"][k] for k in META_KEYS}}


def lowlight_batch(n: int, size: int, generator: torch.Generator, device=None, bank=None, *,
                   text_fraction: float = 0.0, gain: tuple[float, float] = LOWLIGHT_GAIN) -> dict:
    """On-the-fly dark/well-lit pairs: ``dict(low, high = N x 3 x S x S sRGB, raw_low = N x 4 x S/2 x S/2, gain)``.

    Same simulation as :func:`synth_lowlight` (``gain``: the ISP's digital gain, :data:`LOWLIGHT_GAIN`);
    ``raw_low`` is the dark packed RAW in [0, 1] (14-bit, before any 10-bit storage).  ``text_fraction`` > 0
    puts rendered words on that fraction of scenes (``labels``: list of word lists is then added).
    """

    _check_args(n, 0, size, "lowlight_batch")
    g, dev = _device_generator(generator, device)
    scenes = random_scenes(int(n), int(size), generator, bank)
    labels: list[list[str]] = [[] for _ in range(int(n))]
    if text_fraction > 0:
        cg = cpu_generator(generator)
        for i in range(int(n)):
            if float(torch.rand((), generator=cg)) < text_fraction:
                n_words = int(torch.randint(1, 5, (1,), generator=cg))
                scenes[i], words, _ = text_scene(int(size), cg, n_words=n_words, background=scenes[i])
                labels[i] = list(words)
    k = sample_gains(int(n), g, gain)
    out = dark_srgb(scenes.to(dev), g, brighten=k)
    res = {"low": out["low"], "high": out["high"], "raw_low": pack(out["raw_low"]), "gain": k}
    if text_fraction > 0:
        res["labels"] = labels
    return res
