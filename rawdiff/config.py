"""Frozen configuration dataclasses and the scale presets (``smoke`` / ``study`` / ``medium`` / ``paper``).

``smoke`` runs every notebook on a 2-core CPU in a few minutes (sized from the measured CPU speed in
DESIGN.md §2); ``medium`` targets one GPU for ~20 minutes; ``paper`` follows the papers' settings
where they are known (DiD: DESIGN.md §3; DiffRAW: sizes are our choice, the paper's are not public).
Change a field with :func:`dataclasses.replace`; there is no global configuration.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import ClassVar

from rawdiff.errors import DataError


@dataclass(frozen=True)
class DataConfig:
    """Synthetic datasets written by notebook 01 / ``rawdiff data synth``."""

    phone_size: int = 64          # DSLR target H=W (packed RAW is phone_size/2)
    phone_n_train: int = 192
    phone_n_test: int = 16
    lowlight_size: int = 128      # dark/bright pair H=W
    lowlight_n_train: int = 96
    lowlight_n_test: int = 16
    text_fraction: float = 0.5    # fraction of low-light scenes that contain rendered words


@dataclass(frozen=True)
class UNetConfig:
    """Conditional UNet (rawdiff.nn.unet).  ``in_channels`` counts noisy image + concatenated conditions."""

    in_channels: int = 10
    out_channels: int = 3
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    attn_levels: tuple[int, ...] = ()   # indices into channel_mults that get self-attention
    dropout: float = 0.0
    emb_dim: int | None = None          # default 4 * base_channels


@dataclass(frozen=True)
class ISPNetConfig:
    """LiteISPNet-like learned ISP (packed RAW + coordinates -> sRGB)."""

    channels: int = 32
    num_blocks: int = 4
    train_crop: int = 0           # DSLR-resolution training crop (even); 0 = whole image


@dataclass(frozen=True)
class TrainConfig:
    """One training loop for every model (rawdiff.train).  The defaults are ours; where each ``paper`` value comes
    from (paper, official code file and option, or ours) is written beside it in rawdiff.presets."""

    steps: int = 300
    batch_size: int = 8           # global batch (all ranks together; rawdiff.train splits it)
    lr: float = 2e-4              # peak learning rate (AdamW)
    weight_decay: float = 0.0     # 0 = Adam (DiD official: Adam, no weight decay)
    betas: tuple[float, float] = (0.9, 0.999)   # DiD official (training_template.py) and torch's default
    ema_decay: float = 0.999      # per step, ramped as min(decay, (1 + step) / (10 + step)) (ours)
    ema_start: int = 0
    grad_clip: float = 1.0        # max gradient norm; 0 = none (DiD official: none, nan_to_num only)
    warmup_steps: int = 0         # linear lr ramp over these steps (DiD official: over 10 Mimg = 10e6 / batch steps)
    lr_schedule: str = "constant"  # "constant" | "cosine" (decay to lr_min_ratio x lr at the last step)
    lr_min_ratio: float = 0.1
    log_every: int = 10
    ckpt_every: int = 100
    amp: bool = True              # bf16 autocast, applied on CUDA only
    channels_last: bool | None = None  # NHWC convolutions; None = fastest per device (utils.prefers_channels_last)
    compile: bool = False         # torch.compile the model: 0-14 % shorter CPU steps, ~1 min to compile cold
    seed: int = 0


@dataclass(frozen=True)
class DTDMConfig:
    """DiffRAW's domain-transform diffusion (DESIGN.md §3)."""

    T: int = 1000
    s: int = 400                  # truncation step
    beta_start: float = 1e-4
    beta_end: float = 2e-2
    schedule: str = "linear"      # "linear" | "cosine"
    gamma: str = "default"        # gamma_t = (1 - abar_t) / (1 - abar_s)
    prediction: str = "x0"        # "x0" | "eps"
    train_crop: int = 0           # DSLR-resolution training crop (multiple of 2 * UNet down factor); 0 = whole image
    # sampler settings moved to DTDMSampler: accepted (and ignored) when reading runs saved before the split
    RETIRED: ClassVar[tuple[str, ...]] = ("sample_steps", "eta")


