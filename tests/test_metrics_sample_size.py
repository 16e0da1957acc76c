"""FID∞, bootstrap intervals, the small-sample warning and the memorization check, each against an
independent oracle: numpy resampling with the same draws, `numpy.polyfit`, scipy's sqrtm FID, brute force."""
import warnings

import numpy as np
import pytest
from scipy import linalg

from gan_bench.metrics import fid
from gan_bench.metrics.fid_metric import SmallSampleWarning
from gan_bench.metrics.memorization import memorization_fraction, nearest_distances
from gan_bench.metrics.sample_size import fid_bootstrap, fid_infinity, infinity_sizes, kid_bootstrap


def _fid_oracle(a, b):
    """pytorch-fid: means, np.cov, scipy.linalg.sqrtm of the product."""
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2) - 2 * np.trace(covmean))


def _mmd2_oracle(x, y, source_x, source_y):
    """MMD² with k(a, b) = (a·b/d + 1)³ of resampled sets x, y, averaging the within-set kernels over pairs
    whose source indices differ (`source_*`: which original sample each row was drawn from)."""
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    distinct_x = source_x[:, None] != source_x[None, :]
    distinct_y = source_y[:, None] != source_y[None, :]
    return k(x, x)[distinct_x].mean() + k(y, y)[distinct_y].mean() - 2 * k(x, y).mean()


def _draws(n, m, replicates, seed):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, n, n), rng.integers(0, m, m)) for _ in range(replicates)]


def _data(seed, n=60, m=50, d=4):
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((n, d))
    fake = rng.standard_normal((m, d)) @ np.diag([1.0, 1.5, 0.7, 1.2]) + 0.3
    return real, fake


def test_fid_bootstrap_matches_numpy_resampling_with_the_same_draws():
    real, fake = _data(0)
    values = np.array([_fid_oracle(real[r], fake[f]) for r, f in _draws(len(real), len(fake), 40, seed=7)])
    bias = values.mean() - _fid_oracle(real, fake)
    low, high = np.percentile(values - bias, [5.0, 95.0])
    got = fid_bootstrap(real, fake, replicates=40, confidence=0.90, seed=7)
    np.testing.assert_allclose(got, (low, high, bias), rtol=1e-6)
    assert got[0] < fid(real, fake) < got[1] and got[2] > 0  # resampling duplicates inflate FID


def test_kid_bootstrap_matches_numpy_resampling_with_the_same_draws():
    real, fake = _data(1, n=70, m=45)
    values = [_mmd2_oracle(real[r], fake[f], r, f) for r, f in _draws(len(real), len(fake), 30, seed=3)]
    low, high = np.percentile(values, [2.5, 97.5])
    np.testing.assert_allclose(kid_bootstrap(real, fake, replicates=30, seed=3), (low, high), rtol=1e-9)


def test_bootstrap_input_errors():
    real, fake = _data(2)
    with pytest.raises(ValueError, match="replicates=1"):
        fid_bootstrap(real, fake, replicates=1)
    with pytest.raises(ValueError, match="confidence=1.0"):
        kid_bootstrap(real, fake, confidence=1.0)


def test_fid_infinity_is_the_polyfit_intercept_of_fid_against_one_over_n():
    real, fake = _data(3, n=200, m=160)
    mu, sigma = real.mean(0), np.cov(real, rowvar=False)
    out = fid_infinity((mu, sigma), fake, points=6, min_fraction=0.25, seed=11)
    sizes = np.linspace(int(0.25 * 160), 160, 6).astype(int)
    assert out["sizes"] == sizes.tolist()
    rng = np.random.default_rng(11)  # the documented subset draws: one permutation per size
    fids = [_fid_oracle(real, fake[rng.permutation(160)[:n]]) for n in sizes]
    np.testing.assert_allclose(out["fids"], fids, rtol=1e-6)
    slope, intercept = np.polyfit(1.0 / sizes, fids, 1)
    assert out["fid_infinity"] == pytest.approx(intercept, rel=1e-9)
    assert out["slope"] == pytest.approx(slope, rel=1e-9)


def test_fid_infinity_recovers_an_exact_line():
    """A distance that is exactly a + b/N (a stand-in for FID) must extrapolate to a."""
    real, fake = _data(4, n=50, m=100)
    sizes = iter(infinity_sizes(100, 5, 0.2))

    def line(*_statistics):
        return 2.5 + 40.0 / next(sizes)

    out = fid_infinity((real.mean(0), np.cov(real, rowvar=False)), fake, points=5, min_fraction=0.2,
                       distance=line)
    assert out["fid_infinity"] == pytest.approx(2.5, rel=1e-12) and out["slope"] == pytest.approx(40.0)


def test_infinity_sizes_errors():
    with pytest.raises(ValueError, match="points=1"):
        infinity_sizes(100, points=1)
    with pytest.raises(ValueError, match="min_fraction=0"):
        infinity_sizes(100, min_fraction=0)
    with pytest.raises(ValueError, match="at least 2 distinct"):
        infinity_sizes(2, points=3)


def test_small_sample_warning_below_feature_dimension():
    rng = np.random.default_rng(5)
    with pytest.warns(SmallSampleWarning, match="fewer than the feature dimension 8"):
        fid(rng.standard_normal((6, 8)), rng.standard_normal((20, 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        fid(rng.standard_normal((20, 8)), rng.standard_normal((20, 8)))


def test_memorization_fraction_definition():
    rng = np.random.default_rng(6)
    train, held = rng.standard_normal((80, 3)), rng.standard_normal((60, 3))
    generated = np.concatenate([train[:10] + 1e-3, rng.standard_normal((30, 3))])
    brute = lambda q: np.array([np.linalg.norm(train - v, axis=1).min() for v in q])  # noqa: E731
    np.testing.assert_allclose(nearest_distances(generated, train), brute(generated), rtol=1e-9, atol=1e-9)
    threshold = np.percentile(brute(held), 5.0)
    fraction, got_threshold = memorization_fraction(train, held, generated)
    assert got_threshold == pytest.approx(threshold, rel=1e-12)
    assert fraction == pytest.approx(np.mean(brute(generated) < threshold))
    assert fraction >= 10 / 40  # the 10 near-copies are below the 5th percentile of held-out distances
    with pytest.raises(ValueError, match="percentile=0"):
        memorization_fraction(train, held, generated, percentile=0)
