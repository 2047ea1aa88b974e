"""Published LOL eval15 numbers, quoted as context rows beside ours (issue 25, item 2) — never mixed with them.

Each entry was checked in its source before it was added (the source and the table are given beside it);
``gt_mean`` says whether that number was scored after rescaling the output to the ground truth's mean brightness
(the KinD / LLFlow / diffusion-paper test setting the Retinexformer authors describe and do not recommend).
RetinexNet's and KinD's rows are the numbers the Retinexformer authors report for them under their own test
setting (no GT-mean), not the numbers of their own papers; the issue's KinD 20.87 and Zero-DCE 14.86 could not be
checked in a source we could read and are not listed (:data:`UNVERIFIED`).
"""
from __future__ import annotations

__all__ = ["PUBLISHED_LOL", "UNVERIFIED", "published_rows"]

_RF = "Cai et al., Retinexformer, ICCV 2023"
_RF_TABLE = ("official repository caiyuanhao1998/Retinexformer (commit ad5c091): README figure "
             "figure/seven_results.png, 'Performance on LOL-v1, ...' table, column LOL-v1")
_RF_GTMEAN = ("official repository caiyuanhao1998/Retinexformer (commit ad5c091): README table 'Performance on LOL "
              "with the same test setting as KinD, LLFlow, and diffusion models', column LOL-v1")

#: method, PSNR dB, SSIM on LOL eval15 (LOL-v1 test), GT-mean corrected?, who reports it, where it was checked
PUBLISHED_LOL: tuple[dict, ...] = (
    {"method": "RetinexNet (Wei et al., BMVC 2018)", "psnr": 16.77, "ssim": 0.560, "gt_mean": False,
     "source": f"{_RF} (their evaluation)", "where": _RF_TABLE},
    {"method": "KinD (Zhang et al., ACM MM 2019)", "psnr": 20.86, "ssim": 0.790, "gt_mean": False,
     "source": f"{_RF} (their evaluation)", "where": _RF_TABLE},
    {"method": "Retinexformer", "psnr": 25.16, "ssim": 0.845, "gt_mean": False, "source": _RF, "where": _RF_TABLE},
    {"method": "Retinexformer", "psnr": 27.18, "ssim": 0.850, "gt_mean": True, "source": _RF, "where": _RF_GTMEAN},
)

#: Candidates named by the issue that could not be checked in their paper or official repository.
UNVERIFIED: tuple[str, ...] = ("Zero-DCE 14.86 dB (no LOL table found in a readable source)",
                               "KinD 20.87 dB as reported by KinD's own paper (its repository shows no table; "
                               "Retinexformer's evaluation of KinD, 20.86 dB, is listed instead)")

def published_rows(scale: str = "") -> list[dict]:
    """:data:`PUBLISHED_LOL` as table rows (``kind = "published (not ours)"``), for a table of their own."""
    return [{"scale": scale, "kind": "published (not ours)", "method": r["method"], "psnr": r["psnr"],
             "ssim": r["ssim"], "gt_mean": "yes" if r["gt_mean"] else "no", "source": r["source"],
             "where": r["where"]} for r in PUBLISHED_LOL]
