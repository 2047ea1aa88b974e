"""DiffRAW evidence: every method on the same test images, aligned metrics, seeds, intervals, verdict tables.

What notebook 04 and benchmarks/bench_dtdm.py call to decide DiffRAW's efficiency claim (Yi et al., AAAI-24:
DTDM needs far fewer steps than sampling from noise, at equal or better quality) under the rules of
rawdiff.claims (``rule_dtdm``, ``rule_dtdm_equal_nfe``):

* :func:`evaluate_per_image` — each method (:class:`rawdiff.diffraw.sample.Method`) on the **same** test
  images; sampler rows run with >= 3 noise seeds (``seeds``) and are **averaged per image**; scored against
  the target aligned into the RAW's geometry (rawdiff.metrics.aligned: known warp for synthetic pairs,
  estimated shift against ISPNet(w) for real ZRR — the same aligned target for every method), with the detail
  measures of rawdiff.metrics.detail and optionally pyiqa's weight-free full-reference metrics
  (:class:`rawdiff.metrics.MetricSuite`); wall time per image (mean over seeds).
* :func:`gate_rows` — the sanity-gate rows: ``d2`` = D²(y_test) and ``dtdm_d2`` = DTDM K = 1 given
  c = x = D²(y_test) (the training condition; the net must improve on it).
* :func:`summarise` — per method: n, NFE, mean and seeded bootstrap 95% interval of every metric
  (rawdiff.stats.bootstrap_mean); :func:`rawdiff.claims.dtdm_comparisons` gives the paired comparisons.
* the figures (distortion vs detail, budget curves) are in rawdiff.diffraw.plots; the claims' table and its
  budget curves (issue 24) in rawdiff.diffraw.budget.
* :func:`noise_control_output` — the detail metric's noise-injection control (issue 24, item 4).
* memory: every function here reads the test set in chunks (rawdiff.diffraw.sample.phone_chunks; a split that
  streams from disk is never held whole), keeps per-image metrics and only the first few outputs for figures;
  image i under seed sd draws its noise from its own generator (rawdiff.diffusion.precision.image_generators), so
  no result depends on the chunk size (tests/test_chunked_eval.py).
* notebook 03's tables: :func:`d2_calibration` (training condition D²(y) vs test condition ISPNet(w)),
  :func:`condition_ablation` (DiffRAW Fig. 2) and :func:`plug_and_play_rows`, with n and paired intervals.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from rawdiff.camera.degrade import degrade
from rawdiff.config import DegradeConfig, DTDMConfig, DTDMSampler
from rawdiff.diffraw.sample import develop_dtdm, method_output, phone_chunks, plug_and_play, recolour
from rawdiff.diffusion.precision import image_generators
from rawdiff.metrics.aligned import (
    ALIGNED_METRICS,
    align_target,
    aligned_metrics,
    crop_border,
    default_border,
)
from rawdiff.metrics.colour import mean_color_distance
from rawdiff.metrics.detail import highband_ssim, luma_ssim, sharpness_ratio, spectrum_distance
from rawdiff.metrics.image import MetricSuite
from rawdiff.metrics.noise import flat_local_std, noise_matched_to
from rawdiff.stats import bootstrap_geomean, bootstrap_mean, paired_bootstrap
from rawdiff.utils import Timer, derive_seed, make_generator, resolve_device

__all__ = ["PER_IMAGE_METRICS", "NOISE_CONTROL", "SAMPLERS", "noise_control_output", "aligned_reference", "shown_images", "score", "evaluate_per_image", "gate_rows",
           "summarise", "d2_calibration", "condition_ablation", "plug_and_play_rows"]

PER_IMAGE_METRICS = (*ALIGNED_METRICS, "spectrum_distance", "sharpness_ratio", "highband_ssim", "flat_std")
NOISE_CONTROL = "ispnet_noise_control"   # rawdiff.claims.diffraw.NOISE_CONTROL: the detail metric's control row
SAMPLERS = ("dtdm", "ddpm", "ddim", "truncated")   # kinds whose output depends on the noise seed
RATIO_METRICS = ("sharpness_ratio",)                # summarised by their geometric mean (rawdiff.stats)


def aligned_reference(test, c_test: torch.Tensor) -> torch.Tensor:
    """The test targets in the RAW's geometry: known warp (``test.meta``) or shift estimated against c_test."""
    meta = getattr(test, "meta", None)
    return align_target(test.rgb.float(), meta, None if meta is not None else c_test.to(test.rgb.device))


