"""Aligned full-reference metrics: compare an output with its target *in the RAW's geometry and colour*.

Phone-RAW -> DSLR data (ZRR, Ignatov et al. 2020; our synthetic pairs, rawdiff.camera.phone) are misaligned by
a few pixels and differ in colour from pair to pair.  Unaligned PSNR therefore mostly measures that per-pair
shift and colour, and rewards blur.  Following LiteISPNet's "aligned GT" protocol (Zhang et al., ICCV-21: the
ground truth is warped into the RAW's geometry and its colour is mapped before scoring) we:

1. **align** the target: with the pair's known warp when the data carry ground truth (synthetic ``meta``,
   :func:`rawdiff.camera.phone.phone_geometry`), else with a global shift estimated by phase correlation
   (:func:`rawdiff.camera.align.estimate_shift`) against a reference image in the RAW's geometry (e.g. ISPNet's
   output, the same for every method) — one function, :func:`align_target`, for both paths;
2. crop a border (``border`` px, default ``max(4, H // 16)``) where the warp sampled outside the image;
3. score: ``aligned_psnr`` / ``aligned_ssim`` (rawdiff.metrics.psnr / ssim), ``cc_psnr`` — PSNR after a
   per-image affine colour fit (least squares ``[pred, 1] @ A`` -> aligned target, 12 parameters: what is left
   is detail and structure, not the unpredictable per-pair colour) — and ``ciede2000``, the mean CIEDE2000
   colour difference (Sharma, Wu & Dalal 2005, skimage.color.deltaE_ciede2000) to the aligned target.
"""
from __future__ import annotations

import torch

from rawdiff.camera.align import estimate_shift
from rawdiff.camera.phone import phone_geometry, warp
from rawdiff.metrics.image import psnr, ssim

__all__ = ["align_target", "affine_colour_fit", "crop_border", "default_border", "aligned_metrics", "ALIGNED_METRICS"]

ALIGNED_METRICS = ("aligned_psnr", "aligned_ssim", "cc_psnr", "ciede2000")


def default_border(h: int) -> int:
    """Border (px) cropped before scoring: the warps are <= ~2.5 px at 64 px (rawdiff.camera.phone.PhoneGap)."""
    return max(4, int(h) // 16)


def crop_border(x: torch.Tensor, border: int) -> torch.Tensor:
    return x[..., border:x.shape[-2] - border, border:x.shape[-1] - border] if border > 0 else x


def align_target(target: torch.Tensor, meta: dict | None = None, ref: torch.Tensor | None = None) -> torch.Tensor:
    """The target (N x 3 x H x W) in the RAW's geometry.

    ``meta`` (batched ground truth, :func:`rawdiff.camera.phone.stack_meta` / ``phone2dslr_batch``): apply
    the known warp.  Without ``meta``: estimate one global shift per image by phase correlation between
    ``ref`` (an image in the RAW's geometry, e.g. ISPNet(w)) and the target, and apply it.
    """

    if meta is not None:
        return phone_geometry(target, meta)
    if ref is None:
        raise ValueError("align_target: without ground-truth meta a reference image in the RAW's geometry is needed")

    shifts = torch.stack([estimate_shift(r.detach().cpu(), t.detach().cpu()) for r, t in zip(ref, target)])
    n = target.shape[0]
    zeros = torch.zeros(n, device=target.device, dtype=target.dtype)
    return warp(target, shifts.to(target.device, target.dtype), zeros, zeros)


def affine_colour_fit(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Per-image least-squares affine colour map of ``src`` onto ``dst`` (N x 3 x H x W), applied to ``src``."""
    c = src.shape[1]
    a = torch.cat([src.flatten(2), torch.ones_like(src[:, :1].flatten(2))], 1).transpose(1, 2).double()  # N x P x 4
    b = dst.flatten(2).transpose(1, 2).double()                                                            # N x P x 3
    reg = 1e-6 * torch.eye(c + 1, dtype=a.dtype, device=a.device)
    m = torch.linalg.solve(a.transpose(1, 2) @ a + reg, a.transpose(1, 2) @ b)                           # N x 4 x 3
    return (a @ m).transpose(1, 2).reshape(src.shape).to(src.dtype).clamp(0, 1)


def _ciede2000(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    from skimage.color import deltaE_ciede2000, rgb2lab

    def lab(x):
        return rgb2lab(x.detach().permute(0, 2, 3, 1).cpu().double().clamp(0, 1).numpy(), channel_axis=-1)

    de = deltaE_ciede2000(lab(pred), lab(target), channel_axis=-1)
    return torch.from_numpy(de.reshape(de.shape[0], -1).mean(1)).float()


@torch.no_grad()
def aligned_metrics(pred: torch.Tensor, target: torch.Tensor, meta: dict | None = None, *,
                    ref: torch.Tensor | None = None, aligned: torch.Tensor | None = None,
                    border: int | None = None) -> dict[str, torch.Tensor]:
    """Per-image (N,) ``aligned_psnr``, ``aligned_ssim``, ``cc_psnr``, ``ciede2000`` of ``pred`` vs ``target``.

    Pass ``aligned`` (from :func:`align_target`) to reuse one alignment for many methods; else the target is
    aligned here with ``meta`` or, without it, against ``ref`` (default: ``pred`` itself).
    """

    pred = pred.float()
    if aligned is None:
        aligned = align_target(target.float().to(pred.device), meta, pred if ref is None else ref)
    b = default_border(pred.shape[-2]) if border is None else int(border)
    p, t = crop_border(pred, b), crop_border(aligned.to(pred), b)
    cc = affine_colour_fit(p, t)
    return {"aligned_psnr": psnr(p, t).cpu(), "aligned_ssim": ssim(p, t).cpu(), "cc_psnr": psnr(cc, t).cpu(),
            "ciede2000": _ciede2000(p, t)}
