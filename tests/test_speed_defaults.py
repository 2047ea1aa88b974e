"""Per-device speed defaults (rawdiff.utils.prefers_channels_last / to_inference): the fast layout is the default
where it was measured faster, and it changes results only at float tolerance (training, UNet forward, cascade)."""
import copy
from dataclasses import replace

import pytest
import torch

from rawdiff.presets import get_preset
from rawdiff.diffusion.cascade import cascade_sample
from rawdiff.diffusion.edm import karras_sigmas
from rawdiff.norm import LinearNorm
from rawdiff.train import train
from rawdiff.utils import make_generator, prefers_channels_last, to_inference
from tests.test_cascade import _tiny_precond
from tests.test_train import CFG, batch_fn, loss_fn, make_model


def test_defaults_per_device():
    for name in ("smoke", "medium", "paper"):
        p = get_preset(name)
        assert {t.channels_last for t in (p.isp_train, p.diffraw_train, p.did_train)} == {None}  # all "auto"
    assert prefers_channels_last("cpu") and prefers_channels_last("cpu", amp=True)
    if torch.cuda.is_available():
        assert prefers_channels_last("cuda", amp=True) and not prefers_channels_last("cuda", amp=False)


def _is_cl(model):
    convs = [p for p in model.parameters() if p.ndim == 4]
    return bool(convs) and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)


@pytest.mark.parametrize("flag", [None, True, False])
def test_train_layout_follows_the_config(flag):
    cfg = replace(CFG, steps=2, channels_last=flag)
    res = train(make_model(), loss_fn, batch_fn, cfg, None, device="cpu", progress=False)
    assert _is_cl(res.online) == (True if flag is None else flag)  # None -> CPU default: channels_last
    assert _is_cl(res.model) == _is_cl(res.online)


def test_channels_last_training_matches_nchw_to_float_tolerance():
    cfg = replace(CFG, steps=6)
    a = train(make_model(), loss_fn, batch_fn, replace(cfg, channels_last=False), None, device="cpu", progress=False)
    b = train(make_model(), loss_fn, batch_fn, replace(cfg, channels_last=True), None, device="cpu", progress=False)
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.allclose(va, vb, rtol=1e-4, atol=1e-5), k
    la, lb = [h["loss"] for h in a.history], [h["loss"] for h in b.history]
    assert la == pytest.approx(lb, rel=1e-4)
    assert la[-1] < la[0]  # and it trained


def test_to_inference_layouts_agree_in_the_cascade():
    nchw = to_inference(_tiny_precond(), "cpu", channels_last=False)
    nhwc = to_inference(copy.deepcopy(nchw), "cpu", channels_last=True)
    assert not _is_cl(nchw) and _is_cl(nhwc) and not nhwc.training
    assert _is_cl(to_inference(copy.deepcopy(nchw), "cpu"))  # the CPU default
    dark = torch.rand(1, 3, 64, 64, generator=make_generator(4)) * 0.2
    kw = dict(scales=(32, 64), dark_norm=LinearNorm(), bright_norm=LinearNorm(), sigmas=karras_sigmas(4),
              ilvr_steps=2, overlap=8)
    a = cascade_sample(nchw, dark, generator=3, **kw).image
    b = cascade_sample(nhwc, dark, generator=3, **kw).image
    assert a.shape == b.shape and (a - b).abs().max() < 1e-4


def test_cli_speed_switches_reach_every_training_config():
    from rawdiff.cli import build_parser
    from rawdiff.commands.train import _preset

    base = ["train", "did", "--data", "d", "--out", "o", "--scale", "smoke"]
    plain = _preset(build_parser().parse_args(base))
    assert plain == get_preset("smoke")
    p = _preset(build_parser().parse_args([*base, "--channels-last", "off", "--no-amp", "--compile"]))
    for t in (p.isp_train, p.diffraw_train, p.did_train, p.regress_train):
        assert (t.channels_last, t.amp, t.compile) == (False, False, True)
    assert p.did_train.steps == plain.did_train.steps and p.did_unet == plain.did_unet
    with pytest.raises(SystemExit):
        build_parser().parse_args([*base, "--channels-last", "maybe"])
