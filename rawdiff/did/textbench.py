"""Low-light text benchmark: word crops, two darkening protocols, classical baselines, OCR evaluation.

Reproduces the evaluation behind DiD's claim (Nguyen et al., WACV-24, §5): reconstructing dark images with
diffusion keeps the high-frequency detail text recognition needs, so OCR word accuracy on the
reconstructions beats other low-light methods.

**Word crops** (:func:`rawdiff.data.wordcrops.make_word_crop`): words in random fonts, sizes and colours on
flat / gradient / textured / real-photo backgrounds, with clutter, perspective and blur (scene-text-like);
the ground-truth string is the label.

**Darkening, protocol "did"** (default; the literal reading of the authors' PARSeq-fork protocol,
DESIGN.md §3): multiply HSV value V by ``factor`` in {0.4, 0.5, 0.6} and add **zero-mean Gaussian noise of
absolute standard deviation** ``sigma`` in {0.05, 0.1, 0.2, 0.4} to V (values on [0, 1], i.i.d. per
pixel), then clip V to [0, 1].  At sigma = 0.4 on V ~ 0.2-0.3 the text is mostly buried: the protocol is
hard at its top levels, as written.

**Darkening, protocol "did-relative"** (a named option; our earlier reading): the same with noise std
``sigma * mean(V_dark)`` (mean over the crop), i.e. ``sigma`` is a noise-to-signal ratio, which keeps every
level graded independent of scene brightness.

In both, hue and saturation are kept, using the exact identity that changing V at fixed H, S scales R, G, B
by ``V'/V`` (a black pixel, S = 0, becomes grey ``V'``) — no HSV round trip.

**Darkening, protocol "raw"** (physical): sRGB -> camera RAW (``rawdiff.camera.isp.unprocess``, Brooks
et al. 2019), a short exposure with exposure ratio 100-300 and Poisson-Gaussian sensor noise
(``rawdiff.camera.noise.simulate_low_light``), then the plain ISP (``simple_isp``) without brightness
amplification (``rawdiff.camera.noise.dark_srgb``).  The result is dark and right-skewed like real dark
photographs (DiD §3.3).

**Baselines**: ``dark input`` (as is), ``gamma`` (per-image gamma that maps the mean to 0.5) and ``clahe``
(``skimage.exposure.equalize_adapthist`` on V).  The regression UNet and DiD are plugged into
:func:`evaluate` by notebook 06 as further ``methods`` entries.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from rawdiff.camera.noise import dark_srgb, sample_noise_params
from rawdiff.data.io import read_image_tensor
from rawdiff.data.synth import LOWLIGHT_GAIN, sample_gains
from rawdiff.data.wordcrops import BACKGROUNDS, CROP_SIZE, make_word_crop
from rawdiff.did.ocr import get_engine
from rawdiff.errors import DataError
from rawdiff.metrics.text import normalize_text, text_metrics

__all__ = [
    "TextSample", "DID_FACTORS", "DID_NOISE", "RAW_RATIOS", "PROTOCOLS", "default_levels", "make_word_crop",
    "darken_did", "darken_raw", "darken", "make_benchmark", "read_labelled_folder", "load_user_crops",
    "gamma_brighten", "clahe", "baseline_methods", "evaluate", "level_means", "unavailable_rows", "BACKGROUNDS", "CROP_SIZE",
]

PROTOCOLS = ("did", "did-relative", "raw")
DID_FACTORS = (0.4, 0.5, 0.6)
DID_NOISE = (0.05, 0.1, 0.2, 0.4)
RAW_RATIOS = (100.0, 200.0, 300.0)
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class TextSample:
    """One benchmark item: clean and darkened ``3 x H x W`` sRGB crops, the true word, the darkening level."""

    clean: torch.Tensor
    dark: torch.Tensor
    label: str
    level: str                    # e.g. "v0.5_n0.10" (protocol did) or "x200" (protocol raw) or "as-is"
    protocol: str = "did"
    params: dict = field(default_factory=dict)
    source: str = ""              # file name for user crops


# ------------------------------------------------------------------------------------------ levels
def _did_level_name(factor: float, sigma: float) -> str:
    return f"v{factor:.2f}_n{sigma:.2f}"


def default_levels(protocol: str = "did") -> list[dict]:
    """All darkening levels of a protocol: did / did-relative -> 3 factors x 4 noise levels; raw -> 3 ratios."""
    if protocol in ("did", "did-relative"):
        return [{"factor": f, "sigma": s} for f in DID_FACTORS for s in DID_NOISE]
    if protocol == "raw":
        return [{"ratio": r} for r in RAW_RATIOS]
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")


def _level_name(protocol: str, level: Mapping) -> str:
    if protocol in ("did", "did-relative"):
        return _did_level_name(float(level["factor"]), float(level["sigma"]))
    return f"x{float(level['ratio']):g}"


# -------------------------------------------------------------------------------------- darkening
def darken_did(img: torch.Tensor, factor: float, sigma: float, generator: torch.Generator, *,
               relative: bool = False) -> torch.Tensor:
    """DiD's OCR darkening (module docstring): ``V' = clip(factor * V + N(0, s^2))`` with ``s = sigma``
    (protocol "did", absolute) or ``s = sigma * mean(factor V)`` per image (``relative=True``, "did-relative").

    ``img`` is ``[N] x 3 x H x W`` sRGB; H and S are kept (RGB scaled by ``V'/V``).
    """
    x = img[None] if img.dim() == 3 else img
    v = x.amax(1, keepdim=True)
    vd = factor * v
    if relative:
        std = sigma * vd.flatten(1).mean(1).view(-1, 1, 1, 1)
    else:
        std = torch.full((x.shape[0], 1, 1, 1), float(sigma), device=x.device, dtype=x.dtype)
    noise = torch.randn(vd.shape, generator=generator, device="cpu").to(x.device, x.dtype)
    vn = (vd + std * noise).clamp(0, 1)
    ratio = torch.where(v > 0, vn / v.clamp_min(1e-12), torch.zeros_like(v))
    out = torch.where(v > 0, x * ratio, vn.expand_as(x))
    out = out.clamp(0, 1)
    return out[0] if img.dim() == 3 else out


def darken_raw(img: torch.Tensor, ratio: float, generator: torch.Generator,
               gain: tuple[float, float] | None = None, **noise_kwargs) -> torch.Tensor:
    """Physical low light: unprocess -> short exposure (1/ratio) with Poisson-Gaussian noise -> simple ISP.

    ``img`` is ``[N] x 3 x H x W`` sRGB in [0, 1].  Per image, a random camera is drawn
    (``rawdiff.camera.isp.random_camera_params``), the crop is unprocessed to a RAW mosaic (Brooks et al. 2019),
    exposed ``ratio`` times shorter with Poisson-Gaussian noise and 14-bit quantisation
    (``rawdiff.camera.noise.simulate_low_light``) and developed by the same camera's ``simple_isp`` with the
    ISP's digital gain drawn exactly as for the low-light training set (``gain``, default
    ``rawdiff.data.synth.LOWLIGHT_GAIN``; ``(1, 1)`` = no brightening) — all of it
    ``rawdiff.camera.noise.dark_srgb``, so the benchmark is darkened like the data the models were trained on.  Noise levels are Brooks et
    al.'s log-linear shot/read draws with ``dark_srgb``'s default shot range, or ``noise_kwargs`` passed to
    ``rawdiff.camera.noise.sample_noise_params`` (e.g. ``shot_range=(1e-4, 1e-3)``).  Odd sizes are
    edge-padded to even for the Bayer mosaic and cropped back.  Randomness comes from ``generator`` only
    (drawn on the CPU; the result is moved to ``img``'s device).
    """

    x = img[None] if img.dim() == 3 else img
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"darken_raw: expected [N x] 3 x H x W sRGB, got shape {tuple(img.shape)}")
    h, w = x.shape[-2:]
    xc = x.detach().float().cpu().clamp(0, 1)
    if h % 2 or w % 2:
        xc = F.pad(xc, (0, w % 2, 0, h % 2), mode="replicate")
    gen = generator if generator.device.type == "cpu" else None
    if gen is None:  # the camera/noise draws happen on the CPU; derive a CPU generator from a CUDA one
        from rawdiff.utils import make_generator

        gen = make_generator(int(torch.randint(0, 2 ** 62, (1,), generator=generator, device=generator.device)))
    noise = sample_noise_params(xc.shape[0], gen, **noise_kwargs) if noise_kwargs else None

    k = sample_gains(xc.shape[0], gen, LOWLIGHT_GAIN if gain is None else gain)
    out = dark_srgb(xc, gen, ratio=float(ratio), noise=noise, brighten=k)["low"][:, :, :h, :w].clamp(0, 1)
    out = out.to(x.device, x.dtype)
    return out[0] if img.dim() == 3 else out


def darken(img: torch.Tensor, protocol: str, level: Mapping, generator: torch.Generator) -> torch.Tensor:
    if protocol in ("did", "did-relative"):
        return darken_did(img, float(level["factor"]), float(level["sigma"]), generator,
                          relative=protocol == "did-relative")
    if protocol == "raw":
        return darken_raw(img, float(level["ratio"]), generator)
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")


def _resolve_levels(protocol: str, levels) -> list[dict]:
    if levels is None:
        return default_levels(protocol)
    out = []
    for lv in levels:
        if isinstance(lv, Mapping):
            out.append(dict(lv))
        elif protocol in ("did", "did-relative"):
            f, s = lv
            out.append({"factor": float(f), "sigma": float(s)})
        else:
            out.append({"ratio": float(lv)})
    return out


def make_benchmark(n: int, generator: torch.Generator, protocol: str = "did", levels=None, *,
                   size: tuple[int, int] = CROP_SIZE, warp: float = 0.07, photos: bool = True,
                   **crop_kwargs) -> list[TextSample]:
    """``n`` clean word crops, each darkened at every level: ``n x len(levels)`` samples.

    ``levels``: list of dicts (``{"factor", "sigma"}`` for did, ``{"ratio"}`` for raw), or tuples
    ``(factor, sigma)`` / ratios; default :func:`default_levels`.  ``photos``: allow real-photo backgrounds
    (the offline scene bank, loaded once).  ``crop_kwargs`` go to :func:`make_word_crop`.  Same generator
    state => same benchmark.
    """
    levels = _resolve_levels(protocol, levels)
    bank = None
    if photos:
        from rawdiff.data.scenes import SceneBank

        bank = SceneBank.load()
    crops = [make_word_crop(generator, size=size, warp=warp, bank=bank, **crop_kwargs) for _ in range(int(n))]
    return _darken_all([(c, w, "") for c, w in crops], generator, protocol, levels)


def _darken_all(items, generator, protocol, levels) -> list[TextSample]:
    out = []
    for lv in levels:
        name = _level_name(protocol, lv)
        for clean, label, src in items:
            out.append(TextSample(clean, darken(clean, protocol, lv, generator), label, name, protocol, dict(lv), src))
    return out


# -------------------------------------------------------------------------------------- user crops
_IDX_LABEL = re.compile(r"^\d+_(.+)$")


def read_labelled_folder(folder: str | Path) -> list[tuple[Path, str]]:
    """``[(image path, label)]`` from a folder of word crops.

    Labels come from ``labels.txt`` (``file<TAB>label`` per line; ``#`` comments), else ``labels.json``
    (``{"file": "label"}`` or ``[{"file": ..., "label": ...}]``), else the file names: ``{label}.png`` or
    ``{idx}_{label}.png``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: expected a folder of word crops")
    txt, js = folder / "labels.txt", folder / "labels.json"
    if txt.is_file():
        pairs = []
        for i, line in enumerate(_read_utf8(txt).splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split("\t", 1) if "\t" in line else line.split(None, 1)
            if len(parts) != 2:
                raise DataError(f"{txt}:{i}: expected 'file<TAB>label', got {line!r}")
            pairs.append((folder / parts[0].strip(), parts[1].strip()))
    elif js.is_file():
        try:
            data = json.loads(_read_utf8(js))
        except (json.JSONDecodeError, RecursionError) as err:
            raise DataError(f"{js}: not valid JSON ({err})") from None
        if isinstance(data, dict):
            pairs = [(folder / k, str(v)) for k, v in data.items()]
        elif isinstance(data, list) and all(isinstance(d, dict) and {"file", "label"} <= d.keys() for d in data):
            pairs = [(folder / d["file"], str(d["label"])) for d in data]
        else:
            raise DataError(f'{js}: expected {{"file": "label"}} or [{{"file": ..., "label": ...}}]')
    else:
        pairs = []
        for p in sorted(folder.iterdir()):
            if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."):
                m = _IDX_LABEL.match(p.stem)
                pairs.append((p, m.group(1) if m else p.stem))
    missing = [p.name for p, _ in pairs if not p.is_file()]
    if missing:
        raise DataError(f"{folder}: labelled files not found: {missing[:5]}")
    if not pairs:
        raise DataError(f"{folder}: no word crops found (expected {', '.join(IMAGE_EXTS)} files)")
    return pairs


def _read_utf8(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: expected a UTF-8 text file (byte {err.start} is not UTF-8)") from None


def _load_image(path: Path) -> torch.Tensor:

    return read_image_tensor(path)  # the one image reader: one-line DataError naming the file


def load_user_crops(folder: str | Path, generator: torch.Generator | None = None, protocol: str | None = "did",
                    levels=None) -> list[TextSample]:
    """The user's own labelled word crops (formats: :func:`read_labelled_folder`), darkened like
    :func:`make_benchmark`.  ``protocol=None`` keeps them as they are (e.g. crops that are already dark):
    then ``dark == clean`` and ``level == "as-is"``."""
    items = [(_load_image(p), label, p.name) for p, label in read_labelled_folder(folder)]
    if protocol is None:
        return [TextSample(c, c, lab, "as-is", "none", {}, src) for c, lab, src in items]
    if generator is None:
        from rawdiff.utils import make_generator

        generator = make_generator(0)
    return _darken_all(items, generator, protocol, _resolve_levels(protocol, levels))


# -------------------------------------------------------------------------------------- baselines
def gamma_brighten(batch: torch.Tensor, target_mean: float = 0.5, max_gain: float = 5.0) -> torch.Tensor:
    """Per-image gamma ``x^g`` with ``g = log(target_mean) / log(mean(x))`` (clamped to [1/max_gain, 1])."""
    x = batch.clamp(0, 1)
    m = x.flatten(1).mean(1).clamp(1e-4, 0.9999)
    g = (math.log(target_mean) / torch.log(m)).clamp(1.0 / max_gain, 1.0).view(-1, 1, 1, 1)
    return x.clamp_min(1e-8) ** g


def clahe(batch: torch.Tensor, clip_limit: float = 0.01) -> torch.Tensor:
    """CLAHE (Zuiderveld 1994) per image via ``skimage.exposure.equalize_adapthist`` (on V for RGB)."""
    from skimage.exposure import equalize_adapthist

    out = []
    for img in batch.clamp(0, 1):
        a = img.permute(1, 2, 0).cpu().double().numpy()
        out.append(torch.from_numpy(equalize_adapthist(a, clip_limit=clip_limit)).permute(2, 0, 1).float())
    return torch.stack(out).to(batch.device)


def baseline_methods() -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The classical methods of notebook 06: dark input as is, gamma brightening, CLAHE."""
    return {"dark input": lambda b: b, "gamma": gamma_brighten, "clahe": clahe}


# -------------------------------------------------------------------------------------- evaluation
def evaluate(methods: Mapping[str, Callable[[torch.Tensor], torch.Tensor] | Sequence[torch.Tensor]],
             samples: Sequence[TextSample], engines: Sequence, *, batch_size: int = 32, include_clean: bool = True,
             return_predictions: bool = False, engine_subsample: Mapping[str, int] | None = None):
    """OCR metrics for every method x level x engine.

    ``methods`` map a name to either ``f(dark batch N x 3 x H x W) -> enhanced batch`` (same shape, [0, 1];
    samples are grouped by (level, crop shape) and sent in chunks of ``batch_size`` — the chunk: one network
    call never sees more, and each chunk's output is moved to the CPU at once; the methods here are deterministic,
    so the chunk never changes a prediction) or to **precomputed
    outputs**: a list of ``3 x H x W`` tensors / an ``N x 3 x H x W`` tensor aligned with ``samples`` (e.g.
    DiD's cascade outputs computed once).  ``engines`` are :class:`rawdiff.did.ocr.OCREngine` objects or names.
    ``engine_subsample``: ``{engine name: k}`` reads only the first ``k`` samples of each level with that
    engine (for slow engines; the same words for every method, so comparisons stay paired).

    Each row is ``{method, protocol, level, engine, word_acc, one_minus_ned, cer, n}`` (the readable
    ``06_ocr_accuracy.csv``).  ``include_clean`` adds ``clean (reference)`` rows (OCR on the undarkened crops:
    the upper bound).  ``return_predictions=True`` returns ``(rows, per_word)`` with one dict per sample x
    method x engine: ``{method, protocol, level, engine, item, label, pred, correct, source}`` (``item`` =
    the sample's index in ``samples``) — the ``06_ocr_per_word.csv`` contract of :mod:`rawdiff.claims`.
    """

    engines = [get_engine(e) if isinstance(e, str) else e for e in engines]
    sub = dict(engine_subsample or {})
    methods = dict(methods)
    if include_clean:
        methods["clean (reference)"] = None
    index = {id(s): i for i, s in enumerate(samples)}
    levels = list(dict.fromkeys(s.level for s in samples))
    rows, preds_out = [], []
    for mname, fn in methods.items():
        pre = None if (fn is None or callable(fn)) else list(fn)
        if pre is not None and len(pre) != len(samples):
            raise ValueError(f"method {mname!r}: {len(pre)} precomputed outputs for {len(samples)} samples")
        for level in levels:
            group = [s for s in samples if s.level == level]
            order = [s for shape in dict.fromkeys(tuple(s.dark.shape) for s in group)
                     for s in group if tuple(s.dark.shape) == shape]
            outs: list[torch.Tensor] = []
            for i in range(0, len(order), batch_size):
                chunk = order[i:i + batch_size]
                if fn is None:
                    outs += [s.clean for s in chunk]
                    continue
                dark = torch.stack([s.dark for s in chunk])
                if pre is not None:
                    enh = torch.stack([torch.as_tensor(pre[index[id(s)]]) for s in chunk])
                else:
                    with torch.no_grad():
                        enh = fn(dark)
                if tuple(enh.shape) != tuple(dark.shape):
                    raise ValueError(f"method {mname!r} returned shape {tuple(enh.shape)} for input {tuple(dark.shape)}")
                outs += list(enh.detach().float().cpu().clamp(0, 1))
            for eng in engines:
                k = int(sub.get(eng.name, len(order)))
                preds = eng.recognize_batch(outs[:k])
                sel = order[:k]
                m = text_metrics(preds, [s.label for s in sel])
                rows.append({"method": mname, "protocol": sel[0].protocol if sel else "", "level": level,
                             "engine": eng.name, "word_acc": m["word_acc"], "one_minus_ned": m["one_minus_ned"],
                             "cer": m["cer"], "n": m["n"]})
                if return_predictions:
                    preds_out += [{"method": mname, "protocol": s.protocol, "level": level, "engine": eng.name,
                                   "item": index[id(s)], "label": s.label, "pred": p,
                                   "correct": int(normalize_text(p) == normalize_text(s.label)), "source": s.source}
                                  for s, p in zip(sel, preds)]
    return (rows, preds_out) if return_predictions else rows


def level_means(rows: Sequence[Mapping], keys: Sequence[str] = ("method", "protocol", "engine"),
                metrics: Sequence[str] = ("word_acc", "one_minus_ned", "cer")) -> list[dict]:
    """Means over levels, weighted by ``n``, of :func:`evaluate`'s rows grouped by ``keys`` (first-seen order);
    rows whose metrics are not numbers (``"unavailable: ..."``) are skipped."""
    groups: dict[tuple, list[Mapping]] = {}
    for r in rows:
        if isinstance(r.get(metrics[0]), (int, float)) and r.get("n"):
            groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, sel in groups.items():
        n = sum(r["n"] for r in sel)
        out.append({**dict(zip(keys, key)), **{m: sum(r[m] * r["n"] for r in sel) / n for m in metrics},
                    "n": n, "levels": len(sel)})
    return out


def unavailable_rows(reasons: Mapping[tuple[str, str], str]) -> list[dict]:
    """One ``06_ocr_accuracy`` row per unavailable ``(protocol, engine)``, carrying the reason instead of numbers."""
    return [{"method": "all methods", "protocol": p, "level": "", "engine": e, "word_acc": why,
             "one_minus_ned": "unavailable", "cer": "unavailable", "n": 0} for (p, e), why in reasons.items() if why]