def check_sampler_fields(sampler) -> None:
    """One-line DataError for a sampler config whose ``chunk`` or ``precision`` cannot be used."""
    if not isinstance(sampler.chunk, int) or sampler.chunk < 1:
        raise DataError(f"{type(sampler).__name__}.chunk must be a positive integer, got {sampler.chunk!r}")
    if sampler.precision not in ("fp32", "bf16"):
        raise DataError(f"{type(sampler).__name__}.precision must be 'fp32' or 'bf16', got {sampler.precision!r}")


@dataclass(frozen=True)
class DTDMSampler:
    """How DTDM samples (DiffRAW, DESIGN.md §3): K DDIM-style steps from the truncated start s; eta = 0 is
    deterministic.  Sampler settings never change trained weights, so they are not part of a run's cache key."""

    sample_steps: int = 5
    eta: float = 0.0
    # evaluation (issue 23): images per network call — memory is bounded by the chunk, not the test set; every
    # image draws its noise from its own generator (rawdiff.diffusion.precision.image_generators), so results do
    # not depend on the chunk.  Measured (benchmarks/bench_eval_memory.py, 2-core CPU, fp32, channels-last as
    # rawdiff.utils.to_inference sets it): the DTDM evaluation of 448-px images with the smoke UNet peaks at
    # ~1.5 GB RSS with chunk 4, for 16 and for 256 images (NCHW holds ~1.5 GB per image: its middle
    # self-attention sees 112 x 112 positions).  Raise the chunk on a GPU.
    chunk: int = 4
    # "fp32" or "bf16": the denoiser under bf16 autocast (rawdiff.diffusion.precision; CUDA, and CPU for checks)
    precision: str = "fp32"

    def __post_init__(self):
        check_sampler_fields(self)


@dataclass(frozen=True)
class EDMConfig:
    """EDM settings used by DiD (Karras et al. 2022, DESIGN.md §3)."""

    sigma_data: float = 0.5
    p_mean: float = -1.2
    p_std: float = 1.2
    lpips_weight: float = 5.0
    # sampler settings moved to DiDSampler: accepted (and ignored) when reading runs saved before the split
    RETIRED: ClassVar[tuple[str, ...]] = ("sigma_min", "sigma_max", "rho", "num_steps", "s_churn")


@dataclass(frozen=True)
class DiDConfig:
    """DiD multi-scale patch training and cascade (DESIGN.md §3)."""

    patch: int = 32
    scales: tuple[int, ...] = (32, 64, 128)      # working resolutions, coarse to fine
    crop: int = 128                               # training crop (= largest scale)
    # retired fields, accepted (and ignored) when reading runs saved before: the sampler's (now DiDSampler) and
    # "normalization" (the DID run kind's option, never read from here)
    RETIRED: ClassVar[tuple[str, ...]] = ("ilvr_steps", "ilvr_noised_reference", "tile_overlap", "normalization")
    # training options that follow the official code (the paper preset turns them on; rawdiff.did.train)
    augment: bool = False                         # official: pair flips + bright-only jitter (rawdiff.data.augment)
    eta_per_batch: bool = False                   # official: one eta per batch, s=0 c_y slots share one noise
    lpips_space: str = "image"                    # "image": clamped [0,1] sRGB; "model" (official): raw tensors


@dataclass(frozen=True)
class DiDSampler:
    """How DiD samples (DESIGN.md §3, cascade inference): the EDM Heun schedule (Karras et al. 2022, eq. 5:
    ``num_steps`` steps from ``sigma_max`` to ``sigma_min`` with exponent ``rho``, churn ``s_churn``) at every
    level, ILVR on the first ``ilvr_steps`` steps of the upper levels, tiles overlapping by ``tile_overlap`` px
    (0 = the paper's non-overlapping tiles).  Not part of a run's cache key: it never changes trained weights."""

    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    num_steps: int = 18
    s_churn: float = 0.0
    ilvr_steps: int = 6
    ilvr_noised_reference: bool = False           # official code: False; ILVR paper: True
    tile_overlap: int = 0
    # images per cascade call (tiles per network call stay rawdiff.utils.default_tile_batch); tiles draw their
    # noise by image index in the set, so the chunk never changes the result.  Runs saved before these two fields
    # existed load with the defaults (rawdiff.did.enhance.load_did).
    chunk: int = 8
    precision: str = "fp32"                       # "fp32" | "bf16" (denoiser under autocast)

    def __post_init__(self):
        check_sampler_fields(self)