def shown_images(test, c_test, n: int):
    """``(pairs, c, aligned target)`` of the first ``n`` test pairs, in memory — for figures and set-level
    metrics (FID); ``c_test`` a tensor over the set or a function ``piece -> c`` (ISPNet per chunk)."""
    shown = test.subset(min(int(n), len(test)))
    c = c_test(shown) if callable(c_test) else c_test[:len(shown)].to(shown.rgb.device)
    return shown, c, aligned_reference(shown, c)


def score(out: torch.Tensor, aligned: torch.Tensor, suite=None) -> dict[str, list]:
    """Per-image metrics of ``out`` against the aligned target (lists of length N; suite values may be str)."""
    b = default_border(out.shape[-2])
    m = aligned_metrics(out, None, aligned=aligned, border=b)
    po, pt = crop_border(out.float(), b), crop_border(aligned.float().to(out.device), b)
    res = {k: v.tolist() for k, v in m.items()}
    res["spectrum_distance"] = spectrum_distance(po, pt).tolist()
    res["sharpness_ratio"] = sharpness_ratio(po, pt).tolist()
    res["highband_ssim"] = highband_ssim(po, pt).tolist()     # the DTDM rules' detail metric (issue 24, item 4)
    res["flat_std"] = flat_local_std(po, pt).tolist()         # the leftover-noise gate's input (issue 24, rule 3)
    if suite is not None:
        per = suite.per_image(po, pt)
        for name in suite.names:
            res[name] = [p[name] for p in per]
    return res


def _piece_inputs(piece, a: int, c_test, aligned, dev) -> tuple[torch.Tensor, torch.Tensor]:
    """c and the aligned target of the test images ``a .. a + len(piece) - 1``: ``c_test`` is a tensor over the
    set (sliced) or a function ``piece -> c`` (e.g. ISPNet per chunk); ``aligned`` a tensor over the set or None
    (aligned here, per image)."""
    n = len(piece)
    c = (c_test(piece) if callable(c_test) else c_test[a:a + n]).to(dev)
    ref = aligned[a:a + n].to(dev) if aligned is not None else aligned_reference(piece, c)
    return c, ref


def _extend(acc: dict, new: dict) -> None:
    for k, v in new.items():
        acc.setdefault(k, []).extend(v)


def _keep(kept: list, out: torch.Tensor, keep: bool | int) -> None:
    """Append the part of ``out`` still wanted for figures (all with ``True``, up to ``keep`` images with an int)."""
    have = sum(k.shape[0] for k in kept)
    want = out.shape[0] if keep is True else max(0, int(keep) - have)
    if want:
        kept.append(out[:want].cpu())


def _d2(y: torch.Tensor, seed: int, start: int, cfg: DegradeConfig) -> torch.Tensor:
    """D²(y) of the test images ``start ..``, each image a batch of its own: its resize factors / modes, order-2
    gate and final-stage order (batch-shared in training, as Real-ESRGAN) are drawn for it alone, from
    ``derive_seed(seed, "d2-test", index in the set)``, so the test set samples D²'s whole distribution and the
    result does not depend on the chunk.  (Until the study re-run of 2026-12-07 one shared draw served the whole
    set: 64 images shared one order-2 gate and one set of resize factors, so the gate's D² severity was one coin
    flip — mean PSNR 26.2 dB for seed 0's draw, 25.1 dB with a draw per image.)"""
    y = y.float()
    return torch.cat([degrade(y[j:j + 1], make_generator(derive_seed(seed, "d2-test", start + j), y.device), cfg)
                      for j in range(y.shape[0])]) if y.shape[0] else y


