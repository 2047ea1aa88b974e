"""Clean sRGB scenes without downloads: photos shipped inside installed packages + procedural dead leaves.

* :class:`SceneBank` holds the natural photos that ship *as files* inside scikit-image (``skimage/data``) and
  matplotlib (``mpl-data/sample_data``).  The files are read directly (PIL), never through
  ``skimage.data.<name>()``, whose fetchers may try to download (pooch).  A file that is missing is skipped, so
  the bank is whatever this installation has (its ``names`` go into dataset manifests).  Greyscale photos
  (textures such as brick, grass, gravel) are kept and tinted with two random colours when used.
* :func:`dead_leaves` is the dead-leaves model (Matheron 1968; used for camera/denoiser evaluation by
  Cao et al. 2010 and for training by Baradad et al., NeurIPS 2021 "Learning to see by looking at noise"):
  occluding shapes with power-law radii ``p(r) ∝ r^-3`` (scale invariance), here discs, ellipses and rotated
  rectangles filled with flat colour, sinusoidal gratings, smooth noise, linear gradients or photo patches, on
  a smooth gradient background.  Edges are anti-aliased (one-pixel ramp of the signed distance).
* :func:`random_scene` mixes random crops/rescales/flips of the photos with dead-leaves scenes.

Everything random comes from the ``torch.Generator`` passed in (CPU work; a CUDA generator seeds a CPU one),
so the same seed (and the same bank) gives the same scene.  Scenes are ``3 x S x S`` float32 sRGB in [0, 1].
"""
from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["PHOTO_FILES", "SceneBank", "dead_leaves", "photo_crop", "random_scene", "random_scenes"]

# (package, path inside the package, greyscale?) — natural photographs only (no logos/synthetic charts).
PHOTO_FILES: tuple[tuple[str, str, bool], ...] = (
    ("skimage", "data/astronaut.png", False),
    ("skimage", "data/chelsea.png", False),
    ("skimage", "data/coffee.png", False),
    ("skimage", "data/rocket.jpg", False),
    ("skimage", "data/motorcycle_left.png", False),
    ("skimage", "data/motorcycle_right.png", False),
    ("skimage", "data/hubble_deep_field.jpg", False),
    ("skimage", "data/ihc.png", False),                   # immunohistochemistry
    ("skimage", "data/retina.jpg", False),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", False),
    ("skimage", "data/camera.png", True),
    ("skimage", "data/brick.png", True),
    ("skimage", "data/grass.png", True),
    ("skimage", "data/gravel.png", True),
    ("skimage", "data/moon.png", True),
    ("skimage", "data/coins.png", True),
    ("skimage", "data/clock_motion.png", True),
    ("skimage", "data/cell.png", True),
)


