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
    m = _medium()
    return replace(
        m,
        name="paper",
        data=DataConfig(phone_size=448, phone_n_train=46839, phone_n_test=1204,
                        lowlight_size=256, lowlight_n_train=485, lowlight_n_test=15),
        isp_net=ISPNetConfig(channels=64, num_blocks=8),
        diffraw_unet=replace(m.diffraw_unet, base_channels=128, channel_mults=(1, 1, 2, 2, 4), num_res_blocks=2,
                             attn_levels=(3,)),
        diffraw_train=replace(m.diffraw_train, steps=500000, batch_size=16, lr=1e-4),
        dtdm=replace(m.dtdm, train_crop=256),     # our choice (ResShift-like crops); the paper's is not public
        # DiD official UNet: DDPM++ 128 ch, mults [2,2,2], 4 blocks/level, attention at 16x16 (~55.7M params);
        # Adam lr 8e-4, EMA, fp32 (DESIGN.md §3).
        # official training: dropout 0.13, lr ramped linearly over the first 10 Mimg (= 10e6 / 64 steps), no
        # gradient clipping (EDM only applies nan_to_num), augmentation, one eta per batch, LPIPS on model space
        did_unet=replace(m.did_unet, base_channels=128, channel_mults=(2, 2, 2), num_res_blocks=4,
                         attn_levels=(1,), dropout=0.13),
        did_train=replace(m.did_train, steps=200000, batch_size=64, lr=8e-4, amp=False,
                          warmup_steps=10_000_000 // 64, grad_clip=0.0),
        did=replace(m.did, augment=True, eta_per_batch=True, lpips_space="model"),
    )


PRESETS = {"smoke": _smoke, "study": _study, "medium": _medium, "paper": _paper}


def get_preset(name: str = "smoke") -> Preset:
    """Return the preset called ``name`` (``smoke``, ``study``, ``medium`` or ``paper``)."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; expected one of {sorted(PRESETS)}") from None