def _avg(vals: list[list]) -> list:
    """Mean over seeds per image (strings — unavailable metrics — are passed through)."""
    out = []
    for per_seed in zip(*vals):
        nums = [v for v in per_seed if isinstance(v, (int, float))]
        out.append(sum(nums) / len(nums) if len(nums) == len(per_seed) else per_seed[0])
    return out


def _rows(name, steps, s, nfe, names, metrics: dict[str, list], seconds: float, n_seeds: int, main: bool) -> list[dict]:
    rows = []
    for i, img in enumerate(names):
        r = {"method": name, "steps": steps, "s": s, "nfe": nfe, "image": img}
        r.update({k: v[i] for k, v in metrics.items()})
        r.update({"sec_per_image": seconds, "n_seeds": n_seeds, "main": int(main)})
        rows.append(r)
    return rows


def noise_control_output(c: torch.Tensor, matched: torch.Tensor, seed: int, start: int) -> torch.Tensor:
    """The detail metric's noise-injection control (issue 24, item 4): ISPNet's output ``c`` plus white noise
    matched to the high-band energy of ``matched`` (DTDM's output; rawdiff.metrics.noise.noise_matched_to), image
    ``start + j`` drawing from its own generator (``image_generators(seed, [i], tag="noise-control")``), so the
    result does not depend on the chunk."""
    gens = image_generators(seed, range(start, start + c.shape[0]), c.device, tag="noise-control")
    return torch.cat([noise_matched_to(c[j:j + 1], matched[j:j + 1].to(c), g) for j, g in enumerate(gens)])


def _take(m, a: int, n: int) -> int:
    """How many of the piece's ``n`` images (set indices ``a ..``) method ``m`` runs on (``m.images``)."""
    return n if m.images is None else max(0, min(n, int(m.images) - a))


