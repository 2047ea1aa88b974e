"""The four scales as presets (``get_preset``): ``smoke`` (CI, minutes on 2 CPU cores), ``study`` (the smallest
scale at which every claim is decided, ~1 h on 2 CPU cores), ``medium`` (one GPU) and ``paper`` (GPUs, real data).

Each preset is one rawdiff.config.Preset built from the config dataclasses; docs/scales.md tabulates them and
CHANGELOG.md has the measurements behind the ``study`` sizes.
"""
from __future__ import annotations

from dataclasses import replace

from rawdiff.config import (DataConfig, DiDConfig, DTDMConfig, EDMConfig, ISPNetConfig, Preset, TrainConfig,
                            UNetConfig)


def _smoke() -> Preset:
    return Preset(
        name="smoke",
        data=DataConfig(),
        isp_net=ISPNetConfig(channels=24, num_blocks=3, train_crop=32),
        isp_train=TrainConfig(steps=1000, batch_size=16, lr=2e-3, ema_decay=0.995, ckpt_every=500),
        diffraw_unet=UNetConfig(in_channels=3 + 4 + 3, out_channels=3, base_channels=24,
                                channel_mults=(1, 2, 2), num_res_blocks=1),
        diffraw_train=TrainConfig(steps=300, batch_size=8, lr=1e-3, ema_decay=0.99),  # x3 nets in notebook 03
        # 32x32 training crops (packed RAW 16x16): ~4x cheaper per step than whole 64x64 images on CPU
        # (DESIGN.md §2 speeds); the fully convolutional nets are applied to whole images at test time.
        dtdm=DTDMConfig(train_crop=32),
        did_unet=UNetConfig(in_channels=12, out_channels=3, base_channels=24,
                            channel_mults=(1, 2, 2), num_res_blocks=1, attn_levels=(1,)),
        did_train=TrainConfig(steps=300, batch_size=16, lr=1e-3, ema_decay=0.99),  # 2 models in nb 05 < 4 min
        edm=EDMConfig(),
        did=DiDConfig(),
        regress_train=TrainConfig(steps=400, batch_size=16, lr=1e-3, ema_decay=0.99),
    )


def _study() -> Preset:
    """The smallest scale at which every claim is *decided* (paired bootstrap intervals), ~1 h on 2 CPU cores.

    Starts as ``smoke``; the DiffRAW fields are sized for notebooks 03 + 04, the DiD fields for 05 + 06; the
    measurements behind each size are in CHANGELOG.md and docs/performance.md.
    """
    s = _smoke()
    # DiffRAW fields: decide the DTDM claims on 64 test images x 3 seeds with notebooks 03 + 04 inside ~35 min on 2
    # CPU cores (a DTDM step ~155 ms at batch 8 on 32-px crops, an ISPNet step ~50 ms; measured cold: 03 + 04 = 19 min).
    s = replace(
        s,
        data=replace(s.data, phone_size=64, phone_n_train=2000, phone_n_test=64),
        isp_train=replace(s.isp_train, steps=2000, batch_size=16, lr=2e-3, ema_decay=0.999, ckpt_every=1000,
                          lr_schedule="cosine"),
        diffraw_train=replace(s.diffraw_train, steps=1500, batch_size=8, lr=1e-3, ema_decay=0.999, ckpt_every=500,
                              lr_schedule="cosine"),
        dtdm=replace(s.dtdm, s=200, train_crop=32),
    )
    return replace(
        s,
        name="study",
        # DiD fields: notebooks 05 + 06 inside 45 min cold on 2 CPU cores (a DiD step ~0.18 s, the (32, 64) cascade
        # ~1.3 s per 64x192 word crop; measured cold: 05 + 06 = 33.2 min).  How each number was sized, and what was
        # tried and dropped, is in CHANGELOG.md ("study preset sizing").
        data=replace(s.data, lowlight_n_test=24),   # DiD: 20 paired test images in notebook 05
        did_train=replace(s.did_train, steps=2000, lr=5e-4, warmup_steps=100, ema_decay=0.995, ckpt_every=500),
        regress_train=replace(s.regress_train, steps=2000, lr=5e-4, ema_decay=0.995, ckpt_every=500),
    )


def _medium() -> Preset:
    s = _smoke()
    return replace(
        s,
        name="medium",
        data=DataConfig(phone_size=128, phone_n_train=4000, phone_n_test=100,
                        lowlight_size=256, lowlight_n_train=2000, lowlight_n_test=100),
        isp_net=ISPNetConfig(channels=48, num_blocks=6),
        isp_train=replace(s.isp_train, steps=5000, batch_size=32, lr=5e-4, ema_decay=0.999, ckpt_every=1000),
        diffraw_unet=replace(s.diffraw_unet, base_channels=64, channel_mults=(1, 2, 2, 4), num_res_blocks=2,
                             attn_levels=(2,)),
        diffraw_train=replace(s.diffraw_train, steps=20000, batch_size=32, lr=2e-4, ema_decay=0.9995,
                              ckpt_every=2000),
        dtdm=replace(s.dtdm, train_crop=64),
        did_unet=replace(s.did_unet, base_channels=64, channel_mults=(2, 2, 2), num_res_blocks=2),
        did_train=replace(s.did_train, steps=20000, batch_size=64, lr=4e-4, ema_decay=0.9995, ckpt_every=2000),
        did=replace(s.did, scales=(32, 64, 128, 256), crop=256),
        regress_train=replace(s.regress_train, steps=20000, batch_size=64, lr=4e-4, ckpt_every=2000),
    )


