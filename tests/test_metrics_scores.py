"""Inception Score on hand-made logits, KID against a direct O(n²) implementation."""
import numpy as np
import pytest

from gan_bench.metrics import inception_score, kid


def test_is_uniform_predictions_is_one():
    mean, std = inception_score(np.zeros((100, 1008)), splits=10)
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)


def test_is_confident_distinct_classes_equals_class_count():
    # each split holds 10 images, one per class, predicted with certainty: p(y) uniform over 10 -> IS = 10
    logits = np.full((100, 1008), -1e4)
    logits[np.arange(100), np.arange(100) % 10] = 0.0
    mean, std = inception_score(logits, splits=10)
    assert mean == pytest.approx(10.0, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)


def test_is_hand_computed_two_classes():
    # one split, two images: p1 = (a, 1-a), p2 = (1-a, a); marginal (1/2, 1/2)
    a = 0.8
    logits = np.log(np.array([[a, 1 - a], [1 - a, a]]))
    kl = a * np.log(a / 0.5) + (1 - a) * np.log((1 - a) / 0.5)
    mean, _ = inception_score(logits, splits=1)
    assert mean == pytest.approx(np.exp(kl), rel=1e-12)


def test_is_bad_input():
    with pytest.raises(ValueError, match="splits"):
        inception_score(np.zeros((5, 10)), splits=6)
    with pytest.raises(ValueError, match="logits"):
        inception_score(np.zeros(10))


def direct_mmd2_unbiased(x, y):
    d = x.shape[1]
    k = lambda a, b: (np.dot(a, b) / d + 1.0) ** 3
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_matches_direct_double_sum():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 6)), rng.standard_normal((40, 6)) + 0.4
    mean, std = kid(x, y, subsets=3, subset_size=40)  # the subset is the whole set each time
    assert mean == pytest.approx(direct_mmd2_unbiased(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_subsets_average_of_direct_values():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((60, 5)), rng.standard_normal((50, 5)) * 1.5
    mean, std = kid(x, y, subsets=4, subset_size=20, seed=7)
    draws = np.random.default_rng(7)
    values = []
    for _ in range(4):
        xi, yi = draws.choice(60, 20, replace=False), draws.choice(50, 20, replace=False)
        values.append(direct_mmd2_unbiased(x[xi], y[yi]))
    assert mean == pytest.approx(np.mean(values), rel=1e-10)
    assert std == pytest.approx(np.std(values), rel=1e-8)


def test_kid_same_distribution_is_near_zero_and_unbiased():
    rng = np.random.default_rng(2)
    values = [kid(rng.standard_normal((100, 4)), rng.standard_normal((100, 4)), subsets=1)[0] for _ in range(30)]
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(30)  # unbiased: mean estimate ~ 0


def test_kid_bad_input():
    with pytest.raises(ValueError, match="same d"):
        kid(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        kid(np.zeros((1, 3)), np.zeros((5, 3)))