@torch.no_grad()
def evaluate_per_image(methods: Sequence, test, *, c_test, nets: dict, cfg: DTDMConfig,
                       seeds: Sequence[int] = (0, 1, 2), suite_metrics: Sequence[str] = (), device="auto",
                       condition: str = "raw+c", main_s: int | None = None, aligned: torch.Tensor | None = None,
                       keep_outputs: bool | int = False, progress: bool = False, chunk: int | None = None,
                       precision: str = DTDMSampler.precision, noise_control=None):
    """Per-image rows (method, steps, s, nfe, image, <PER_IMAGE_METRICS>, <suite metrics>, sec_per_image,
    n_seeds, main) for every method on every test image; sampler rows averaged over ``seeds``.

    ``nets``: {"dtdm": {s: unet}, "ddpm": unet}; ``c_test`` = ISPNet(w) (a tensor over the set, or a function
    ``piece -> c`` computing it per chunk); ``main_s``: the DTDM s the claims judge (default ``cfg.s``).
    A method with ``images`` / ``seeds`` set runs on the first that many images / seeds only (its rows cover
    those images).  ``noise_control``: one of ``methods`` (DTDM K = 10 at the main s); adds the rows
    :data:`NOISE_CONTROL` (nfe 0) = :func:`noise_control_output` of ISPNet's output matched to that method's
    first-seed output.
    The test set is read once, ``chunk`` images at a time (default rawdiff.config.DTDMSampler.chunk; a split
    that streams from disk is never held whole), and only per-image metrics are kept: memory is bounded by the
    chunk.  Image i under seed ``sd`` draws its noise from ``image_generators(sd, [i])`` — the same for every
    method and every chunk size.  Returns ``rows`` or ``(rows, outputs)``: the first seed's outputs per method,
    all of them with ``keep_outputs=True``, the first ``keep_outputs`` images with an int.
    """

    dev = resolve_device(device)
    suite = MetricSuite(list(suite_metrics), device=dev) if suite_metrics else None
    main_s = cfg.s if main_s is None else main_s
    step = max(1, int(chunk or DTDMSampler.chunk))
    run_seeds = {m: (list(seeds) if m.kind in SAMPLERS else list(seeds)[:1])[:m.seeds or None] for m in methods}
    scores = {(i, sd): {} for i, m in enumerate(methods) for sd in run_seeds[m]}
    secs = {key: 0.0 for key in scores}
    kept: dict[int, list] = {i: [] for i in range(len(methods))}
    ctl = methods.index(noise_control) if noise_control is not None else None
    ctl_scores: dict = {}
    names: list[str] = []
    for a, piece in phone_chunks(test, step, dev):
        names += list(piece.names)
        c, ref = _piece_inputs(piece, a, c_test, aligned, dev)
        for i, m in enumerate(methods):
            n = _take(m, a, len(piece))
            if n == 0:
                continue
            part = piece if n == len(piece) else piece.subset(n)
            for sd in run_seeds[m]:
                gens = image_generators(sd, range(a, a + n), dev)
                with Timer(dev) as tm:
                    out = method_output(m, part, c[:n], nets, cfg, gens, condition=condition, chunk=step,
                                        precision=precision)
                secs[(i, sd)] += tm.seconds
                _extend(scores[(i, sd)], score(out, ref[:n], suite))
                if keep_outputs and sd == run_seeds[m][0]:
                    _keep(kept[i], out, keep_outputs)
                if i == ctl and sd == run_seeds[m][0]:
                    _extend(ctl_scores, score(noise_control_output(c[:n], out, seeds[0], a), ref[:n], suite))
    rows, outputs = [], {}
    for i, m in enumerate(methods):
        per_seed = [scores[(i, sd)] for sd in run_seeds[m]]
        metrics = {k: _avg([s_[k] for s_ in per_seed]) for k in per_seed[0]}
        mine = names[:len(metrics["cc_psnr"])]
        sec = sum(secs[(i, sd)] for sd in run_seeds[m]) / len(run_seeds[m]) / max(1, len(mine))
        steps = cfg.T if m.kind == "ddpm" else m.steps
        rows += _rows(m.name, steps, m.s, m.nfe(cfg.T), mine, metrics, sec, len(run_seeds[m]),
                      m.kind == "dtdm" and (m.s or cfg.s) == main_s)
        if keep_outputs:
            outputs[(m.name, m.s, m.steps)] = torch.cat(kept[i])
        if progress:
            print(f"{m.name:20s} s={m.s} K={steps}: cc_psnr {sum(metrics['cc_psnr']) / len(mine):.2f} dB, "
                  f"{sec:.3f} s/image on {len(mine)} images", flush=True)
    if ctl is not None:
        rows += _rows(NOISE_CONTROL, None, None, 0, names[:len(ctl_scores["cc_psnr"])], ctl_scores, 0.0, 1, False)
    return (rows, outputs) if keep_outputs else rows


@torch.no_grad()
def gate_rows(unet, test, cfg: DTDMConfig, *, seeds: Sequence[int] = (0, 1, 2), device="auto",
              degrade_cfg: DegradeConfig = DegradeConfig(), condition: str = "raw+c", seed: int = 0,
              chunk: int | None = None, precision: str = DTDMSampler.precision) -> list[dict]:
    """Sanity-gate rows ``d2`` (D²(y_test), the training condition) and ``dtdm_d2`` (DTDM K = 1 given
    c = x = D²(y_test), averaged over ``seeds``), scored like :func:`evaluate_per_image` but against y_test in its
    own geometry: D²(y) is in y's geometry, and so is what the net was trained to output from it.  Streams the
    test set in chunks; D² and the sampler draw per image (results independent of ``chunk``)."""

    dev = resolve_device(device)
    step = max(1, int(chunk or DTDMSampler.chunk))
    d2_sc, dt_sc, names = {}, {sd: {} for sd in seeds}, []
    for a, piece in phone_chunks(test, step, dev):
        names += list(piece.names)
        ref = piece.rgb.float()
        x = _d2(ref, seed, a, degrade_cfg)
        _extend(d2_sc, score(x, ref))
        for sd in seeds:
            gens = image_generators(sd, range(a, a + len(piece)), dev)
            out = develop_dtdm(unet, piece.raw, x, cfg, 1, condition=condition, generator=gens, chunk=step,
                               precision=precision)
            _extend(dt_sc[sd], score(out, ref))
    rows = _rows("d2", None, None, 0, names, d2_sc, 0.0, 1, False)
    per_seed = [dt_sc[sd] for sd in seeds]
    rows += _rows("dtdm_d2", 1, cfg.s, 1, names, {k: _avg([s_[k] for s_ in per_seed]) for k in per_seed[0]}, 0.0,
                  len(seeds), False)
    return rows


