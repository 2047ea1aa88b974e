"""rawdiff.stats: seeded paired bootstrap with known answers and the three-way verdict rule."""
import numpy as np
import pytest

from rawdiff.stats import FAILS, HOLDS, bootstrap_geomean, bootstrap_mean, decide, paired_bootstrap


def test_bootstrap_mean_known_answer_and_seeded():
    v = np.arange(100, dtype=float)
    iv = bootstrap_mean(v, seed=3)
    assert iv.n == 100 and iv.mean == pytest.approx(49.5)
    # standard error of the mean = std/sqrt(n) = 28.87/10; the 95 % interval is about +-1.96 SE
    assert iv.lo == pytest.approx(49.5 - 1.96 * 2.887, abs=0.8) and iv.hi == pytest.approx(49.5 + 1.96 * 2.887, abs=0.8)
    assert bootstrap_mean(v, seed=3) == iv
    assert bootstrap_mean(v, seed=4) != iv


def test_constant_shift_gives_degenerate_interval():
    a = np.linspace(0, 1, 30)
    c = paired_bootstrap(a + 0.5, a)
    assert (c.diff, c.lo, c.hi) == pytest.approx((0.5, 0.5, 0.5)) and c.verdict == HOLDS
    assert paired_bootstrap(a, a + 0.5).verdict == FAILS
    # errors: lower is better, so a smaller error for a is a win for a
    assert paired_bootstrap(a, a + 0.5, higher_is_better=False).verdict == HOLDS


def test_noise_gives_inconclusive_with_n():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=20), rng.normal(size=20)
    c = paired_bootstrap(a, b)
    assert c.lo < 0 < c.hi and c.verdict == "inconclusive (n=20)"


def test_items_by_seeds_are_averaged_per_item():
    a = np.array([[1.0, 3.0], [2.0, 4.0]])
    c = paired_bootstrap(a, np.zeros(2))
    assert c.n == 2 and c.mean_a == pytest.approx(2.5)


def test_noninferiority_margin():
    assert decide(-0.1, 0.2, 10, kind="noninferior", margin=0.2) == HOLDS
    assert decide(-0.5, -0.3, 10, kind="noninferior", margin=0.2) == FAILS
    assert decide(-0.3, 0.1, 10, kind="noninferior", margin=0.2).startswith("inconclusive")


def test_bad_input_is_rejected():
    with pytest.raises(ValueError):
        paired_bootstrap([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        bootstrap_mean([])
    with pytest.raises(ValueError):
        bootstrap_mean([1.0, float("nan")])


def test_bootstrap_geomean_known_answer():
    iv = bootstrap_geomean([0.5, 2.0, 0.5, 2.0], seed=1)
    assert iv.mean == pytest.approx(1.0) and iv.lo < 1.0 < iv.hi
    assert bootstrap_geomean([3.0, 3.0]).mean == pytest.approx(3.0)
    with pytest.raises(ValueError, match="positive"):
        bootstrap_geomean([1.0, 0.0])