# ----------------------------------------------------------------------------------------------- D² (DiffRAW)
# The calibration behind the defaults is in rawdiff.camera.degrade's docstring.
#: Reference resolution of the absolute ranges (DiffRAW applies D² to whole 448 x 448 ZRR images).
REF_SIZE = 448
#: Default length scale f for the 64-px images of smoke/study (64 px treated like 256-px photos).  Calibration
#: (issue 11; 32 SceneBank scenes, 32-px training crops, 4 seeds; colour-corrected PSNR to y and sharpness
#: ratio, 10th/50th/90th percentiles): f = 1 (absolute): median 22.5 dB, sharpness 0.54; f = 0.5: 18.1/22.4/34.6 dB,
#: sharpness 0.2/0.3/1.2; f = 0.25: 19.6/24.2/38.3 dB, sharpness
#: 0.3/0.7/0.9; f = 0.14 (448 px): 20.8/27.2/39.5 dB, sharpness 0.6/0.9/1.1.  The phone view the ISPNet sees
#: (warp + colour + optical blur, noise-free) scores 28.9 dB median with sharpness 0.39, so f = 0.25 is the
#: setting whose range brackets the test condition on both axes (notebook 03 redoes it with ISPNet(w)).
DEFAULT_SCALE = 0.25


@dataclass(frozen=True)
class DegradeConfig:
    """Real-ESRGAN default ranges (first / second order), scale 1, no colour jitter."""

    kernel_sizes: tuple[int, ...] = (7, 9, 11, 13, 15, 17, 19, 21)
    kernel_probs: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)   # order of KERNEL_TYPES
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    betag_range: tuple[float, float] = (0.5, 4.0)       # generalised Gaussian shape
    betap_range: tuple[float, float] = (1.0, 2.0)       # plateau shape
    sinc_prob: float = 0.1
    sinc_prob2: float = 0.1
    resize_probs: tuple[float, float, float] = (0.2, 0.7, 0.1)   # up, down, keep
    resize_range: tuple[float, float] = (0.15, 1.5)
    resize_range2: tuple[float, float] = (0.3, 1.2)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple[float, float] = (1.0, 30.0)       # sigma in 8-bit units
    noise_range2: tuple[float, float] = (1.0, 25.0)
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    poisson_scale_range2: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[float, float] = (30.0, 95.0)
    jpeg_range2: tuple[float, float] = (30.0, 95.0)
    second_order_prob: float = 0.8
    final_sinc_prob: float = 0.8
    scale: float = DEFAULT_SCALE                         # length scale f (module docstring); 1 = absolute ranges
    omega_scale: float = 1.0                             # sinc cut-off multiplier (set by effective(), capped at pi)

    @classmethod
    def for_size(cls, image_size: int, ref_size: int = REF_SIZE, **kw) -> "DegradeConfig":
        """Ranges for images of ``image_size`` px treated like ``ref_size``-px photos (f = image / ref, <= 1)."""
        return cls(scale=min(1.0, float(image_size) / float(ref_size)), **kw)

    def effective(self) -> "DegradeConfig":
        """The ranges in our pixels (``scale`` folded in; the result has ``scale = 1``)."""
        f = float(self.scale)
        if not 0 < f <= 1:
            raise ValueError(f"DegradeConfig.scale must be in (0, 1], got {f}")
        if f == 1.0:
            return self
        ks = tuple(sorted({max(3, int(round(k * f)) | 1) for k in self.kernel_sizes}))

        def sig(r):
            return (max(0.05, r[0] * f), max(0.05, r[1] * f))

        def down(r):
            return (min(1.0, r[0] / f), r[1])

        def mul(r):
            return (r[0] * f, r[1] * f)

        return replace(self, kernel_sizes=ks, blur_sigma=sig(self.blur_sigma), blur_sigma2=sig(self.blur_sigma2),
                       resize_range=down(self.resize_range), resize_range2=down(self.resize_range2),
                       noise_range=mul(self.noise_range), noise_range2=mul(self.noise_range2),
                       poisson_scale_range=mul(self.poisson_scale_range),
                       poisson_scale_range2=mul(self.poisson_scale_range2), omega_scale=1.0 / f, scale=1.0)


