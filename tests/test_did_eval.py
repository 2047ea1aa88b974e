"""rawdiff.did.evaluate: the per-image rows the DiD claim rules read, and the central crop."""
import pytest
import torch

from rawdiff.did.evaluate import center_crop, ocr_protocols, per_image_rows


def test_center_crop_takes_the_middle_window():
    x = torch.arange(5 * 7, dtype=torch.float32).reshape(1, 1, 5, 7)
    c = center_crop(x, 3)
    assert c.shape == (1, 1, 3, 3) and c[0, 0, 0, 0] == x[0, 0, 1, 2]
    assert center_crop(x, None).shape == (1, 1, 5, 5) and center_crop(x, 99).shape == (1, 1, 5, 5)


def test_per_image_rows_score_each_image_against_its_target():
    g = torch.Generator().manual_seed(0)
    bright = torch.rand(2, 3, 16, 16, generator=g)
    img = bright.clone()
    img[1] = (img[1] + 0.1).clamp(0, 1)
    rows = per_image_rows(img, bright, ["a", "b"], "normalization", "tail", scale="smoke")
    assert [r["image"] for r in rows] == ["a", "b"] and all(r["normalization"] == "tail" for r in rows)
    assert rows[0]["psnr"] > 60 and rows[0]["ssim"] > 0.999 and 15 < rows[1]["psnr"] < 25


def test_ocr_protocols_default_per_scale_and_reject_unknown_names():
    assert ocr_protocols("study") == ["did", "raw"]      # issue 24 rule 7 restored raw at study
    assert ocr_protocols("smoke") == ["did", "raw"]
    assert ocr_protocols("paper") == ["did", "raw"]
    assert ocr_protocols("study", ["raw", "did", "raw"]) == ["raw", "did"]
    assert ocr_protocols("smoke", ["did-relative"]) == ["did-relative"] == ocr_protocols("study", "did-relative")
    for bad in (["dark"], []):
        with pytest.raises(ValueError, match="did-relative"):
            ocr_protocols("study", bad)
