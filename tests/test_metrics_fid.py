"""Fréchet distance against scipy.linalg.sqrtm (pytorch-fid's formula) and closed-form Gaussian cases."""

import numpy as np
import pytest
import scipy.linalg

from gan_bench.metrics import feature_statistics, fid, frechet_distance


def _sqrtm(matrix):
    """scipy.linalg.sqrtm's matrix; scipy < 1.18 returns (matrix, error) for `disp=False`, 1.18 dropped `disp`."""
    try:
        return scipy.linalg.sqrtm(matrix, disp=False)[0]
    except TypeError:
        return scipy.linalg.sqrtm(matrix)


def pytorch_fid_formula(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """mseitzer/pytorch-fid calculate_frechet_distance, written out: sqrtm with an eps offset fallback."""
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    covmean = np.real(covmean)
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def random_stats(rng, n, d, shift=0.0):
    x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.3 + shift
    return feature_statistics(x)


@pytest.mark.parametrize("n,d", [(500, 32), (200, 64)])
def test_matches_sqrtm_full_rank(n, d):
    rng = np.random.default_rng(0)
    a, b = random_stats(rng, n, d), random_stats(rng, n, d, shift=0.5)
    assert frechet_distance(*a, *b) == pytest.approx(pytorch_fid_formula(*a, *b), rel=1e-6)


def test_matches_sqrtm_rank_deficient():
    rng = np.random.default_rng(1)
    d = 64
    a = feature_statistics(rng.standard_normal((20, d)))  # rank 19 < 64
    b = feature_statistics(rng.standard_normal((30, d)) + 0.3)  # rank 29 < 64
    ours = frechet_distance(*a, *b)
    # the reference's trace has an O(sqrt(eps_machine)) error per zero eigenvalue; compare at the documented tolerance
    assert ours == pytest.approx(pytorch_fid_formula(*a, *b), rel=1e-6)


def test_closed_form_diagonal():
    rng = np.random.default_rng(2)
    d = 50
    a_var, b_var = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a_var) - np.sqrt(b_var)) ** 2)
    assert frechet_distance(mu1, np.diag(a_var), mu2, np.diag(b_var)) == pytest.approx(expected, rel=1e-10)


def test_closed_form_singular_diagonal():
    # zero variances in some coordinates (exactly singular covariances): still ||mu1-mu2||² + sum (√a - √b)²
    a_var = np.array([1.0, 0.0, 4.0, 0.0])
    b_var = np.array([0.0, 0.0, 1.0, 9.0])
    expected = 1.0 + 0.0 + 1.0 + 9.0
    assert frechet_distance(np.zeros(4), np.diag(a_var), np.zeros(4), np.diag(b_var)) == pytest.approx(expected)


def test_identical_sets_give_zero_and_fid_of_features():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 16))
    assert fid(x, x) == pytest.approx(0.0, abs=1e-8)
    y = x + np.array([3.0] + [0.0] * 15)  # a pure shift: FID = |shift|²
    assert fid(x, y) == pytest.approx(9.0, rel=1e-8)


def test_bad_input():
    with pytest.raises(ValueError, match="sigma1"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="symmetric"):
        frechet_distance(np.zeros(2), np.array([[1.0, 2.0], [0.0, 1.0]]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="same d"):
        fid(np.zeros((5, 3)), np.zeros((5, 4)))
