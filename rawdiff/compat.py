"""Optional dependencies: the extra that provides each, one-line errors when missing, and the torchvision fix.

Extras (pyproject.toml): ``[notebooks]`` jupyterlab/papermill/ipykernel/nbformat, ``[ocr]`` easyocr (+ offline
English models), rapidocr, onnxruntime, ``[iqa]`` pyiqa/lpips, ``[raw]`` rawpy, ``[all]``.  :func:`require`
imports one of them or raises :class:`rawdiff.errors.UnavailableError` naming the extra to install (the CLI
prints it as one line, exit 2).

The torchvision work-around: the registry only has a CUDA build of torchvision 0.28.0.  Paired with the CPU
wheel of torch 2.13.0 its C++ ops library does not load, and ``import torchvision`` fails while registering fake
kernels with ``RuntimeError: operator torchvision::nms does not exist``.  lpips, pyiqa and easyocr all import
torchvision, so they would all break.  Declaring the two operator *schemas* that torchvision's Python side
expects (``torchvision::nms`` and ``torchvision::qnms``) is enough for the import to succeed; nothing in rawdiff
calls those ops.  :func:`import_torchvision` applies it only when the plain import fails (a no-op with a matching
CUDA/CPU torchvision build), and is called right before lpips / pyiqa / easyocr are imported — never as a side
effect of ``import rawdiff``.
"""
from __future__ import annotations

import importlib
import sys

from rawdiff.errors import UnavailableError

_LIB = None  # keeps the torch.library.Library alive for the process (it unregisters on deletion)

# top-level module -> the pyproject extra that installs it
EXTRAS = {"jupyterlab": "notebooks", "papermill": "notebooks", "ipykernel": "notebooks", "nbformat": "notebooks",
          "easyocr": "ocr", "easyocr_en_models": "ocr", "rapidocr": "ocr", "onnxruntime": "ocr",
          "pyiqa": "iqa", "lpips": "iqa", "torchvision": "iqa", "rawpy": "raw"}
_NEEDS_TORCHVISION = {"lpips", "pyiqa", "easyocr"}


def extra_for(module: str | None) -> str | None:
    """The extra that provides ``module`` (a dotted name is looked up by its top level), or None."""
    return EXTRAS.get((module or "").split(".")[0])


def missing_message(module: str, extra: str | None = None) -> str:
    extra = extra or extra_for(module) or "all"
    return (f"{module.split('.')[0]} is not installed: pip install 'rawdiff[{extra}]' "
            f"(or `make install` for everything)")


def require(module: str, extra: str | None = None):
    """Import ``module`` (applying the torchvision fix first for lpips / pyiqa / easyocr) or raise
    :class:`UnavailableError` with one line naming the extra that installs it."""
    top = module.split(".")[0]
    try:
        if top in _NEEDS_TORCHVISION:
            import_torchvision()
        return importlib.import_module(module)
    except ImportError as err:
        if getattr(err, "name", None) and err.name.split(".")[0] not in (top, "torchvision"):
            raise  # a broken install of something else: keep the real traceback
        raise UnavailableError(missing_message(module, extra)) from None


def import_torchvision():
    """Return the ``torchvision`` module, applying the schema work-around if the plain import fails."""
    global _LIB
    if "torchvision" in sys.modules and getattr(sys.modules["torchvision"], "__version__", None):
        return sys.modules["torchvision"]
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as err:  # pragma: no cover - depends on the installed wheels
        if "torchvision::" not in str(err):
            raise
    import torch

    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    if _LIB is None:
        _LIB = torch.library.Library("torchvision", "DEF")  # noqa: PLW0603
        for op in ("nms", "qnms"):
            try:
                _LIB.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            except RuntimeError:
                pass  # already defined by a partial import
    return importlib.import_module("torchvision")
