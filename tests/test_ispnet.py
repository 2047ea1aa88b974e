"""ISPNet (rawdiff.nn.ispnet): shapes, coordinates, can fit a simple RAW->sRGB map with L1."""
import torch

from rawdiff.config import ISPNetConfig
from rawdiff.nn.ispnet import ISPNet, coord_grid
from rawdiff.nn.unet import count_parameters




def test_shapes_odd_and_even():
    net = ISPNet(ISPNetConfig(channels=8, num_blocks=2))
    for h, w in [(16, 16), (15, 9), (1, 3)]:
        out = net(torch.rand(2, 4, h, w))
        assert out.shape == (2, 3, 2 * h, 2 * w) and out.dtype == torch.float32
    assert net.develop(torch.rand(1, 4, 8, 8)).min() >= 0


def test_coord_grid_crops_match_full_frame():
    full = coord_grid(1, 16, 20)
    crop = coord_grid(1, 6, 8, top=4, left=10, full=(16, 20))
    assert torch.allclose(full[..., 4:10, 10:18], crop)
    assert full.min() > -1 and full.max() < 1
    assert torch.allclose(full[0, 0, 0], full[0, 0, -1])
    assert torch.allclose(full[0, 0, :, 3], full[0, 0, 0, 3].expand(16))


def test_learns_a_simple_isp():
    """Gain + demosaic-like map learned with L1 in a few dozen steps (loss must drop clearly)."""
    torch.manual_seed(0)
    net = ISPNet(ISPNetConfig(channels=12, num_blocks=2))
    assert count_parameters(net) < 200_000
    g = torch.Generator().manual_seed(1)
    raw = torch.rand(8, 4, 8, 8, generator=g)
    rgb = torch.stack([raw[:, 0], (raw[:, 1] + raw[:, 2]) / 2, raw[:, 3]], 1)
    target = torch.nn.functional.interpolate(rgb, scale_factor=2, mode="nearest").clamp(0, 1) ** 0.8
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    first = None
    for _ in range(60):
        loss = (net(raw) - target).abs().mean()
        first = first if first is not None else loss.detach().item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
