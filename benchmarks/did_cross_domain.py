"""DiD across training domains: a synthetic-trained and a LOL-trained net, each on both test sets (issue 25).

Evaluates two trained DiD runs (``--synthetic-run``, ``--lol-run``: run folders, e.g. notebook 05's cached
``build/cache/did-tail-*`` of a ``study`` run and of the ``lol`` run) on the centre crops (``--crop``, 128 px as
notebook 05) of the first ``--n`` test pairs of each low-light dataset (``--synthetic-root``: our synthetic set,
``--lol-root``: LOL in either layout), through each model's own cascade (ILVR k = 6 of 18 steps, the models'
sampler; one seed, ``derive_seed``-free: ``generator=seed`` as notebook 05's ``evaluate_settings``).  Per test set
it prints and records each net's PSNR / SSIM / high-band SSIM (rawdiff.metrics.detail.highband_ssim) with a 95 %
bootstrap interval over images, and LOL-trained minus synthetic-trained as a paired bootstrap difference
(rawdiff.stats) on the same images and noise.

On the word crops (``--synthetic-ocr``, ``--lol-ocr``: two snapshot folders, e.g. ``results/study`` and
``results/lol``, each with notebook 06's ``06_ocr_per_word.csv``) it pairs the two runs' per-word results for DiD
and the regression UNet on the same words, levels and engines (checked), per protocol x engine arm, with the
levels that are floor or ceiling levels in either run set aside (rawdiff.claims.did.ocr_level_kinds: the
scorecard's rule), and reports LOL-trained minus synthetic-trained word accuracy as a paired bootstrap difference.

    python -m benchmarks.did_cross_domain --synthetic-run DIR --lol-run DIR --synthetic-root DIR --lol-root DIR
                                          [--n 20] [--crop 128] [--device auto] [--seed 0]
    python -m benchmarks.did_cross_domain --synthetic-ocr results/study --lol-ocr results/lol
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

import rawdiff  # noqa: F401
from benchmarks.common import record
from rawdiff.claims.common import read_csv
from rawdiff.claims.did import ocr_level_kinds
from rawdiff.did.enhance import load_did
from rawdiff.did.evaluate import eval_crops, evaluate_settings
from rawdiff.metrics.detail import highband_ssim
from rawdiff.metrics.image import psnr, ssim
from rawdiff.stats import bootstrap_mean, paired_bootstrap
from rawdiff.utils import resolve_device

METRICS = {"psnr": psnr, "ssim": ssim, "detail_hb_ssim": highband_ssim}


def per_image(model, dark: torch.Tensor, bright: torch.Tensor, seed: int) -> dict[str, list[float]]:
    """Each metric of ``model``'s cascade output per image (the model's own sampler, one seed)."""
    _, res = evaluate_settings(model, dark, bright, [{"setting": "own"}], seed=seed, metrics=("psnr",))
    out = res["own"].image.float().clamp(0, 1)
    return {k: [float(v) for v in f(out, bright.to(out.device))] for k, f in METRICS.items()}


def ocr_rows(synthetic_dir: str, lol_dir: str, seed: int = 0) -> list[dict]:
    """LOL-trained minus synthetic-trained word accuracy per arm and method, paired per word (module docstring)."""
    runs = {name: read_csv(Path(folder) / "06_ocr_per_word.csv")
            for name, folder in (("synthetic", synthetic_dir), ("lol", lol_dir))}
    kinds = {name: ocr_level_kinds(rs) for name, rs in runs.items()}
    rows = []
    arms = sorted({(r["protocol"], r["engine"]) for r in runs["lol"]})
    for prot, eng in arms:
        kept = {k[2] for k in kinds["lol"] if k[:2] == (prot, eng)
                and all(kd.get(k) == "kept" for kd in kinds.values())}
        for method in ("did", "regression unet"):
            picked = {}
            for name, rs in runs.items():
                picked[name] = {(r["level"], r["item"]): r for r in rs if (r["protocol"], r["engine"], r["method"])
                                == (prot, eng, method) and r["level"] in kept}
            keys = sorted(picked["lol"])
            if not keys or sorted(picked["synthetic"]) != keys:
                raise SystemExit(f"{prot}/{eng} {method}: the two runs did not read the same words")
            if any(picked["lol"][k]["label"] != picked["synthetic"][k]["label"] for k in keys):
                raise SystemExit(f"{prot}/{eng} {method}: the two runs' words differ")
            c = paired_bootstrap([float(picked["lol"][k]["correct"]) for k in keys],
                                 [float(picked["synthetic"][k]["correct"]) for k in keys], seed=seed)
            rows.append({"test_set": "word crops", "arm": f"{prot}/{eng}", "method": method,
                         "levels": ",".join(sorted(kept)), "n_words": c.n, "LOL-trained": c.mean_a,
                         "synthetic-trained": c.mean_b, "diff": c.diff, "lo": c.lo, "hi": c.hi,
                         "LOL-trained better": c.verdict})
    return rows


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--synthetic-run")
    ap.add_argument("--lol-run")
    ap.add_argument("--synthetic-root")
    ap.add_argument("--lol-root")
    ap.add_argument("--synthetic-ocr")
    ap.add_argument("--lol-ocr")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.synthetic_ocr or a.lol_ocr:
        if not (a.synthetic_ocr and a.lol_ocr):
            ap.error("--synthetic-ocr and --lol-ocr go together")
        return record("did_cross_domain_ocr", torch.device("cpu"), ocr_rows(a.synthetic_ocr, a.lol_ocr, a.seed),
                      title="DiD and the regression UNet across training domains: word crops")
    if not (a.synthetic_run and a.lol_run and a.synthetic_root and a.lol_root):
        ap.error("--synthetic-run, --lol-run, --synthetic-root and --lol-root are needed (or --synthetic-ocr/--lol-ocr)")
    dev = resolve_device(a.device)
    nets = {"synthetic-trained": load_did(a.synthetic_run, device=dev), "LOL-trained": load_did(a.lol_run, device=dev)}
    rows = []
    for test_name, root in (("synthetic test", a.synthetic_root), ("LOL eval15", a.lol_root)):
        dark, bright, names = eval_crops(root, a.n, a.crop, dev)
        vals = {net: per_image(m, dark, bright, a.seed) for net, m in nets.items()}
        for net, v in vals.items():
            row = {"test_set": test_name, "net": net, "n_images": len(names)}
            for k, xs in v.items():
                iv = bootstrap_mean(xs, seed=a.seed)
                row.update({k: iv.mean, f"{k}_lo": iv.lo, f"{k}_hi": iv.hi})
            rows.append(row)
        for k in METRICS:
            c = paired_bootstrap(vals["LOL-trained"][k], vals["synthetic-trained"][k], seed=a.seed)
            rows.append({"test_set": test_name, "net": "LOL-trained - synthetic-trained", "n_images": c.n,
                         k: c.diff, f"{k}_lo": c.lo, f"{k}_hi": c.hi, f"{k}: LOL-trained better": c.verdict})
    return record("did_cross_domain", dev, rows, title=f"DiD across training domains ({a.crop}-px centre crops)")


if __name__ == "__main__":
    main()
