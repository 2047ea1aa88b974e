"""Malformed-input corpus (issue 14): every CLI command and loader answers bad input with exit status 2 and
exactly one line naming the offending file or argument, no traceback, and no output file; valid-but-unusual
inputs work.  Every file is generated here at test time (no binaries in the repository).

Cases marked ``RAW-READER`` go through ``develop``'s RAW path, which the issue-13 work rewrites
(``rawdiff/camera/rawfile.py``): re-check them after merging.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import struct
import zlib
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rawdiff.cli import main
from rawdiff.data.io import read_image, read_image_tensor
from rawdiff.errors import DataError


# ------------------------------------------------------------------------------------------ file makers
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(w: int, h: int, depth: int = 8, ctype: int = 2, raw: bytes | None = None, iend: bool = True) -> bytes:
    """A PNG written by hand (so headers can lie): ``raw`` = filtered scanlines, default mid-grey RGB."""
    if raw is None:
        spp = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype, 1)
        raw = b"".join(b"\0" + bytes([90]) * (w * spp * max(1, depth // 8)) for _ in range(h))
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
    out += _chunk(b"IDAT", zlib.compress(raw))
    return out + (_chunk(b"IEND", b"") if iend else b"")


def pil_bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _rgb(w=24, h=16, seed=0) -> Image.Image:
    return Image.fromarray((np.random.default_rng(seed).random((h, w, 3)) * 60).astype(np.uint8))


def bad_images() -> list[tuple[str, bytes, str]]:
    """``(file name, bytes, text the one-line error must contain)`` for unreadable images."""
    good = png_bytes(8, 6)
    crc = bytearray(good)
    crc[30] ^= 0xFF                                   # inside IHDR's data: its CRC no longer matches
    jpg = pil_bytes(_rgb(), "JPEG")
    bmp = pil_bytes(_rgb(), "BMP")
    tif_int = pil_bytes(Image.fromarray(np.full((4, 4), 70000, np.int32)), "TIFF")
    tif_nan = pil_bytes(Image.fromarray(np.full((4, 4), np.nan, np.float32)), "TIFF")
    return [
        ("empty.png", b"", "empty file"),
        ("truncated.png", good[:-20], "corrupt or truncated PNG"),
        ("bad_crc.png", bytes(crc), "bad CRC"),
        ("page.png", b"<!doctype html><html><body>404 not found</body></html>", "not a readable image"),
        ("notes.jpg", b"just some text\n", "not a readable image"),
        ("noise.png", np.random.default_rng(1).bytes(777), "not a readable image"),
        ("zero_width.png", png_bytes(0, 5, raw=b""), "at least 1x1"),
        ("zero_height.png", png_bytes(5, 0, raw=b""), "at least 1x1"),
        ("anim.png", pil_bytes(_rgb(), "GIF"), "holds GIF data"),
        ("photo.png", jpg, "holds JPEG data"),
        ("real.gif", pil_bytes(_rgb(), "GIF"), "GIF images are not supported"),
        ("depth3.png", png_bytes(4, 4, depth=3), "bit depth 3"),
        ("depth16_palette.png", png_bytes(4, 4, depth=16, ctype=3), "bit depth 16"),
        ("bomb.png", png_bytes(60000, 60000, raw=b""), "RAWDIFF_MAX_PIXELS"),
        ("bomb_wide.png", png_bytes(2_000_000_000, 1, raw=b""), "exceeds the limit"),
        ("bomb.bmp", b"BM" + struct.pack("<IHHI", 62, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 30000, 30000, 1, 24,
                                                                               0, 0, 2835, 2835, 0, 0) + b"\0" * 8,
         "pixel limit"),
        ("signature_only.png", b"\x89PNG\r\n\x1a\n", "corrupt"),
        ("no_iend.png", png_bytes(4, 4, iend=False), "no IEND"),
        ("bad_zlib.png", good[:33] + _chunk(b"IDAT", b"\x78\x9c garbage, not deflate") + _chunk(b"IEND", b""),
         "corrupt or truncated PNG data"),
        ("truncated.jpg", jpg[:200], "corrupt"),
        ("truncated.bmp", bmp[:80], "corrupt"),
        ("int32.tif", tif_int, "outside [0, 65535]"),
        ("nan.tif", tif_nan, "NaN"),
    ]


def write_bad(folder: Path) -> list[tuple[Path, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, data, msg in bad_images():
        (folder / name).write_bytes(data)
        out.append((folder / name, msg))
    return out


def good_unusual(folder: Path) -> list[tuple[Path, tuple[int, int]]]:
    """Valid but unusual images and names: ``(path, (H, W))``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    rgba = Image.fromarray((rng.random((10, 12, 4)) * 255).astype(np.uint8), "RGBA")
    items = {
        "one_pixel.png": (Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"),
        "thin_row.png": (Image.new("RGB", (300, 1), (5, 5, 5)), "PNG"),
        "thin_col.png": (Image.new("RGB", (1, 257), (5, 5, 5)), "PNG"),
        "alpha.png": (rgba, "PNG"),
        "palette.png": (rgba.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "grey16.png": (Image.fromarray((rng.random((9, 7)) * 65535).astype(np.uint16)), "PNG"),
        "grey_alpha.png": (rgba.convert("LA"), "PNG"),
        "bilevel.png": (rgba.convert("1"), "PNG"),
        "cmyk.jpg": (rgba.convert("RGB").convert("CMYK"), "JPEG"),
        "float.tif": (Image.fromarray(rng.random((6, 5)).astype(np.float32)), "TIFF"),
        "ünïcödé 名前.png": (_rgb(), "PNG"),
        "-dash-leading.png": (_rgb(), "PNG"),
        "UPPER.PNG": (_rgb(), "PNG"),
        "odd.extension.dat": (_rgb(), "PNG"),
        "no_extension": (_rgb(), "JPEG"),
        "photo.jpe": (_rgb(), "JPEG"),
        "scan.bmp": (_rgb(), "BMP"),
        "web.webp": (_rgb(), "WEBP"),
    }
    out = []
    for name, (im, fmt) in items.items():
        p = folder / name
        p.write_bytes(pil_bytes(im, fmt))
        out.append((p, (im.height, im.width)))
    # a 16-bit RGB PNG (Pillow reads it at 8-bit precision) written by hand
    raw = b"".join(b"\0" + struct.pack(">HHH", 60000, 30000, 1000) * 3 for _ in range(2))
    (folder / "rgb16.png").write_bytes(png_bytes(3, 2, depth=16, ctype=2, raw=raw))
    out.append((folder / "rgb16.png", (2, 3)))
    return out


def cli_fails(capsys, argv: list[str], names: str | Path, msg: str = "", no_output: Path | None = None) -> str:
    """Run the CLI in-process; assert exit 2, one stderr line naming ``names`` and containing ``msg``."""
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, (argv, rc, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith(f"rawdiff {argv[0]}: error:"), err
    assert str(names) in err, (names, err)
    assert msg in err, (msg, err)
    if no_output is not None:
        assert not no_output.exists() or no_output.is_dir(), no_output
        leftovers = [p for p in no_output.parent.iterdir() if p.name.startswith(f".{no_output.name}.")]
        assert not leftovers, leftovers
    return err


# ------------------------------------------------------------------------------------------ the reader
@pytest.mark.parametrize("name,data,msg", bad_images(), ids=[c[0] for c in bad_images()])
def test_reader_rejects_with_one_line(tmp_path, name, data, msg):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(DataError) as info:
        read_image(p)
    text = str(info.value)
    assert len(text.splitlines()) == 1 and text.startswith(str(p)) and msg in text, text


def test_reader_accepts_unusual_inputs_and_documents_modes(tmp_path):
    for p, (h, w) in good_unusual(tmp_path):
        a = read_image(p)
        assert a.shape == (h, w, 3) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1, p
        assert read_image_tensor(p, mode="gray").shape == (1, h, w)
    # alpha is dropped (colours kept, not composited)
    px = np.array([[[200, 100, 50, 0]]], np.uint8)
    (tmp_path / "transparent.png").write_bytes(pil_bytes(Image.fromarray(px, "RGBA"), "PNG"))
    assert np.allclose(read_image(tmp_path / "transparent.png")[0, 0], np.array([200, 100, 50]) / 255)
    # 16-bit grey -> /65535 in all three channels; 1-bit -> 0 or 1
    (tmp_path / "g16.png").write_bytes(pil_bytes(Image.fromarray(np.array([[0, 65535, 32768]], np.uint16)), "PNG"))
    assert np.allclose(read_image(tmp_path / "g16.png")[0, :, 1], [0, 1, 32768 / 65535])
    # 16-bit RGB PNG: Pillow's 8-bit precision
    assert np.allclose(read_image(tmp_path / "rgb16.png")[0, 0], np.array([60000, 30000, 1000]) // 256 / 255)


def test_pixel_limit_env_and_argument(tmp_path, monkeypatch):
    p = tmp_path / "big.png"
    p.write_bytes(png_bytes(40, 30))
    with pytest.raises(DataError, match="40x30 = 1200 pixels exceeds the limit of 1000 pixels"):
        read_image(p, max_pixels=1000)
    assert read_image(p, max_pixels=1200).shape == (30, 40, 3)
    monkeypatch.setenv("RAWDIFF_MAX_PIXELS", "1000")
    with pytest.raises(DataError, match="RAWDIFF_MAX_PIXELS"):
        read_image(p)
    jpg = tmp_path / "big.jpg"
    jpg.write_bytes(pil_bytes(_rgb(40, 30), "JPEG"))            # non-PNG: size from Pillow's lazy header read
    with pytest.raises(DataError, match="40x30 = 1200 pixels exceeds"):
        read_image(jpg)
    monkeypatch.setenv("RAWDIFF_MAX_PIXELS", "0")             # 0 = no limit
    assert read_image(p).shape == (30, 40, 3)
    monkeypatch.setenv("RAWDIFF_MAX_PIXELS", "lots")
    with pytest.raises(DataError, match="RAWDIFF_MAX_PIXELS='lots'"):
        read_image(p)


# ------------------------------------------------------------------------------------------ rawdiff ocr
@pytest.mark.parametrize("name,data,msg", bad_images(), ids=[c[0] for c in bad_images()])
def test_ocr_bad_image(tmp_path, capsys, name, data, msg):
    p = tmp_path / name
    p.write_bytes(data)
    cli_fails(capsys, ["ocr", p], p, msg)


def test_ocr_missing_directory_and_limit(tmp_path, capsys):
    cli_fails(capsys, ["ocr", tmp_path / "nope.png"], tmp_path / "nope.png", "no such file")
    cli_fails(capsys, ["ocr", tmp_path], tmp_path, "expected a file")
    big = tmp_path / "big.png"
    big.write_bytes(png_bytes(40, 30))
    cli_fails(capsys, ["ocr", "--max-pixels", "100", big], big, "--max-pixels")
    cli_fails(capsys, ["ocr", "--max-pixels", "-1", big], "--max-pixels", ">= 0")


def _crops(folder: Path, n=2) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"{i}_word.png").write_bytes(pil_bytes(_rgb(seed=i), "PNG"))


def test_ocr_eval_bad_folders(tmp_path, capsys):
    cases = []
    d = tmp_path / "corrupt_crop"
    _crops(d)
    (d / "2_word.png").write_bytes(png_bytes(8, 6)[:-20])
    cases.append((d, d / "2_word.png", "corrupt or truncated"))
    d = tmp_path / "latin1_txt"
    _crops(d)
    (d / "labels.txt").write_bytes("0_word.png\tcaf\xe9\n".encode("latin-1"))
    cases.append((d, d / "labels.txt", "UTF-8"))
    d = tmp_path / "bad_json"
    _crops(d)
    (d / "labels.json").write_text('{"0_word.png": "word",')
    cases.append((d, d / "labels.json", "not valid JSON"))
    d = tmp_path / "latin1_json"
    _crops(d)
    (d / "labels.json").write_bytes('{"0_word.png": "caf\xe9"}'.encode("latin-1"))
    cases.append((d, d / "labels.json", "UTF-8"))
    d = tmp_path / "json_shape"
    _crops(d)
    (d / "labels.json").write_text("[1, 2, 3]")
    cases.append((d, d / "labels.json", "expected"))
    d = tmp_path / "missing_file"
    _crops(d)
    (d / "labels.txt").write_text("0_word.png\tword\nghost.png\tboo\n")
    cases.append((d, d, "ghost.png"))
    d = tmp_path / "bad_line"
    _crops(d)
    (d / "labels.txt").write_text("0_word.png\n")
    cases.append((d, d / "labels.txt", "expected"))
    d = tmp_path / "empty_folder"
    d.mkdir()
    cases.append((d, d, "no word crops"))
    cases.append((tmp_path / "absent", tmp_path / "absent", "expected a folder"))
    d = tmp_path / "gif_crop"
    _crops(d)
    (d / "3_word.png").write_bytes(pil_bytes(_rgb(), "GIF"))
    cases.append((d, d / "3_word.png", "GIF"))
    for folder, names, msg in cases:
        cli_fails(capsys, ["ocr", "--eval", folder], names, msg)


# ------------------------------------------------------------------------------------------ enhance (DiD)
@pytest.fixture(scope="module")
def did_run(tmp_path_factory):
    from rawdiff.config import UNetConfig
    from rawdiff.presets import get_preset
    from rawdiff.did.train import train_did_tensors
    s = get_preset("smoke")
    preset = replace(s, did_unet=UNetConfig(in_channels=12, out_channels=3, base_channels=8, channel_mults=(1, 2),
                                            num_res_blocks=1),
                     did_train=replace(s.did_train, steps=2, batch_size=2, log_every=1, ckpt_every=2))
    g = torch.Generator().manual_seed(0)
    bright = [torch.rand(3, 64, 64, generator=g) for _ in range(2)]
    dark = [0.1 * b for b in bright]
    run = tmp_path_factory.mktemp("did") / "run"
    train_did_tensors(preset, dark, bright, run, device="cpu", progress=False, lpips=None)
    return run


def _ckpt(run: Path) -> Path:
    return run / (run / "latest").read_text().strip()


def corrupt_runs(run: Path, where: Path, ckpt_of=lambda r: r) -> list[tuple[Path, Path | str, str]]:
    """Copies of a good run, each damaged one way: ``(run dir, what the message names, text)``."""
    out = []

    def copy(tag):
        dst = where / tag
        shutil.copytree(run, dst)
        return dst

    r = copy("truncated")
    f = _ckpt(ckpt_of(r)) / "ema.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    out.append((r, f, "corrupt checkpoint"))
    r = copy("not_safetensors")
    f = _ckpt(ckpt_of(r)) / "ema.safetensors"
    f.write_bytes(b"PK\x03\x04 this is a zip, not safetensors" * 4)
    out.append((r, f, "corrupt checkpoint"))
    r = copy("short_file")
    f = _ckpt(ckpt_of(r)) / "ema.safetensors"
    f.write_bytes(b"\x01\x02")
    out.append((r, f, "too short"))
    r = copy("wrong_shapes")
    f = _ckpt(ckpt_of(r)) / "ema.safetensors"
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(f))
    out.append((r, f, "does not match the model"))
    r = copy("bad_ckpt_config")
    f = _ckpt(ckpt_of(r)) / "config.json"
    f.write_text('{"unet": {"in_channels": 12,')
    out.append((r, f, "not valid JSON"))
    r = copy("bad_state")
    f = _ckpt(ckpt_of(r)) / "state.json"
    f.write_text('{"step": "two", "history": []}')
    out.append((r, f, "'step'"))
    r = copy("no_checkpoint")
    for c in ckpt_of(r).glob("ckpt-*"):   # the latest and the budget checkpoints (rawdiff.train.budget_steps)
        shutil.rmtree(c)
    (ckpt_of(r) / "latest").write_bytes(b"\xff\xfe garbage")
    out.append((r, ckpt_of(r), "no checkpoint"))
    return out


def test_enhance_bad_inputs(did_run, tmp_path, capsys):
    out = tmp_path / "out.png"
    for p, msg in write_bad(tmp_path / "bad")[:12]:
        cli_fails(capsys, ["enhance", "--run", did_run, p, out], p, msg, no_output=out)
    big = tmp_path / "bad" / "bomb.png"
    cli_fails(capsys, ["enhance", "--run", did_run, big, out], big, "--max-pixels", no_output=out)
    src = tmp_path / "dark.png"
    src.write_bytes(pil_bytes(_rgb(40, 33), "PNG"))
    cli_fails(capsys, ["enhance", "--run", tmp_path / "no_run", src, out], tmp_path / "no_run", "", no_output=out)
    cli_fails(capsys, ["enhance", "--run", did_run, src, tmp_path / "out.gif"], "out.gif", "output must end")
    (tmp_path / "dir_out.png").mkdir()
    cli_fails(capsys, ["enhance", "--run", did_run, "--steps", "2", src, tmp_path / "dir_out.png"],
              tmp_path / "dir_out.png", "is a directory")


def test_enhance_corrupt_runs(did_run, tmp_path, capsys):
    src = tmp_path / "dark.png"
    src.write_bytes(pil_bytes(_rgb(40, 33), "PNG"))
    out = tmp_path / "out.png"
    for run, names, msg in corrupt_runs(did_run, tmp_path / "runs"):
        cli_fails(capsys, ["enhance", "--run", run, src, out], names, msg, no_output=out)
    r = tmp_path / "runs" / "mistyped_meta"
    shutil.copytree(did_run, r)
    run_json = json.loads((r / "run.json").read_text())
    meta = run_json["config"]

    def write(config):
        (r / "run.json").write_text(json.dumps({**run_json, "config": config}))
    for key, value, msg in (("base_channels", "eight", "mistyped"), ("bogus", 1, "unknown field")):
        write({**meta, "unet": {**meta["unet"], key: value}})
        cli_fails(capsys, ["enhance", "--run", r, src, out], key, msg, no_output=out)
    write({**meta, "edm": {k: v for k, v in meta["edm"].items() if k != "sigma_data"}})
    cli_fails(capsys, ["enhance", "--run", r, src, out], "sigma_data", "missing field", no_output=out)


def test_enhance_malformed_run_json(did_run, tmp_path, capsys):
    r = tmp_path / "run"
    shutil.copytree(did_run, r)
    src = tmp_path / "dark.png"
    src.write_bytes(pil_bytes(_rgb(40, 33), "PNG"))
    (r / "run.json").write_text("{not json")
    cli_fails(capsys, ["enhance", "--run", r, src, tmp_path / "o.png"], r / "run.json", "not valid JSON")
    # a run saved before run.json held its configs keeps them in did.json: read, and its errors named
    (r / "run.json").unlink()
    (r / "did.json").write_text("{not json")
    cli_fails(capsys, ["enhance", "--run", r, src, tmp_path / "o.png"], r / "did.json", "not valid JSON")


def test_enhance_unusual_inputs_work(did_run, tmp_path, capsys):
    for p, (h, w) in good_unusual(tmp_path / "in"):
        if p.name not in ("one_pixel.png", "thin_row.png", "alpha.png", "palette.png", "grey16.png",
                          "-dash-leading.png", "ünïcödé 名前.png", "odd.extension.dat", "float.tif"):
            continue
        out = tmp_path / f"out_{p.stem}.png"
        capsys.readouterr()
        assert main(["enhance", "--run", str(did_run), "--steps", "2", "--", str(p), str(out)]) == 0, \
            capsys.readouterr().err
        assert Image.open(out).size == (w, h)


# ------------------------------------------------------------------------------------------ develop (DiffRAW)
@pytest.fixture(scope="module")
def diffraw_run(tmp_path_factory):
    """A tiny, untrained but well-formed DiffRAW run directory (isp/ + diffraw/), written by save_checkpoint."""
    from rawdiff.config import DTDMConfig, ISPNetConfig, UNetConfig
    from rawdiff.nn.ispnet import ISPNet
    from rawdiff.nn.unet import UNet
    from rawdiff.train import save_checkpoint

    run = tmp_path_factory.mktemp("diffraw") / "run"
    icfg = ISPNetConfig(channels=8, num_blocks=1)
    ucfg = UNetConfig(in_channels=10, out_channels=3, base_channels=8, channel_mults=(1, 2), num_res_blocks=1)
    for sub, net, conf in (("isp", ISPNet(icfg), {"kind": "isp", "isp_net": asdict(icfg)}),
                           ("diffraw", UNet(ucfg), {"kind": "diffraw", "unet": asdict(ucfg),
                                                    "dtdm": {**asdict(DTDMConfig()), "sample_steps": 2}})):
        opt = torch.optim.AdamW(net.parameters())
        save_checkpoint(run / sub, 1, net, net, opt, [], conf)
    return run


def _bayer_png(path: Path, size=16) -> Path:
    from rawdiff.data.write import write_png16

    write_png16(path, (np.random.default_rng(0).random((size, size)) * 900 + 63).astype(np.uint16))
    return path


def test_develop_bad_inputs(diffraw_run, tmp_path, capsys):
    out = tmp_path / "out.png"
    cli_fails(capsys, ["develop", "--run", diffraw_run, tmp_path / "missing.dng", out], "missing.dng",
              "no such file", no_output=out)
    (tmp_path / "folder.dng").mkdir()
    cli_fails(capsys, ["develop", "--run", diffraw_run, tmp_path / "folder.dng", out], "folder.dng", "is a directory",
              no_output=out)
    src = _bayer_png(tmp_path / "bayer.png")
    cli_fails(capsys, ["develop", "--run", tmp_path / "nowhere", src, out], "nowhere", "", no_output=out)
    cli_fails(capsys, ["develop", "--run", diffraw_run, src, tmp_path / "out.gif"], "out.gif", ".png")
    cli_fails(capsys, ["develop", "--run", diffraw_run, "--bit-depth", "16", src, tmp_path / "out16.jpg"], "out16.jpg",
              "--bit-depth 16")
    (tmp_path / "exists_dir.png").mkdir()
    cli_fails(capsys, ["develop", "--run", diffraw_run, src, tmp_path / "exists_dir.png"], "exists_dir.png",
              "is a directory")
    (tmp_path / "a_file").write_text("x")
    cli_fails(capsys, ["develop", "--run", diffraw_run, src, tmp_path / "a_file" / "out.png"], "a_file", "is a file")
    # RAW-READER: non-RAW bytes with a RAW name; the message comes from the RAW reader (issue 13 rewrites it)
    fake = tmp_path / "photo.dng"
    fake.write_bytes(b"<html>not a raw file</html>")
    cli_fails(capsys, ["develop", "--run", diffraw_run, fake, out], "photo.dng", "", no_output=out)


def test_develop_corrupt_runs(diffraw_run, tmp_path, capsys):
    src = _bayer_png(tmp_path / "bayer.png")   # RAW-READER: a ZRR Bayer PNG input, read before the run is loaded
    out = tmp_path / "out.png"
    for run, names, msg in corrupt_runs(diffraw_run, tmp_path / "runs", ckpt_of=lambda r: r / "diffraw"):
        cli_fails(capsys, ["develop", "--run", run, src, out], names, msg, no_output=out)
    capsys.readouterr()
    assert main(["develop", "--run", str(diffraw_run), "--quiet", str(src), str(out)]) == 0
    assert Image.open(out).size == (16, 16)


# ------------------------------------------------------------------------------------------ data, train, reproduce
def test_data_commands_bad_arguments(tmp_path, capsys):
    cli_fails(capsys, ["data", "check", tmp_path / "absent"], tmp_path / "absent", "")
    (tmp_path / "plain.txt").write_text("x")
    cli_fails(capsys, ["data", "check", tmp_path / "plain.txt"], "plain.txt", "")
    out = tmp_path / "ds"
    cli_fails(capsys, ["data", "synth", "lowlight", "--n", "0", "--size", "32", "--out", out], "--n", ">= 1",
              no_output=out)
    cli_fails(capsys, ["data", "synth", "phone2dslr", "--n", "2", "--size", "32", "--test-fraction", "1.5",
                       "--out", out], "--test-fraction", "", no_output=out)
    cli_fails(capsys, ["data", "synth", "phone2dslr", "--n", "2", "--size", "7", "--out", out], "7", "",
              no_output=out)
    out.mkdir()
    cli_fails(capsys, ["data", "synth", "lowlight", "--n", "2", "--size", "32", "--out", out], out, "already exists")
    cli_fails(capsys, ["data", "synth", "lowlight", "--n", "2", "--size", "32", "--out",
                       tmp_path / "plain.txt" / "sub"], "plain.txt", "")


def test_train_bad_arguments(tmp_path, capsys, did_run):
    run = tmp_path / "run"
    cli_fails(capsys, ["train", "did", "--data", tmp_path / "absent", "--out", run], tmp_path / "absent", "",
              no_output=run)
    cli_fails(capsys, ["train", "isp", "--data", tmp_path / "absent", "--out", run], tmp_path / "absent", "",
              no_output=run)
    cli_fails(capsys, ["train", "isp", "--data", tmp_path, "--scale", "huge", "--out", run], "huge", "",
              no_output=run)
    ll = tmp_path / "ll"
    (ll / "train" / "low").mkdir(parents=True)
    (ll / "train" / "high").mkdir(parents=True)
    (ll / "train" / "low" / "0.png").write_bytes(png_bytes(32, 32)[:-30])
    (ll / "train" / "high" / "0.png").write_bytes(png_bytes(32, 32))
    cli_fails(capsys, ["train", "did", "--data", ll, "--out", run, "--steps", "1"], "0.png", "corrupt",
              no_output=run)
    (ll / "train" / "low" / "0.png").write_bytes(png_bytes(64, 64))
    (ll / "train" / "high" / "0.png").write_bytes(png_bytes(64, 64))
    bad, names, _ = corrupt_runs(did_run, tmp_path / "runs")[5]       # state.json with a string step
    cli_fails(capsys, ["train", "did", "--data", ll, "--out", bad, "--resume", "--steps", "3"], names,
              "corrupt checkpoint")


def test_reproduce_bad_parameters(tmp_path, capsys):
    figs = tmp_path / "figs"
    for p in ("1x=3", "=3", "no_equals", "a b=1"):
        cli_fails(capsys, ["reproduce", "--out-dir", figs, "-p", p], p, "bad parameter", no_output=figs)
    nb = tmp_path / "nbs"
    cli_fails(capsys, ["reproduce", "--notebooks-dir", nb, "--out-dir", figs], nb, "not found", no_output=figs)
    nb.mkdir()
    cli_fails(capsys, ["reproduce", "--notebooks-dir", nb, "--out-dir", figs], nb, "no notebooks", no_output=figs)
    (nb / "01_x.ipynb").write_text("{}")
    cli_fails(capsys, ["reproduce", "--notebooks-dir", nb, "--only", "99", "--out-dir", figs], "99", "",
              no_output=figs)


# ------------------------------------------------------------------------------------------ loaders
def test_config_from_dict_names_fields_and_source():
    from rawdiff.config import DiDConfig, TrainConfig, from_dict
    from rawdiff.presets import get_preset

    for name in ("smoke", "paper"):
        p = get_preset(name)
        assert from_dict(TrainConfig, json.loads(json.dumps(asdict(p.did_train)))) == p.did_train
        assert from_dict(DiDConfig, json.loads(json.dumps(asdict(p.did)))) == p.did
    good = asdict(DiDConfig())
    for bad, msg in (({**good, "scales": [32, "64"]}, "mistyped field(s) scales"),
                     ({**good, "patch": True}, "mistyped field(s) patch=True (expected int)"),
                     ({k: v for k, v in good.items() if k != "crop"}, "missing field(s) crop"),
                     ({**good, "extra": 1}, "unknown field(s) extra"),
                     ([1, 2], "expected a JSON object")):
        with pytest.raises(DataError, match=re.escape(msg)) as info:
            from_dict(DiDConfig, bad, source="run/did.json")
        assert str(info.value).startswith("run/did.json: DiDConfig config:")


def test_loaders_bad_and_unusual_files(tmp_path):
    from rawdiff.data.loaders import LowLightDataset, ZRRDataset

    z = tmp_path / "zrr"
    (z / "train" / "huawei_raw").mkdir(parents=True)
    (z / "train" / "canon").mkdir(parents=True)
    _bayer_png(z / "train" / "huawei_raw" / "0.png")
    (z / "train" / "canon" / "0.jpg").write_bytes(b"<html>")
    with pytest.raises(DataError, match="0.jpg.*not a readable image"):
        ZRRDataset(z, "train")[0]
    (z / "train" / "canon" / "0.jpg").write_bytes(pil_bytes(_rgb(32, 32), "PNG"))
    with pytest.raises(DataError, match="0.jpg: named .jpg but holds PNG data"):
        ZRRDataset(z, "train")[0]
    (z / "train" / "huawei_raw" / "0.png").write_bytes(png_bytes(16, 16)[:40])
    with pytest.raises(DataError, match="0.png"):
        ZRRDataset(z, "train")[0]

    ll = tmp_path / "ll"
    for sub in ("low", "high"):
        (ll / "train" / sub).mkdir(parents=True)
    (ll / "train" / "low" / "0.png").write_bytes(pil_bytes(_rgb(32, 32), "PNG"))
    rgba = Image.fromarray((np.random.default_rng(0).random((32, 32, 4)) * 255).astype(np.uint8), "RGBA")
    (ll / "train" / "high" / "0.png").write_bytes(pil_bytes(rgba, "PNG"))   # alpha dropped
    assert LowLightDataset(ll, "train")[0]["high"].shape == (3, 32, 32)
    (ll / "train" / "labels.json").write_text("{broken")
    with pytest.raises(DataError, match="labels.json"):
        LowLightDataset(ll, "train")
    (ll / "train" / "labels.json").unlink()
    (ll / "train" / "high" / "0.png").write_bytes(png_bytes(60000, 60000, raw=b""))
    with pytest.raises(DataError, match="0.png.*exceeds the limit"):
        LowLightDataset(ll, "train")[0]


def test_unexpected_error_keeps_its_traceback_and_says_bug(monkeypatch, capsys, tmp_path):
    """No catch-all: a non-user error still shows its traceback (then one line asking to report the bug)."""
    import rawdiff.commands.ocr as ocr_cmd

    def boom(args):
        raise ZeroDivisionError("deliberate")

    monkeypatch.setattr(ocr_cmd, "run", boom)
    monkeypatch.setattr("sys.argv", ["rawdiff", "ocr", str(tmp_path / "x.png")])
    assert main() == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: deliberate" in err
    assert err.strip().splitlines()[-1] == "rawdiff ocr: this is a bug in rawdiff, please report it with the traceback above"
    with pytest.raises(ZeroDivisionError):        # called from Python with argv: the exception propagates
        main(["ocr", str(tmp_path / "x.png")])


def test_develop_malformed_run_config_json(diffraw_run, tmp_path, capsys):
    r = tmp_path / "run"
    shutil.copytree(diffraw_run, r)
    (r / "isp" / "run.json").write_text('{"config": {"isp_net": ')
    src = _bayer_png(tmp_path / "bayer.png")
    cli_fails(capsys, ["develop", "--run", r, src, tmp_path / "o.png"], r / "isp" / "run.json", "not valid JSON")
