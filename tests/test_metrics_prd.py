"""PRD (Sajjadi et al. 2018) on well-separated clusters, where the clustering is unambiguous and the curve has
a closed form, and against the paper's definition re-derived on explicit histograms."""
import numpy as np
import pytest

from gan_bench.metrics import prd, prd_f_beta
from gan_bench.metrics.prd_metric import prd_curve


def blobs(rng, centres, n_per):
    return np.concatenate([c + 0.01 * rng.standard_normal((n_per, len(c))) for c in centres])


CENTRES = 10.0 * np.eye(4)  # four far-apart clusters in 4-D


def test_identical_distributions_reach_one_one():
    rng = np.random.default_rng(0)
    real, fake = blobs(rng, CENTRES, 50), blobs(rng, CENTRES, 50)
    precision, recall = prd(real, fake, num_clusters=4, num_runs=2)
    # at lambda = 1 (the middle angle) both equal sum_w min(P, Q) = 1
    assert precision[500] == pytest.approx(1.0, abs=1e-9) and recall[500] == pytest.approx(1.0, abs=1e-9)
    f8, f1_8 = prd_f_beta(precision, recall)
    assert f8 == pytest.approx(1.0, abs=1e-6) and f1_8 == pytest.approx(1.0, abs=1e-6)


def test_disjoint_distributions_are_near_zero():
    rng = np.random.default_rng(1)
    real, fake = blobs(rng, CENTRES[:2], 50), blobs(rng, CENTRES[2:], 50)
    precision, recall = prd(real, fake, num_clusters=4, num_runs=2)
    assert precision.max() < 1e-6 and recall.max() < 1e-6


def test_mode_dropping_closed_form():
    # fake covers 1 of 2 equal real clusters: alpha(l) = min(l/2, 1), beta(l) = min(1/2, 1/l)
    rng = np.random.default_rng(2)
    real = blobs(rng, CENTRES[:2], 60)
    fake = blobs(rng, CENTRES[:1], 120)
    precision, recall = prd(real, fake, num_clusters=2, num_runs=1, num_angles=1001)
    slopes = np.tan(np.linspace(1e-10, np.pi / 2 - 1e-10, 1001))
    np.testing.assert_allclose(precision, np.minimum(slopes / 2, 1.0), atol=1e-9)
    np.testing.assert_allclose(recall, np.minimum(0.5, 1.0 / slopes), atol=1e-9)
    f8, f1_8 = prd_f_beta(precision, recall)
    # the frontier's corner (p=1, r=1/2) attains both maxima; the angle grid passes within 2e-4 of it
    fb = lambda p, r, b: (1 + b * b) * p * r / (b * b * p + r)
    assert f8 == pytest.approx(fb(1.0, 0.5, 8), abs=2e-4) and f1_8 == pytest.approx(fb(1.0, 0.5, 1 / 8), abs=2e-4)


def test_curve_matches_definition_on_histograms():
    rng = np.random.default_rng(3)
    p, q = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(7))
    precision, recall = prd_curve(q, p, num_angles=11)
    for i, angle in enumerate(np.linspace(1e-10, np.pi / 2 - 1e-10, 11)):
        lam = np.tan(angle)
        alpha = sum(min(lam * p_w, q_w) for p_w, q_w in zip(p, q))  # eq. 4 of the paper, P = reference
        assert precision[i] == pytest.approx(alpha, rel=1e-12)
        assert recall[i] == pytest.approx(min(alpha / lam, 1.0), rel=1e-9)


def test_bad_input():
    with pytest.raises(ValueError, match="as many real as fake"):
        prd(np.zeros((10, 2)), np.zeros((12, 2)))
    with pytest.raises(ValueError, match="num_angles"):
        prd_curve(np.ones(2) / 2, np.ones(2) / 2, num_angles=2)
    with pytest.raises(ValueError, match="precision"):
        prd_f_beta(np.array([1.5]), np.array([0.5]))
