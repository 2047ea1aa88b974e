"""rawdiff.metrics.colour: known answers for edge_corr, and the moved colour metrics keep their public names."""
import torch

from rawdiff.metrics.colour import chroma_stats, color_error, edge_corr, mean_color_distance

def _img(seed=0, n=2, size=24):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.interpolate(torch.rand(n, 3, 6, 6, generator=g), size=(size, size), mode="bilinear",
                                           align_corners=False)


def test_edge_corr_known_answers():
    a, b = _img(0), _img(1)
    assert abs(edge_corr(a, a) - 1) < 1e-5
    # Sobel magnitudes scale linearly with contrast and ignore offsets: correlation stays 1
    assert abs(edge_corr(a, 0.5 * a + 0.2) - 1) < 1e-5
    assert edge_corr(a, b) < 0.9
    per = edge_corr(a, b, per_image=True)
    assert per.shape == (2,) and abs(float(per.mean()) - edge_corr(a, b)) < 1e-6


def test_colour_metrics_known_answers_and_names():
    a = _img(2)
    assert torch.allclose(color_error(a, a), torch.zeros(2), atol=1e-6)
    assert torch.allclose(mean_color_distance(a, a), torch.zeros(2), atol=1e-6)
    grey = torch.full((1, 3, 4, 4), 0.4)
    assert torch.allclose(chroma_stats(grey), torch.tensor([[1 / 3, 1 / 3]]))
