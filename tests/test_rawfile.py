"""rawdiff.camera.rawfile: one RAW ingestion path (CFA, levels, white balance, colour matrix, orientation) and the
canonical reference-camera input — all from DNGs the tests write with pidng (rawpy reads them bit-exact)."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from rawdiff.camera.bayer import mosaic, pack
from rawdiff.camera.dng import CAMERAS, camera_dng, grey_errors, reference_recording, smooth_field, write_bayer_dng
from rawdiff.camera.isp import simple_isp
from rawdiff.camera.rawfile import (
    XYZ_FROM_SRGB,
    canonical_matrix,
    crop_for,
    orient,
    read_raw_file,
    reference_camera,
    rgb_cam_from_xyz,
    to_reference_camera,
)
from rawdiff.errors import DataError

pytest.importorskip("pidng")
pytest.importorskip("rawpy")

write_dng = write_bayer_dng    # the package's writer (rawdiff.camera.dng), under the name these tests use


def scene(h: int = 64, w: int = 96, seed: int = 0) -> torch.Tensor:
    """Smooth linear-sRGB scene in [0.04, 0.85] with four flat grey patches (top row, 12 x 12 px)."""
    x = smooth_field(h, w, seed)
    for k, v in enumerate((0.05, 0.18, 0.4, 0.7)):
        x[..., 4:16, 4 + 22 * k:16 + 22 * k] = v
    return x


def _away_from_edges(h: int, w: int, pattern: str, margin: int = 2) -> torch.Tensor:
    """Packed-cell mask (``1 x 1 x h/2 x w/2``, cropped like the reader) of cells >= ``margin`` px from a patch edge."""
    near = torch.zeros(h, w, dtype=torch.bool)
    for k in range(4):
        t, l, b, r = 4, 4 + 22 * k, 16, 16 + 22 * k
        near[max(0, t - margin):b + margin, max(0, l - margin):r + margin] = True
        near[t + margin:b - margin, l + margin:r - margin] = False
    cy, cx = crop_for(pattern)
    hh, ww = (h - cy) // 2 * 2, (w - cx) // 2 * 2
    cells = pack(near[cy:cy + hh, cx:cx + ww].float()[None, None], "RGGB").amax(1, keepdim=True)
    return cells == 0


GREY_PATCHES = [(slice(6, 14), slice(6 + 22 * k, 14 + 22 * k)) for k in range(4)]


def expected_canonical(lin: torch.Tensor, pattern: str) -> torch.Tensor:
    """The scene as the reference camera would have recorded it (RGGB, cropped like the reader crops)."""
    return reference_recording(lin, crop_for(pattern))


# --------------------------------------------------------------------------------------------- reading
@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_cfa_layouts_and_per_channel_levels_bit_exact(tmp_path, pattern):
    dn = np.random.default_rng(1).integers(200, 4000, (34, 50)).astype(np.uint16)
    black = (100, 110, 120, 130)                              # per cell of the file's own 2x2 raster
    path = write_dng(tmp_path / "x.dng", dn, pattern, black, 4000)
    packed, info = read_raw_file(path, normalize=False)
    cy, cx = crop_for(pattern)
    assert info.cfa == pattern and info.crop == (cy, cx) and info.visible_shape == (34, 50)
    assert (info.make, info.model) == ("rawdiff", "synthetic")
    h, w = (34 - cy) // 2 * 2, (50 - cx) // 2 * 2
    exact = torch.from_numpy(dn[cy:cy + h, cx:cx + w].astype(np.float32))
    assert packed.shape == (1, 4, h // 2, w // 2)
    for c, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        assert torch.equal(packed[0, c], exact[dy::2, dx::2])
        assert info.black[c] == black[((dy + cy) % 2) * 2 + (dx + cx) % 2]
    assert [pattern[((dy + cy) % 2) * 2 + (dx + cx) % 2] for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1))] == list("RGGB")
    norm, _ = read_raw_file(path)
    b = torch.tensor(info.black).view(1, 4, 1, 1)
    assert torch.allclose(norm, ((packed - b) / (4000 - b)).clamp(0, 1))


def test_rgb_cam_matches_libraw_and_reference_camera_is_the_training_mean(tmp_path):
    import rawpy

    cm = np.array([[0.9, -0.2, -0.1], [-0.4, 1.3, 0.1], [-0.05, 0.15, 0.6]])
    path = write_dng(tmp_path / "m.dng", np.full((32, 32), 900, np.uint16), color_matrix=cm, neutral=[0.5, 1, 0.6])
    _, info = read_raw_file(path)
    with rawpy.imread(str(path)) as r:
        libraw = np.asarray(r.color_matrix)[:, :3]
    assert np.allclose(np.asarray(info.rgb_cam), libraw, atol=1e-3)
    assert np.allclose(rgb_cam_from_xyz(torch.tensor(cm)).numpy(), libraw, atol=1e-3)
    assert info.wb_source == "as-shot" and np.allclose(info.wb, (2.0, 1.0, 1 / 0.6), atol=1e-4)
    # closed forms of random_camera_params' mean: rgb2cam = 0.7 I + 0.3/3, gains 2.15 / 1.7, E[1/clamp(N(.8,.1))]
    ref = reference_camera()
    assert torch.allclose(ref.rgb2cam[0], 0.7 * torch.eye(3) + 0.1, atol=3e-3)
    assert abs(ref.red_gain.item() - 2.15) < 3e-3 and abs(ref.blue_gain.item() - 1.7) < 3e-3
    x = np.linspace(0.8 - 8 * 0.1, 0.8 + 8 * 0.1, 200001)
    pdf = np.exp(-0.5 * ((x - 0.8) / 0.1) ** 2) / (0.1 * np.sqrt(2 * np.pi))
    mean_gain = np.trapezoid(pdf / np.clip(x, 0.5, 1.1), x)
    assert abs(ref.rgb_gain.item() - mean_gain) < 3e-3


# --------------------------------------------------------------------------------------------- canonical input
@pytest.mark.parametrize("name", sorted(CAMERAS))
@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_any_camera_and_layout_ingests_to_the_same_canonical_mosaic(tmp_path, name, pattern):
    """Same scene, two cameras (matrix, WB, levels) x four CFA layouts -> the reference camera's mosaic.

    Tolerance: mean |error| < 2e-3 and max < 0.01 at least 2 px from the grey patches' step edges (12/14-bit
    quantisation plus bilinear interpolation of the two colours a site does not sample, on a smooth scene); on
    the step edges themselves interpolating across the edge is wrong by construction (there: max < 0.1)."""
    lin = scene()
    cam = {**CAMERAS[name], "pattern": pattern}
    packed, info = read_raw_file(camera_dng(tmp_path / "c.dng", lin, cam))
    assert info.wb_source == "as-shot" and info.matrix_source != "none"
    canon = to_reference_camera(packed, info)
    want = expected_canonical(lin, pattern)
    err = (canon - want).abs()
    assert canon.shape == want.shape
    away = _away_from_edges(lin.shape[-2], lin.shape[-1], pattern)
    assert err.mean() < 2e-3 and err.max() < 0.1, (err.mean().item(), err.max().item())
    assert err[away.expand_as(err)].max() < 0.01, err[away.expand_as(err)].max().item()
    # without the canonical step the file's own levels are far from what the nets saw
    assert (packed - want).abs().mean() > 10 * err.mean()


def test_canonical_is_banded_exactly_and_zrr_passes_through(tmp_path):
    lin = scene(40, 60, seed=3)
    packed, info = read_raw_file(camera_dng(tmp_path / "c.dng", lin, CAMERAS["old-grbg"]))
    assert torch.equal(to_reference_camera(packed, info, band=3), to_reference_camera(packed, info, band=1000))
    from rawdiff.data.write import write_png16

    zrr = np.random.default_rng(0).integers(63, 1021, (32, 48)).astype(np.uint16)
    write_png16(tmp_path / "0.png", zrr)
    p, i = read_raw_file(tmp_path / "0.png")
    assert i.wb_source == "none" and i.source == "zrr-png" and "none" in i.describe()
    assert torch.equal(to_reference_camera(p, i), p)
    assert torch.allclose(p[0, 0], torch.from_numpy((zrr[0::2, 0::2].astype(np.float32) - 63) / 957))


def _grey_de(img: torch.Tensor, patches=GREY_PATCHES) -> list[float]:
    """CIEDE2000 between each patch's mean colour and the grey of the same lightness (rawdiff.camera.dng)."""
    return grey_errors(img, patches)