def summarise(rows: Sequence[dict], metrics: Sequence[str] | None = None, seed: int = 0) -> list[dict]:
    """One row per (method, s, steps): nfe, n, sec_per_image and ``<metric>`` mean with ``<metric>_lo`` /
    ``<metric>_hi`` (seeded bootstrap 95% interval over images; geometric mean for :data:`RATIO_METRICS`).
    Non-numeric metrics are copied as text."""

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], r.get("s"), r.get("steps")), []).append(r)
    metrics = list(metrics) if metrics is not None else [k for k in rows[0] if k not in
                                                        ("method", "steps", "s", "nfe", "image", "sec_per_image",
                                                         "n_seeds", "main")]
    out = []
    for (method, s, steps), rr in groups.items():
        row = {"method": method, "steps": steps, "s": s, "nfe": rr[0]["nfe"], "n": len(rr),
               "n_seeds": rr[0].get("n_seeds", 1)}
        for k in metrics:
            vals = [r.get(k) for r in rr]
            if all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals):
                geo = k in RATIO_METRICS and all(v > 0 for v in vals)
                iv = (bootstrap_geomean if geo else bootstrap_mean)(vals, seed=seed)
                row.update({k: round(iv.mean, 4), f"{k}_lo": round(iv.lo, 4), f"{k}_hi": round(iv.hi, 4)})
            else:
                row[k] = next((v for v in vals if isinstance(v, str)), "n/a")
        row["sec_per_image"] = round(float(rr[0].get("sec_per_image", float("nan"))), 4)
        out.append(row)
    return out


# ------------------------------------------------------------------------------------------ notebook 03 tables
def _pct(v) -> str:
    q = torch.quantile(torch.as_tensor(v, dtype=torch.float64), torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64))
    return " / ".join(f"{x:.2f}" for x in q.tolist())


@torch.no_grad()
def d2_calibration(test, c_test, aligned: torch.Tensor | None, scales: Sequence[float] | None = None,
                   seed: int = 0, chunk: int | None = None) -> list[dict]:
    """D²(y) at length scales f (rawdiff.camera.degrade) vs ISPNet(w): 10th/50th/90th percentiles over the test
    images of cc_psnr and sharpness ratio (D²(y) is scored against y, ISPNet(w) against the aligned target).
    ``c_test``/``aligned`` as in :func:`evaluate_per_image`; the set is read in chunks, D² drawn per image."""
    scales = sorted(set(scales or (1.0, 64 / 448, DegradeConfig().scale)), reverse=True)
    labels = ["ISPNet(w) (test condition)"] + [
        f"D²(y), f = {f:.3g}{' (default)' if f == DegradeConfig().scale else ''}" for f in scales]
    sc = {name: {} for name in labels}
    n = 0
    for a, piece in phone_chunks(test, max(1, int(chunk or DTDMSampler.chunk))):
        n += len(piece)
        c, ref = _piece_inputs(piece, a, c_test, aligned, piece.rgb.device)
        _extend(sc[labels[0]], score(c, ref))
        for name, f in zip(labels[1:], scales):
            _extend(sc[name], score(_d2(piece.rgb.float(), seed, a, DegradeConfig(scale=f)), piece.rgb))
    return [{"condition": name, "n": n, "cc_psnr p10/p50/p90": _pct(v["cc_psnr"]),
             "sharpness p10/p50/p90": _pct(v["sharpness_ratio"]),
             "spectrum_distance p10/p50/p90": _pct(v["spectrum_distance"])} for name, v in sc.items()]


