"""MS-SSIM: identity, compare_gan's published test value, and a hand-derived value for constant images."""
import numpy as np
import pytest

from gan_bench.metrics import ms_ssim, ms_ssim_diversity
from gan_bench.metrics.ms_ssim_metric import to_255

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def test_image_with_itself_is_one():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (3, 32, 32, 3))
    assert ms_ssim(images, images) == pytest.approx(1.0, abs=1e-12)


def test_compare_gan_published_value():
    # compare_gan ms_ssim_score_test: images 1, 0.7, 0 (64x64x3, on the 255 scale) -> 0.989989 (+-0.001)
    images = np.stack([np.ones((64, 64, 3)), np.full((64, 64, 3), 0.7), np.zeros((64, 64, 3))])
    assert ms_ssim_diversity(images, num_batches=1) == pytest.approx(0.989989, abs=1e-3)


def test_constant_images_hand_value():
    # constant images: every contrast-structure term is c2/c2 = 1, so MS-SSIM = luminance ** w_last with
    # luminance = (2ab + c1) / (a² + b² + c1), c1 = (0.01 * 255)²
    a, b = 100.0, 140.0
    c1 = (0.01 * 255) ** 2
    expected = ((2 * a * b + c1) / (a * a + b * b + c1)) ** WEIGHTS[-1]
    value = ms_ssim(np.full((1, 48, 48, 1), a), np.full((1, 48, 48, 1), b))
    assert value == pytest.approx(expected, rel=1e-12)


def test_more_similar_is_higher_and_odd_sizes_work():
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 255, (2, 28, 28, 1))  # 28 -> 14 -> 7 -> 4 (padded) -> 2
    slightly = np.clip(base + rng.normal(0, 5, base.shape), 0, 255)
    very = np.clip(base + rng.normal(0, 60, base.shape), 0, 255)
    assert 1.0 > ms_ssim(base, slightly) > ms_ssim(base, very) > 0.0


def test_to_255_and_bad_shapes():
    np.testing.assert_allclose(to_255(np.array([-1.0, 0.0, 1.0])), [0.0, 127.5, 255.0])
    with pytest.raises(ValueError, match="equal shapes"):
        ms_ssim(np.zeros((1, 8, 8, 1)), np.zeros((1, 8, 9, 1)))