@pytest.mark.parametrize("name", sorted(CAMERAS))
def test_grey_patches_are_neutral_through_the_reference_camera(tmp_path, name):
    """The reference camera's own ISP (its WB + inverse rgb2cam) on the canonical mosaic: greys within
    CIEDE2000 < 1 (invisible); the same ISP on the file's raw levels (the old path) is visibly tinted (> 5)."""
    lin = scene()
    packed, info = read_raw_file(camera_dng(tmp_path / "c.dng", lin, CAMERAS[name]))
    ref = reference_camera()
    after = simple_isp(to_reference_camera(packed, info), ref)
    before = simple_isp(packed, ref)
    cy, cx = info.crop
    patches = [(slice(ys.start - cy, ys.stop - cy), slice(xs.start - cx, xs.stop - cx)) for ys, xs in GREY_PATCHES]
    assert max(_grey_de(after, patches)) < 1.0
    assert max(_grey_de(before, patches)) > 5.0


# --------------------------------------------------------------------------------------------- metadata
def test_white_balance_fallbacks_are_reported(tmp_path):
    import rawpy

    lin = scene(32, 48)
    cam = CAMERAS["old-grbg"]
    m = torch.tensor(cam["rgb2cam"], dtype=torch.float64)
    day = write_dng(tmp_path / "day.dng", np.full((32, 48), 1000, np.uint16), "RGGB",
                    color_matrix=(m @ torch.linalg.inv(XYZ_FROM_SRGB)).numpy())
    _, info = read_raw_file(day)
    with rawpy.imread(str(day)) as r:
        d = r.daylight_whitebalance
    assert info.wb_source == "daylight" and np.allclose(info.wb, (d[0] / d[1], 1.0, d[2] / d[1]), atol=1e-4)
    assert "white balance daylight" in info.describe()
    grey = camera_dng(tmp_path / "grey.dng", lin, cam, metadata=False)
    packed, info = read_raw_file(grey)
    means = packed[0].mean((1, 2))
    assert info.wb_source == "grey-world" and info.matrix_source == "none" and info.rgb_cam is None
    assert np.allclose(info.wb, (float(means[1:3].mean() / means[0]), 1.0, float(means[1:3].mean() / means[3])),
                       rtol=1e-4)
    assert "white balance grey-world" in info.describe()