# ----------------------------------------------------------------------------------------------- DiD training / baseline
# DiD's pair augmentation (rawdiff.data.augment) and the regression baseline (rawdiff.did.regress).
@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of :func:`augment_pair` (module docstring; our choice where the paper is silent)."""

    p_hflip: float = 0.5
    p_vflip: float = 0.5
    p_filter: float = 0.5
    brightness: float = 0.2
    saturation: float = 0.3
    p_grey: float = 0.05


@dataclass(frozen=True)
class RegressConfig:
    """Settings of the regression baseline that are not in the preset (see the module docstring)."""

    loss: str = "l1"              # "l1" | "l2"
    crop: int = 32                # training window (px, full resolution); 32 = DiD's patch
    normalization: str = "tail"   # "tail" (DiD's) | "linear" (2x - 1)

    def __post_init__(self):
        if self.loss not in ("l1", "l2"):
            raise ValueError(f"RegressConfig.loss must be 'l1' or 'l2', got {self.loss!r}")
        if self.normalization not in ("tail", "linear"):
            raise ValueError(f"RegressConfig.normalization must be 'tail' or 'linear', got {self.normalization!r}")
        if self.crop < 1:
            raise ValueError(f"RegressConfig.crop must be positive, got {self.crop}")


@dataclass(frozen=True)
class Preset:
    name: str
    data: DataConfig
    isp_net: ISPNetConfig
    isp_train: TrainConfig
    diffraw_unet: UNetConfig
    diffraw_train: TrainConfig
    dtdm: DTDMConfig
    did_unet: UNetConfig
    did_train: TrainConfig
    edm: EDMConfig
    did: DiDConfig
    regress_train: TrainConfig = field(default_factory=TrainConfig)
    dtdm_sampler: DTDMSampler = field(default_factory=DTDMSampler)
    did_sampler: DiDSampler = field(default_factory=DiDSampler)

    def to_dict(self) -> dict:
        return asdict(self)


def _type_ok(value, tp) -> bool:
    """Does a JSON value fit a (resolved) dataclass field annotation?  Lists count as tuples."""
    import types
    import typing

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in args)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_type_ok(v, args[0]) for v in value)
        return len(value) == len(args) and all(_type_ok(v, a) for v, a in zip(value, args))
    return True  # annotations we do not model are not checked


def from_dict(cls, d: dict, *, source=None):
    """Rebuild a config dataclass from its JSON form (lists back to tuples).

    The dict must hold exactly the dataclass's fields with values of the annotated types; anything else raises
    a one-line :class:`rawdiff.errors.DataError` naming the missing, unknown or mistyped fields (a run saved by
    a different rawdiff version is reported, not silently misread).  ``source`` (the JSON file's path) is named
    in the message when given.
    """
    import typing

    where = f"{source}: " if source is not None else ""
    if not isinstance(d, dict):
        raise DataError(f"{where}{cls.__name__} config: expected a JSON object of fields, got {type(d).__name__}")
    d = {k: v for k, v in d.items() if k not in getattr(cls, "RETIRED", ())}
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    missing = [n for n in names if n not in d]
    unknown = sorted(k for k in d if k not in hints)
    mistyped = [f"{n}={d[n]!r} (expected {getattr(hints[n], '__name__', None) or hints[n]})"
                for n in names if n in d and not _type_ok(d[n], hints[n])]
    problems = ([f"missing field(s) {', '.join(missing)}"] if missing else []) + \
               ([f"unknown field(s) {', '.join(map(str, unknown))}"] if unknown else []) + \
               ([f"mistyped field(s) {'; '.join(mistyped)}"] if mistyped else [])
    if problems:
        raise DataError(f"{where}{cls.__name__} config: {'; '.join(problems)}")
    return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})