def _paper() -> Preset:
    """The papers' settings where they are known, each number's source beside it (checked against the official
    DiD code, github.com/computational-imaging/diffusion-in-the-dark, commit 8914309; DiffRAW has no public code
    and its training settings are not in the paper we could read, so its numbers are ours — DESIGN.md §3).
    "ours" = our choice; "unverified" = a number we could not check against a source."""
    m = _medium()
    return replace(
        m,
        name="paper",
        data=DataConfig(phone_size=448,          # ZRR pairs are 448x448 (Ignatov et al. 2020; DESIGN.md §3)
                        phone_n_train=46839,     # ZRR train split size (DESIGN.md §3)
                        phone_n_test=1204,       # ZRR test split size (DESIGN.md §3)
                        lowlight_size=256,       # ours: synthetic low-light pairs (LOL itself is 600x400)
                        lowlight_n_train=485,    # LOL our485 (Wei et al. 2018; DiD README's LOL layout)
                        lowlight_n_test=15),     # LOL eval15
        isp_net=ISPNetConfig(channels=64, num_blocks=8,   # ours, unverified against LiteISPNet (~9M params;
                             train_crop=0),               # ours: 3.4M) | ours: whole 448-px images
        isp_train=replace(m.isp_train, steps=5000, batch_size=32, lr=5e-4,   # ours (medium's), unverified
                          ema_decay=0.999, ckpt_every=1000),                 # ours
        diffraw_unet=replace(m.diffraw_unet,
                             in_channels=3 + 4 + 3,   # y_t + packed RAW w + colour condition c (DESIGN.md §3)
                             base_channels=128, channel_mults=(1, 1, 2, 2, 4), num_res_blocks=2,   # ours: the
                             attn_levels=(3,)),       # paper's UNet is not public (66.3M params here)
        diffraw_train=replace(m.diffraw_train, steps=500000, batch_size=16, lr=1e-4,   # ours, unverified
                              ema_decay=0.9995, ckpt_every=2000),                      # ours (medium's)
        dtdm=replace(m.dtdm, T=1000, beta_start=1e-4, beta_end=2e-2,   # DDPM's linear schedule (Ho et al. 2020)
                     s=400,               # ours: DiffRAW's truncation step is unverified (smoke's default)
                     train_crop=256),     # ours (ResShift-like crops); the paper's is not public
        # DiD official UNet (training/training_template.py, arch "ddpmpp"): model_channels 128, channel_mult
        # [2,2,2]; SongUNet defaults (training/networks.py): 4 blocks per level, attention at 16x16 = level 1 of a
        # 32x32 patch; train.py --dropout 0.13.  Our own UNet with those sizes: 51.3M params (official ~55.7M,
        # DESIGN.md §3).
        did_unet=replace(m.did_unet, base_channels=128, channel_mults=(2, 2, 2), num_res_blocks=4,
                         attn_levels=(1,), dropout=0.13),
        did_train=replace(
            m.did_train,
            steps=200000,          # ours; official: train.py --duration 10000 Mimg, released snapshot at 1,394 kimg
            batch_size=64,         # unverified: the README's commands pass --batch 1, train.py's default is 512;
                                   # the paper's batch is not stated in what we could read (one 32x32 patch per image)
            lr=8e-4,               # train.py --lr default 8e-4 (Adam, betas (0.9, 0.999), no weight decay:
            betas=(0.9, 0.999),    # training_template.py optimizer_kwargs; AdamW with weight_decay 0 = Adam)
            weight_decay=0.0,
            amp=False,             # train.py --fp16 default False (fp32)
            # lr ramp: training_loop.py lr_rampup_kimg = 10000, counted in images (lr x min(nimg / 10e6, 1)), so
            # 10e6 / batch_size steps; at --batch 1 the released 1,394-kimg snapshot never left the ramp
            warmup_steps=10_000_000 // 64,
            grad_clip=0.0,         # training_loop.py: no clipping, only nan_to_num of the gradients
            ema_decay=0.5 ** (64 / 500_000),   # official: EMA half-life 0.5 Mimg (train.py --ema 0.5) = 0.99991 per
                                   # step at batch 64; its ramp-up (ratio 0.05) is ours: min(decay, (1+k)/(10+k))
            ckpt_every=2000),      # ours (not in the cache key)
        edm=replace(m.edm, sigma_data=0.5, p_mean=-1.2, p_std=1.2,   # training/loss.py EDMBosLoss defaults (EDM)
                    lpips_weight=5.0),                                # training/loss.py: loss += 5 * lpips
        did=replace(m.did, patch=32,             # train.py --resolution 32
                    scales=(32, 64, 128, 256),   # loss.py: scale = randint(0, 3), resolution 32 * 2^scale
                    crop=256,                    # dataset.py: random crop of resolution * 8
                    augment=True,                # dataset.py + augmenter.py: pair flips, jitter of the bright image
                    eta_per_batch=True,          # loss.py: one random.random() noise scale per batch
                    lpips_space="model"),        # loss.py: LPIPS on the raw model-space tensors
        regress_train=replace(m.regress_train, steps=20000, batch_size=64, lr=4e-4,   # ours (the baseline is ours)
                              ckpt_every=2000),
    )


PRESETS = {"smoke": _smoke, "study": _study, "medium": _medium, "paper": _paper}


def get_preset(name: str = "smoke") -> Preset:
    """Return the preset called ``name`` (``smoke``, ``study``, ``medium`` or ``paper``)."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; expected one of {sorted(PRESETS)}") from None
