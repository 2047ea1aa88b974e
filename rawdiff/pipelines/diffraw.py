"""DiffRAW end to end (Yi et al., AAAI-24): the names notebooks 03/04, the CLI and the benchmarks import.

This module re-exports the DiffRAW pipeline, which lives in one module per concern:

* rawdiff.pipelines.diffraw_data — :class:`PhoneData`, :func:`load_phone`, :func:`prepare_data`, the UNet
  condition :func:`make_cond`, [0, 1] <-> [-1, 1] helpers, :func:`visualise_raw`;
* rawdiff.pipelines.diffraw_train — ISPNet and DTDM/DDPM UNet training (batch and loss functions) and their
  cached runs (:func:`get_or_train_ispnet`, :func:`get_or_train_diffraw` through rawdiff.runs);
* rawdiff.pipelines.diffraw_sample — :func:`run_ispnet`, :func:`develop_dtdm`, :func:`develop_baseline`,
  :func:`plug_and_play`, :func:`recolour`, the step-ablation :func:`evaluate`;
* rawdiff.pipelines.diffraw_develop — run directories (:func:`load_run_dir`) and tiled :func:`develop_raw`;
* rawdiff.metrics.colour — :func:`color_error`, :func:`mean_color_distance`, :func:`chroma_stats`,
  :func:`edge_corr`.

Data flow (DESIGN.md §3; images in [0, 1] outside the diffusion, [-1, 1] inside): training pairs are packed
phone RAW w (N x 4 x h x w) and DSLR sRGB y (N x 3 x 2h x 2w); c_train = x_train = D²(y); c_test = x_test =
ISPNet(w); the UNet input is [y_t, w upsampled, c] (3 + 4 + 3 channels).
"""
from __future__ import annotations

from rawdiff.errors import DataError, RawdiffError  # noqa: F401  (tests use P.RawdiffError)
from rawdiff.metrics.colour import chroma_stats, color_error, edge_corr, mean_color_distance
from rawdiff.pipelines.diffraw_data import (CONDITIONS, MODES, PhoneData, Prepared, dataset_fingerprint, from_pm1,
                                            load_phone, make_cond, prepare_data, raw_to_output_res, to_pm1,
                                            visualise_raw)
from rawdiff.pipelines.diffraw_develop import (develop_raw, developable, diffraw_parts, load_run_dir,
                                              write_run_info)
from rawdiff.pipelines.diffraw_sample import (Method, X0Predictor, develop_baseline, develop_dtdm, evaluate,
                                              plug_and_play, recolour, run_ispnet, simple_isp_output,
                                              x0_predictor)
from rawdiff.pipelines.diffraw_train import (Trained, build_ispnet, build_unet, diffraw_batch_fn, diffraw_key,
                                             diffraw_loss_fn, get_or_train_diffraw, get_or_train_ispnet,
                                             ispnet_batch_fn, ispnet_key, ispnet_loss, train_diffraw, train_ispnet)
from rawdiff.pipelines.diffraw_train import _train_cfg  # noqa: F401  (benchmarks/bench_dtdm.py)
from rawdiff.runs import CODE_VERSION as CACHE_VERSION  # noqa: F401

__all__ = [
    "CONDITIONS", "MODES", "PhoneData", "Prepared", "load_phone", "dataset_fingerprint", "prepare_data", "to_pm1",
    "from_pm1", "raw_to_output_res", "make_cond", "visualise_raw", "build_ispnet", "ispnet_batch_fn",
    "ispnet_loss", "train_ispnet", "build_unet", "diffraw_batch_fn", "diffraw_loss_fn", "train_diffraw", "Trained",
    "ispnet_key", "diffraw_key", "get_or_train_ispnet", "get_or_train_diffraw", "X0Predictor", "x0_predictor",
    "run_ispnet", "develop_dtdm", "develop_baseline", "plug_and_play", "recolour", "Method", "simple_isp_output",
    "evaluate", "color_error", "mean_color_distance", "chroma_stats", "edge_corr", "write_run_info",
    "load_run_dir", "diffraw_parts", "developable", "develop_raw",
]