def _interval_cols(values, col: str, seed: int) -> dict:

    iv = bootstrap_mean(values, seed=seed)
    return {col: round(iv.mean, 4), f"{col}_lo": round(iv.lo, 4), f"{col}_hi": round(iv.hi, 4)}


@torch.no_grad()
def condition_ablation(nets: dict, test, c_test, cfg: DTDMConfig, aligned: torch.Tensor | None, *,
                       steps: int = 5, seeds: Sequence[int] = (0, 1, 2), seed: int = 0, chunk: int | None = None,
                       keep: int = 8, precision: str = DTDMSampler.precision):
    """DiffRAW Fig. 2 ablation on the aligned target: per condition (``nets``: {condition: unet}) n, aligned
    ``psnr``/``ssim``, ``color_error`` (CIEDE2000), ``cc_psnr`` with intervals, seeds averaged per image; ``raw``
    is compared (paired) with ``none`` on SSIM, ``raw+c`` with ``raw`` on colour error (rawdiff.claims' 03
    rules read ``compared_with``/``diff``/``lo``/``hi``/``verdict``).  Streams the set in chunks (per-image
    noise, :func:`evaluate_per_image`).  Returns (rows, first-seed outputs of the first ``keep`` images)."""

    step = max(1, int(chunk or DTDMSampler.chunk))
    sc = {cond: {sd: {} for sd in seeds} for cond in nets}
    sc["ispnet_only"] = {0: {}}
    kept = {cond: [] for cond in nets}
    n = 0
    for a, piece in phone_chunks(test, step):
        n += len(piece)
        c, ref = _piece_inputs(piece, a, c_test, aligned, piece.raw.device)
        _extend(sc["ispnet_only"][0], score(c, ref))
        for cond, net in nets.items():
            for sd in seeds:
                o = develop_dtdm(net, piece.raw, c, cfg, steps, condition=cond, chunk=step, precision=precision,
                                 generator=image_generators(sd, range(a, a + len(piece)), c.device))
                _extend(sc[cond][sd], score(o, ref))
                if sd == seeds[0]:
                    _keep(kept[cond], o, keep)
    sc = {cond: list(v.values()) for cond, v in sc.items()}
    outs = {cond: torch.cat(v) for cond, v in kept.items()}
    prev = {"raw": ("none", "aligned_ssim", True), "raw+c": ("raw", "ciede2000", False)}
    rows = []
    for cond, scores in sc.items():
        row = {"condition": cond, "steps": 0 if cond == "ispnet_only" else steps, "n": n}
        for col, k in (("psnr", "aligned_psnr"), ("ssim", "aligned_ssim"), ("color_error", "ciede2000"),
                       ("cc_psnr", "cc_psnr")):
            row.update(_interval_cols(_avg([s_[k] for s_ in scores]), col, seed))
        if cond in prev and prev[cond][0] in sc:
            other, k, hib = prev[cond]
            cmp = paired_bootstrap(_avg([s_[k] for s_ in scores]), _avg([s_[k] for s_ in sc[other]]),
                                   higher_is_better=hib, seed=seed)
            row.update({"compared_with": other, "on": k, "diff": round(cmp.diff, 4), "lo": round(cmp.lo, 4),
                        "hi": round(cmp.hi, 4), "verdict": cmp.verdict})
        rows.append(row)
    return rows, outs