@pytest.mark.parametrize("exif,flip,op", [(1, 0, lambda x: x), (3, 3, lambda x: x.rot90(2, (-2, -1))),
                                          (6, 6, lambda x: x.rot90(-1, (-2, -1))), (8, 5, lambda x: x.rot90(1, (-2, -1))),
                                          (2, 1, lambda x: x.flip(-1))])
def test_orientation_tags_are_honoured(tmp_path, exif, flip, op):
    """EXIF orientation -> LibRaw flip code -> :func:`orient`, checked against LibRaw's own development."""
    import rawpy

    dn = np.full((40, 60), 500, np.uint16)
    dn[:10, :12] = 3500                                       # a bright block in the top-left corner
    path = write_dng(tmp_path / "o.dng", dn, orientation=exif, neutral=[1, 1, 1])
    packed, info = read_raw_file(path)
    assert info.flip == flip
    x = torch.arange(12.0).view(1, 1, 3, 4)
    assert torch.equal(orient(x, flip), op(x))
    ours = orient(simple_isp(packed)[0].mean(0), flip)
    with rawpy.imread(str(path)) as r:
        libraw = torch.from_numpy(r.postprocess(use_camera_wb=True, no_auto_bright=True).mean(-1).astype(np.float32))
    assert ours.shape == libraw.shape

    def centroid(img):
        ys, xs = torch.nonzero(img > img.mean(), as_tuple=True)
        return torch.stack([ys.float().mean(), xs.float().mean()])

    assert torch.allclose(centroid(ours), centroid(libraw), atol=1.0)          # the block ends up in the same corner


