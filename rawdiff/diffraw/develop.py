"""Develop a real camera RAW file of any size with a trained ISPNet + DiffRAW run, and write it as photographers
expect (8-bit PNG/JPEG, or 16-bit PNG/TIFF).

Pipeline (DiffRAW, Yi et al. AAAI-24: ISPNet gives the colour condition ``c``, the DTDM refines from
``y_s = sqrt(abar_s) c + ...`` in K steps): :func:`rawdiff.camera.rawfile.read_raw_file` -> packed RGGB in [0, 1]
-> :func:`rawdiff.camera.rawfile.to_reference_camera` (the file's white balance and colour matrix, re-expressed
in the camera the nets were trained on) -> overlapping tiles (:mod:`rawdiff.tiling`, blended seams, ISPNet sees
full-frame coordinates) -> orientation of the file applied to the result.  Peak memory is the input, one batch of
tiles and the output accumulators: O(image) floats, independent of the network's activations on the full frame.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from rawdiff.camera.colour_guide import guide_colour, uses_metadata_colour
from rawdiff.camera.rawfile import RawInfo, orient, read_raw_file, to_reference_camera
from rawdiff.diffraw.sample import develop_dtdm
from rawdiff.errors import DataError
from rawdiff.nn.ispnet import coord_grid
from rawdiff.tiling import Stitcher, TileGrid, extract
from rawdiff.diffusion.precision import image_generators

__all__ = ["Developed", "develop_file", "develop_packed", "develop_read", "tile_grid"]


@dataclass(frozen=True)
class Developed:
    """A developed file: ``image`` 1 x 3 x H x W in [0, 1] (oriented), what was read (``info``), tiles used."""

    image: torch.Tensor
    info: RawInfo
    tiles: int
    colour: str = "network"   # where the low-frequency colour came from: "network" or "metadata" (colour_guide)


def tile_grid(unet, h: int, w: int, tile: int = 128, overlap: int = 16) -> TileGrid:
    """The tiles :func:`develop_packed` uses for an ``h x w`` packed RAW (sizes a multiple the UNet accepts)."""
    down = getattr(unet, "downsample_factor", 4)
    return TileGrid(h, w, tile=tile, overlap=overlap, multiple=max(1, down // 2) * 2)


@torch.no_grad()
def develop_packed(isp, unet, cfg, packed: torch.Tensor, *, steps: int | None = None, tile: int = 128,
                   overlap: int = 16, seed: int = 0, condition: str = "raw+c", batch: int = 4,
                   progress: bool = False) -> torch.Tensor:
    """Develop a packed RGGB RAW (``1 x 4 x h x w`` in [0, 1], reference-camera space) -> ``1 x 3 x 2h x 2w``.

    ``tile``/``overlap`` in packed pixels; ``batch`` tiles go through the nets together; tile k draws its noise
    from its own generator (rawdiff.diffusion.precision.image_generators, tag ``develop-tile``), so the output
    depends on the seed, not on ``batch``.  ``progress`` shows a tqdm bar over tiles.
    """

    if packed.ndim != 4 or packed.shape[:2] != (1, 4):
        raise DataError(f"develop: expected a 1 x 4 x h x w packed RAW, got {tuple(packed.shape)}")
    dev = next(unet.parameters()).device
    _, _, h, w = packed.shape
    grid = tile_grid(unet, h, w, tile, overlap)
    size = grid.size
    stitch = Stitcher(grid, 3, scale=2)
    tiles = list(grid)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tiles), desc="develop", unit="tile", leave=False)
    for i in range(0, len(tiles), max(1, batch)):
        chunk = tiles[i:i + max(1, batch)]
        win = torch.cat([extract(packed, t, size) for t in chunk]).to(dev)
        coords = torch.cat([coord_grid(1, *size, top=t.top, left=t.left, full=(h, w), device=dev) for t in chunk])
        c = isp.develop(win, coords)
        gens = image_generators(seed, range(i, i + len(chunk)), dev, tag="develop-tile")
        y = develop_dtdm(unet, win, c, cfg, steps, condition=condition, generator=gens).float().cpu()
        for k, t in enumerate(chunk):
            stitch.add(y[k:k + 1], t)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return stitch.result().clamp_(0, 1)


def develop_file(path: str | os.PathLike, isp, unet, cfg, *, canonical: bool = True, colour: str = "auto",
                 **kw) -> Developed:
    """Read any RAW file, bring it to the reference camera (``canonical=False``: the old behaviour, raw levels
    fed as they are), develop it by tiles (``kw``: :func:`develop_packed`) and apply the file's orientation.

    ``colour`` (rawdiff.camera.colour_guide): ``"metadata"`` keeps the networks' luminance and fine colour detail
    and takes the low-frequency chromaticity from the file's own white balance and colour matrix; ``"network"``
    keeps the networks' colours; ``"auto"`` (default) = ``"metadata"`` when the file has an as-shot or daylight
    white balance and a colour matrix, else ``"network"`` (ZRR PNGs, grey-world fallback).
    """
    packed, info = read_raw_file(path)
    return develop_read(packed, info, isp, unet, cfg, canonical=canonical, colour=colour, **kw)


def develop_read(packed: torch.Tensor, info: RawInfo, isp, unet, cfg, *, canonical: bool = True,
                 colour: str = "auto", **kw) -> Developed:
    """:func:`develop_file` on a RAW already read (``read_raw_file``'s ``(packed, info)``; the CLI reads first to
    report the file before loading the networks)."""

    use_meta = uses_metadata_colour(colour, info)
    if canonical:
        packed = to_reference_camera(packed, info)
    img = develop_packed(isp, unet, cfg, packed, **kw)
    if use_meta:
        img = guide_colour(img, packed)
    grid = tile_grid(unet, packed.shape[-2], packed.shape[-1], kw.get("tile", 128), kw.get("overlap", 16))
    return Developed(orient(img, info.flip), info, len(grid), "metadata" if use_meta else "network")