@torch.no_grad()
def plug_and_play_rows(unet, test, c_test, cfg: DTDMConfig, aligned: torch.Tensor | None, *,
                       styles: Sequence[str] = ("own", "warm", "cool", "sepia"), steps: int = 5,
                       seeds: Sequence[int] = (0, 1, 2), seed: int = 0, chunk: int | None = None, keep: int = 8,
                       precision: str = DTDMSampler.precision):
    """Colour plug-and-play (issue 24, rule 5): per style, mean-Lab CIEDE2000 of the output to the new c and to
    the scene's aligned target, seeds averaged per image, and their paired comparison (n, diff, lo, hi, verdict);
    on each swapped style the structure kept, ``luma_ssim_to_own`` (+ ``_lo``/``_hi``): per image the mean over
    seeds of luma SSIM(swapped-c output seed i, own-c output seed i), bootstrap mean over images.  Per swapped
    style also the "output = c" baseline row (``c_source = baseline``): c itself scored as the output (distance
    0 to c; luma SSIM(c, own-c output), seeds averaged).  Streams the set in chunks (per-image noise).  Returns
    (rows, {style: (c, first-seed output)}) for the first ``keep`` images."""

    step = max(1, int(chunk or DTDMSampler.chunk))
    styles = list(styles)
    run = styles if "own" in styles else ["own", *styles]
    to_c, to_src, c_src, ssim_own, ssim_c = ({v: [] for v in run} for _ in range(5))
    kept = {v: ([], []) for v in styles}
    for a, piece in phone_chunks(test, step):
        c, ref = _piece_inputs(piece, a, c_test, aligned, piece.raw.device)
        own = None
        for v in run:
            c_v = c if v == "own" else recolour(c, v)
            o = [plug_and_play(unet, piece.raw, c_v, cfg, steps, chunk=step, precision=precision,
                               generator=image_generators(sd, range(a, a + len(piece)), c.device)) for sd in seeds]
            own = o if v == "own" else own
            to_c[v] += torch.stack([mean_color_distance(x, c_v) for x in o]).mean(0).tolist()
            to_src[v] += torch.stack([mean_color_distance(x, ref) for x in o]).mean(0).tolist()
            c_src[v] += mean_color_distance(c_v, ref).tolist()
            ssim_own[v] += torch.stack([luma_ssim(x, y) for x, y in zip(o, own)]).mean(0).tolist()
            ssim_c[v] += torch.stack([luma_ssim(c_v, y) for y in own]).mean(0).tolist()
            if v in kept:
                _keep(kept[v][0], c_v, keep)
                _keep(kept[v][1], o[0], keep)
    rows, outs = [], {}
    for v in styles:
        outs[v] = (torch.cat(kept[v][0]), torch.cat(kept[v][1]))
        cmp = paired_bootstrap(to_c[v], to_src[v], higher_is_better=False, seed=seed)
        row = {"c_source": "own" if v == "own" else "swapped", "style": v, "n": len(to_c[v]),
               "color_dist_to_c": round(cmp.mean_a, 4), "color_dist_to_source": round(cmp.mean_b, 4),
               "diff": round(cmp.diff, 4), "lo": round(cmp.lo, 4), "hi": round(cmp.hi, 4),
               "verdict": cmp.verdict, "c_dist_to_source": round(sum(c_src[v]) / len(c_src[v]), 4)}
        blank = dict.fromkeys(("luma_ssim_to_own", "luma_ssim_to_own_lo", "luma_ssim_to_own_hi"), "")
        rows.append({**row, **(_interval_cols(ssim_own[v], "luma_ssim_to_own", seed) if v != "own" else blank)})
    for v in styles:
        if v != "own":   # "output = c": colour distance 0 to c by construction
            cmp = paired_bootstrap([0.0] * len(c_src[v]), c_src[v], higher_is_better=False, seed=seed)
            rows.append({"c_source": "baseline", "style": f"output = c ({v})", "n": len(c_src[v]),
                         "color_dist_to_c": 0.0, "color_dist_to_source": round(cmp.mean_b, 4),
                         "diff": round(cmp.diff, 4), "lo": round(cmp.lo, 4), "hi": round(cmp.hi, 4),
                         "verdict": cmp.verdict, "c_dist_to_source": round(cmp.mean_b, 4),
                         **_interval_cols(ssim_c[v], "luma_ssim_to_own", seed)})
    return rows, outs