def test_non_bayer_sensors_are_refused(tmp_path):
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import DNGVersion, PhotometricInterpretation

    xtrans = [1, 1, 0, 1, 1, 2, 1, 1, 2, 1, 1, 0, 2, 0, 1, 0, 2, 1, 1, 1, 2, 1, 1, 0, 1, 1, 0, 1, 1, 2, 0, 2, 1, 2, 0, 1]
    for name, dim, cfa in (("xtrans", [6, 6], xtrans), ("cmy", [2, 2], [3, 1, 1, 5])):
        t = DNGTags()
        for tag, v in [(Tag.ImageWidth, 48), (Tag.ImageLength, 48), (Tag.TileWidth, 48), (Tag.TileLength, 48),
                       (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
                       (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 16), (Tag.CFARepeatPatternDim, dim),
                       (Tag.CFAPattern, cfa), (Tag.BlackLevel, 64), (Tag.WhiteLevel, 4000),
                       (Tag.DNGVersion, DNGVersion.V1_4), (Tag.DNGBackwardVersion, DNGVersion.V1_2)]:
            t.set(tag, v)
        r = RAW2DNG()
        r.options(t, path="", compress=False)
        p = tmp_path / f"{name}.dng"
        p.write_bytes(bytes(r.convert(np.full((48, 48), 900, np.uint16))))
        with pytest.raises(DataError, match="unsupported sensor layout") as err:
            read_raw_file(p)
        assert str(err.value).startswith(str(p)) and "\n" not in str(err.value)


def test_clipped_highlights_stay_white(tmp_path):
    """Sensor-saturated pixels (every channel at the white level) come out white, not pink: the white-balanced
    values are clipped at white before the colour matrix (dcraw/LibRaw's default highlight handling)."""
    cam = CAMERAS["old-grbg"]
    lin = scene(32, 48) * 12                                  # overexposed: most of the frame clips
    packed, info = read_raw_file(camera_dng(tmp_path / "hi.dng", lin, cam))
    sat = (packed == 1).all(1, keepdim=True).float()         # 2x2 cells saturated in all four channels
    inner = -torch.nn.functional.max_pool2d(-sat, 3, 1, 1)    # ... whose 8 neighbours are saturated too
    inner = inner[0, 0] > 0
    assert inner.float().mean() > 0.3
    ref = reference_camera()
    white = torch.nn.functional.avg_pool2d(simple_isp(to_reference_camera(packed, info), ref), 2)[0][:, inner]
    assert white.min() > 0.99, white.min()
    # without the clip, saturated white = the raw gains (2.6, 1, 1.3) through the matrix: magenta
    unclipped = (canonical_matrix(info).float() @ torch.tensor(cam["wb"])).clamp(0, 1).view(1, 3, 1, 1)
    pink = simple_isp(pack(mosaic(unclipped.expand(1, 3, 2, 2).contiguous())), ref).mean((2, 3))[0]
    assert pink[1] < 0.5 * min(pink[0], pink[2])


def test_grey_chart_and_grey_errors():
    """rawdiff.camera.dng: the chart's patches are flat greys inside the image; grey_errors is 0 on neutral
    patches and large on tinted ones, whatever their lightness; the reference camera's ISP keeps them neutral."""
    from rawdiff.camera.dng import GREYS, grey_chart, grey_errors

    lin, patches = grey_chart(96, 160, seed=3)
    assert len(patches) == len(GREYS)
    for (ys, xs), v in zip(patches, GREYS):
        assert torch.allclose(lin[0, :, ys, xs], torch.full_like(lin[0, :, ys, xs], v))
    srgb = lin ** (1 / 2.2)
    assert max(grey_errors(srgb, patches)) < 0.05
    tinted = srgb * torch.tensor([1.0, 0.85, 0.7]).view(1, 3, 1, 1)
    assert min(grey_errors(tinted, patches)) > 5
    assert grey_errors(srgb[..., 2:, 4:], patches, offset=(2, 4)) == pytest.approx(grey_errors(srgb, patches))
