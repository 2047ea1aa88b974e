"""Conditional UNet shared by DiffRAW, DiD and the regression baseline.

A compact DDPM++-style UNet (Ho et al. 2020; Song et al. 2021; the DiD paper uses DDPM++ at 128 channels):
residual blocks with GroupNorm/SiLU and an additive noise-level embedding, optional self-attention at chosen
levels, average-pool down / nearest up sampling, skip concatenation, zero-initialised output convolution.

Conditioning is by channel concatenation: ``forward(x, noise_level, cond)`` runs the network on
``cat([x, cond], dim=1)``, so ``UNetConfig.in_channels`` = channels of ``x`` + channels of ``cond``.
``noise_level`` is a float tensor of shape (N,) (or a scalar): DTDM passes the timestep ``t``; EDM passes
``c_noise = ln(sigma) / 4``; a plain regression net passes zeros.  It is embedded with sinusoidal positional
features (Vaswani et al. 2017, as in DDPM) followed by a 2-layer MLP.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rawdiff.config import UNetConfig


def _groups(ch: int) -> int:
    for g in (32, 16, 8, 4, 2, 1):
        if ch % g == 0 and ch // g >= 2 or g == 1:
            return g
    return 1


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of a (N,) float tensor -> (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


def chunked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, max_elements: int = 1 << 24) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` computed a block of queries at a time when the full score matrix would
    exceed ``max_elements`` (a 600x400 image at half resolution has 60000 tokens: 14 GB of scores on the CPU);
    each query's softmax is over all keys either way, so the result is the same up to rounding."""
    lq, lk = q.shape[-2], k.shape[-2]
    step = max(1, max_elements // max(1, lk * q[..., :1, :1].numel()))
    if lq <= step:
        return F.scaled_dot_product_attention(q, k, v)
    return torch.cat([F.scaled_dot_product_attention(q[..., a:a + step, :], k, v) for a in range(0, lq, step)], -2)


class SelfAttention(nn.Module):
    """Single-head spatial self-attention with a residual connection (scaled dot-product attention)."""

    def __init__(self, ch: int):
        super().__init__()
        self.norm = nn.GroupNorm(_groups(ch), ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).transpose(-1, -2).unbind(1)
        out = chunked_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return x + self.proj(out.transpose(-1, -2).reshape(n, c, h, w))


class UNet(nn.Module):
    """Conditional UNet; see the module docstring for the call convention."""

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.cfg = cfg
        base = cfg.base_channels
        emb_dim = cfg.emb_dim or 4 * base
        self.emb_in = base
        self.emb_mlp = nn.Sequential(nn.Linear(base, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.conv_in = nn.Conv2d(cfg.in_channels, base, 3, padding=1)

        chans = [base * m for m in cfg.channel_mults]
        self.down = nn.ModuleList()
        skip_ch = [base]
        ch = base
        for level, cout in enumerate(chans):
            blocks = nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(ch, cout, emb_dim, cfg.dropout))
                ch = cout
                if level in cfg.attn_levels:
                    blocks.append(SelfAttention(ch))
                skip_ch.append(ch)
            down = nn.AvgPool2d(2) if level < len(chans) - 1 else nn.Identity()
            if level < len(chans) - 1:
                skip_ch.append(ch)
            self.down.append(nn.ModuleDict({"blocks": blocks, "down": down}))

        self.mid1 = ResBlock(ch, ch, emb_dim, cfg.dropout)
        self.mid_attn = SelfAttention(ch)
        self.mid2 = ResBlock(ch, ch, emb_dim, cfg.dropout)

        self.up = nn.ModuleList()
        for level, cout in reversed(list(enumerate(chans))):
            blocks = nn.ModuleList()
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResBlock(ch + skip_ch.pop(), cout, emb_dim, cfg.dropout))
                ch = cout
                if level in cfg.attn_levels:
                    blocks.append(SelfAttention(ch))
            up = nn.Upsample(scale_factor=2, mode="nearest") if level > 0 else nn.Identity()
            self.up.append(nn.ModuleDict({"blocks": blocks, "up": up}))
        self.norm_out = nn.GroupNorm(_groups(ch), ch)
        self.conv_out = nn.Conv2d(ch, cfg.out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def downsample_factor(self) -> int:
        """Input H and W must be multiples of this."""
        return 2 ** (len(self.cfg.channel_mults) - 1)

    def forward(self, x: torch.Tensor, noise_level: torch.Tensor | float, cond: torch.Tensor | None = None
                ) -> torch.Tensor:
        if cond is not None:
            x = torch.cat([x, cond.to(x.dtype)], dim=1)
        if x.shape[1] != self.cfg.in_channels:
            raise ValueError(f"UNet expects {self.cfg.in_channels} input channels (x + cond), got {x.shape[1]}")
        f = self.downsample_factor
        if x.shape[-1] % f or x.shape[-2] % f:
            raise ValueError(f"UNet input H, W must be multiples of {f}, got {tuple(x.shape[-2:])}")
        t = torch.as_tensor(noise_level, device=x.device, dtype=torch.float32)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        emb = self.emb_mlp(timestep_embedding(t.reshape(-1), self.emb_in))

        h = self.conv_in(x)
        skips = [h]
        for stage in self.down:
            for blk in stage["blocks"]:
                h = blk(h, emb) if isinstance(blk, ResBlock) else blk(h)
                if isinstance(blk, ResBlock) and not _followed_by_attn(stage["blocks"], blk):
                    skips.append(h)
                elif isinstance(blk, SelfAttention):
                    skips.append(h)
            if not isinstance(stage["down"], nn.Identity):
                h = stage["down"](h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for stage in self.up:
            for blk in stage["blocks"]:
                if isinstance(blk, ResBlock):
                    h = blk(torch.cat([h, skips.pop()], dim=1), emb)
                else:
                    h = blk(h)
            h = stage["up"](h)
        return self.conv_out(F.silu(self.norm_out(h)))


def _followed_by_attn(blocks: nn.ModuleList, blk: nn.Module) -> bool:
    mods = list(blocks)
    i = mods.index(blk)
    return i + 1 < len(mods) and isinstance(mods[i + 1], SelfAttention)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
