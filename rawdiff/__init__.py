"""rawdiff: reproducible DiffRAW (Yi et al., AAAI-24) and Diffusion in the Dark (Nguyen et al., WACV-24).

``import rawdiff`` imports nothing optional; the torchvision work-around (rawdiff.compat) is applied where
lpips / pyiqa / easyocr are imported.
"""
__version__ = "0.1.0"

__all__ = ["__version__"]