def _package_dir(name: str) -> Path | None:
    """Install folder of a package without importing it (``None`` if it is not installed)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def cpu_generator(g: torch.Generator) -> torch.Generator:
    """``g`` itself on CPU; for a CUDA generator, a CPU generator seeded from one draw of ``g``."""
    if g.device.type == "cpu":
        return g
    seed = int(torch.randint(0, 2**62, (1,), generator=g, device=g.device))
    out = torch.Generator("cpu")
    out.manual_seed(seed)
    return out


def _rand(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(shape, generator=g)


def _randint(g: torch.Generator, lo: int, hi: int) -> int:
    """Uniform integer in ``[lo, hi)``."""
    return int(torch.randint(lo, hi, (1,), generator=g)) if hi > lo else lo


@dataclass(frozen=True)
class SceneBank:
    """Offline natural photos as ``uint8`` tensors ``3 x H x W`` (greyscale ones have 3 equal channels)."""

    photos: tuple[torch.Tensor, ...] = ()
    names: tuple[str, ...] = ()
    grey: tuple[bool, ...] = ()

    @classmethod
    def load(cls, max_short_side: int = 512, names: tuple[str, ...] | None = None) -> SceneBank:
        """Read every available photo of :data:`PHOTO_FILES` (or only those whose stem is in ``names``).

        Photos larger than ``max_short_side`` on their short side are downscaled (Lanczos) once here.
        """
        from PIL import Image

        photos, out_names, grey = [], [], []
        for pkg, rel, is_grey in PHOTO_FILES:
            stem = Path(rel).stem
            if names is not None and stem not in names:
                continue
            base = _package_dir(pkg)
            path = base / rel if base is not None else None
            if path is None or not path.is_file():
                continue
            try:
                with Image.open(path) as im:
                    im = im.convert("L" if is_grey else "RGB")
                    s = min(im.size)
                    if max_short_side and s > max_short_side:
                        f = max_short_side / s
                        im = im.resize((max(1, round(im.size[0] * f)), max(1, round(im.size[1] * f))),
                                       Image.Resampling.LANCZOS)
                    arr = np.asarray(im, dtype=np.uint8)
            except Exception:  # noqa: BLE001, S112 - a damaged optional file is skipped, not fatal
                continue
            t = torch.from_numpy(arr.copy())
            t = t[None].expand(3, -1, -1).contiguous() if t.ndim == 2 else t.permute(2, 0, 1).contiguous()
            photos.append(t)
            out_names.append(stem)
            grey.append(is_grey)
        return cls(tuple(photos), tuple(out_names), tuple(grey))

    @classmethod
    def empty(cls) -> SceneBank:
        """A bank without photos: :func:`random_scene` then draws dead-leaves scenes only."""
        return cls()

    def __len__(self) -> int:
        return len(self.photos)

    def __repr__(self) -> str:
        return f"SceneBank({len(self)} photos: {', '.join(self.names)})"


# --------------------------------------------------------------------------------------------- photos
def photo_crop(bank: SceneBank, size: int, generator: torch.Generator, index: int | None = None) -> torch.Tensor:
    """A random square view of a bank photo, resized to ``size`` (3 x size x size float32 in [0, 1]).

    The crop side is log-uniform between ``max(size/2, short/4)`` and the photo's short side (whole view,
    zoomed out) — at least a quarter of the photo, so small outputs are not flat patches of sky or wall; then a random horizontal flip and a random multiple of 90° rotation.  Greyscale photos are
    tinted between a random dark and a random bright colour.
    """
    if len(bank) == 0:
        raise ValueError("photo_crop: the scene bank has no photos")
    g = cpu_generator(generator)
    i = _randint(g, 0, len(bank)) if index is None else int(index)
    img = bank.photos[i]
    h, w = img.shape[-2:]
    short = min(h, w)
    lo = min(max(size / 2, short / 4, 4.0), short)
    u = float(_rand(g))
    c = round(math.exp(math.log(lo) + u * (math.log(short) - math.log(lo))))
    c = max(2, min(c, short))
    y, x = _randint(g, 0, h - c + 1), _randint(g, 0, w - c + 1)
    crop = img[:, y:y + c, x:x + c].float().div(255.0)[None]
    if c != size:
        crop = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=c > size, align_corners=False)
    crop = crop[0].clamp(0, 1)
    flip, rot = float(_rand(g)) < 0.5, _randint(g, 0, 4)
    if flip:
        crop = crop.flip(-1)
    if rot:
        crop = torch.rot90(crop, rot, dims=(-2, -1))
    if bank.grey[i]:
        dark, bright = _rand(g, 3) * 0.35, 0.6 + _rand(g, 3) * 0.4
        crop = dark.view(3, 1, 1) + (bright - dark).view(3, 1, 1) * crop[:1]
    return crop.contiguous()


# --------------------------------------------------------------------------------------------- dead leaves
def _colours(u: np.ndarray) -> np.ndarray:
    """Random sRGB colours from uniforms ``u`` (..., 4): RGB + a saturation draw (plain uniform RGB is garish)."""
    c, sat = u[..., :3], 0.25 + 0.75 * u[..., 3:4]
    grey = c.mean(-1, keepdims=True)
    return np.clip(grey + sat * (c - grey), 0, 1)


def _gradient(size: int, g: torch.Generator) -> np.ndarray:
    """Smooth background (3 x size x size): two-colour linear gradient plus low-frequency colour mottling."""
    u = _rand(g, 9).double().numpy()
    c0, c1, ang = _colours(u[0:4]), _colours(u[4:8]), u[8] * 2 * math.pi
    t = np.linspace(-1, 1, size)
    r = np.clip((math.cos(ang) * t[None, :] + math.sin(ang) * t[:, None]) * 0.5 + 0.5, 0, 1)
    img = c0[:, None, None] * (1 - r) + c1[:, None, None] * r
    blobs = F.interpolate(_rand(g, 1, 3, 4, 4) - 0.5, size=(size, size), mode="bicubic", align_corners=True)[0]
    return np.clip(img + 0.2 * blobs.double().numpy(), 0, 1)


def dead_leaves(size: int, generator: torch.Generator, *, n_shapes: int = 400, r_min: float | None = None,
                r_max: float | None = None, bank: SceneBank | None = None) -> torch.Tensor:
    """A dead-leaves scene ``3 x size x size`` in [0, 1] (see the module docstring).

    Radii follow ``p(r) ∝ r^-3`` on ``[r_min, r_max]`` (defaults ``size/64`` (>= 1 px) and ``size/3``),
    sampled by inverting the CDF; leaves are painted back to front so later ones occlude earlier ones.
    Shapes: disc 40 %, ellipse 30 %, rotated rectangle 30 %.  Fills: flat, sinusoidal grating (frequency
    log-uniform in [1/48, 1/3] cycles/px, random orientation/phase), smooth noise (one of three shared
    bicubic noise fields, 3/6/12 knots, plus fine grain), linear gradient, or — with a ``bank`` — a photo view.
    All random numbers are drawn up front from ``generator``; the painting runs in numpy inside each leaf's
    bounding box (per-leaf torch ops on tiny tensors are ~20x slower).
    """
    size, n = int(size), int(n_shapes)
    if size < 4:
        raise ValueError(f"dead_leaves: size must be >= 4, got {size}")
    g = cpu_generator(generator)
    r_min = max(1.0, size / 64) if r_min is None else float(r_min)
    r_max = max(r_min * 1.5, size / 3) if r_max is None else float(r_max)
    img = _gradient(size, g)
    p = _rand(g, n, 12).double().numpy()
    cols = _colours(_rand(g, n, 2, 4).double().numpy())                    # n x 2 x 3
    fields = [F.interpolate(_rand(g, 1, 1, k, k), size=(size, size), mode="bicubic", align_corners=True)[0, 0]
              .double().numpy() for k in (3, 6, 12)]
    grain = _rand(g, size, size).double().numpy() - 0.5
    photo_ok = bank is not None and len(bank) > 0
    photo = photo_crop(bank, size, g).double().numpy() if photo_ok else None
    a, b = r_min ** -2, r_max ** -2
    radius = (a - p[:, 0] * (a - b)) ** -0.5
    cx, cy = p[:, 1] * size, p[:, 2] * size
    tex_edges = (0.35, 0.6, 0.8, 0.9, 1.0) if photo_ok else (0.4, 0.65, 0.87, 1.0, 2.0)
    coords = np.arange(size, dtype=np.float64) + 0.5
    for i in range(n):
        r = radius[i]
        x0, x1 = max(0, math.floor(cx[i] - r - 1)), min(size, math.ceil(cx[i] + r + 1))
        y0, y1 = max(0, math.floor(cy[i] - r - 1)), min(size, math.ceil(cy[i] + r + 1))
        if x1 <= x0 or y1 <= y0:
            continue
        dx = coords[None, x0:x1] - cx[i]
        dy = coords[y0:y1, None] - cy[i]
        kind_u, theta = p[i, 3], p[i, 5] * math.pi
        if kind_u < 0.4:                                   # disc
            d = r - np.sqrt(dx * dx + dy * dy)
        else:
            ct, st = math.cos(theta), math.sin(theta)
            u, v = dx * ct + dy * st, dy * ct - dx * st
            rb = r * (0.3 + 0.7 * p[i, 4])
            if kind_u < 0.7:                               # ellipse (distance approximated along the normal)
                d = (1 - np.sqrt((u / r) ** 2 + (v / rb) ** 2)) * rb
            else:                                          # rotated rectangle
                d = np.minimum(0.8 * r - np.abs(u), 0.8 * rb - np.abs(v))
        alpha = np.clip(d + 0.5, 0, 1)                     # one-pixel anti-aliased edge
        if not alpha.any():
            continue
        c0, c1 = cols[i, 0][:, None, None], cols[i, 1][:, None, None]
        tex_kind = next(k for k, e in enumerate(tex_edges) if p[i, 6] < e)
        phi = p[i, 7] * math.pi
        if tex_kind == 0:                                  # flat
            tex = c0
        elif tex_kind == 1:                                # sinusoidal grating
            f = math.exp(math.log(1 / 48) + p[i, 8] * (math.log(1 / 3) - math.log(1 / 48)))
            t = 0.5 + 0.5 * np.sin(2 * math.pi * (f * (dx * math.cos(phi) + dy * math.sin(phi)) + p[i, 9]))
            tex = c0 + (c1 - c0) * t
        elif tex_kind == 2:                                # smooth noise + fine grain
            t = fields[int(p[i, 8] * 3) % 3][y0:y1, x0:x1] + 0.3 * p[i, 9] * grain[y0:y1, x0:x1]
            tex = c0 + (c1 - c0) * np.clip(t, 0, 1)
        elif tex_kind == 3:                                # linear gradient across the leaf
            t = (dx * math.cos(phi) + dy * math.sin(phi)) / (2 * r) + 0.5
            tex = c0 + (c1 - c0) * np.clip(t, 0, 1)
        else:                                              # photo view
            tex = photo[:, y0:y1, x0:x1]
        region = img[:, y0:y1, x0:x1]
        region += alpha * (tex - region)
    return torch.from_numpy(np.clip(img, 0, 1).astype(np.float32))


# --------------------------------------------------------------------------------------------- mixing
def random_scene(size: int, generator: torch.Generator, bank: SceneBank | None = None, *,
                 photo_prob: float = 0.5) -> torch.Tensor:
    """One clean scene ``3 x size x size``: a photo view with probability ``photo_prob`` (if ``bank`` has
    photos), else a dead-leaves scene (whose leaves may carry photo patches).  ``bank=None``: dead leaves only.
    """
    g = cpu_generator(generator)
    use_photo = float(_rand(g)) < photo_prob
    if bank is not None and len(bank) and use_photo:
        return photo_crop(bank, int(size), g)
    return dead_leaves(int(size), g, bank=bank)


def random_scenes(n: int, size: int, generator: torch.Generator, bank: SceneBank | None = None, *,
                  photo_prob: float = 0.5) -> torch.Tensor:
    """``n`` scenes stacked: ``N x 3 x size x size`` float32 in [0, 1] (on CPU)."""
    g = cpu_generator(generator)
    if n <= 0:
        return torch.zeros(0, 3, int(size), int(size))
    return torch.stack([random_scene(size, g, bank, photo_prob=photo_prob) for _ in range(int(n))])
