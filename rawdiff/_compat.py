"""Import work-arounds for the CPU-only machines we run on.

Why this exists: the registry only has a CUDA build of torchvision 0.28.0.  Paired with the CPU wheel of
torch 2.13.0 its C++ ops library does not load, and ``import torchvision`` fails while registering fake
kernels with ``RuntimeError: operator torchvision::nms does not exist``.  lpips, pyiqa and easyocr all
import torchvision, so they would all break.  Declaring the two operator *schemas* that torchvision's
Python side expects (``torchvision::nms`` and ``torchvision::qnms``) is enough for the import to succeed;
nothing in rawdiff calls those ops.  The fix is applied only when the plain import fails, so it is a no-op
with a matching CUDA/CPU torchvision build (e.g. on a GPU machine).
"""
from __future__ import annotations

import importlib
import sys

_LIB = None  # keeps the torch.library.Library alive for the process (it unregisters on deletion)


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
