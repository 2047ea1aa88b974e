"""rawdiff: reproducible DiffRAW (Yi et al., AAAI-24) and Diffusion in the Dark (Nguyen et al., WACV-24)."""
from rawdiff._compat import import_torchvision as _import_torchvision

__version__ = "0.1.0"

try:  # make `import torchvision` (used by lpips / pyiqa / easyocr) work on CPU torch; see _compat.py
    _import_torchvision()
except ImportError:  # torchvision not installed: the parts that need it report unavailable
    pass

__all__ = ["__version__"]
