"""Mode counting on hand-made samples (VEEGAN / PacGAN definitions)."""
import numpy as np
import pytest

from gan_bench.metrics import mixture_mode_stats, stacked_mnist_modes

MODES = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])


def test_mixture_hand_made():
    std = 0.5  # high quality: within 1.5 of the nearest mode
    samples = np.array([
        [0.1, 0.0], [0.0, 1.4], [-1.0, 0.0],  # mode 0, all high quality
        [10.0, 1.0],                          # mode 1, high quality
        [5.0, 5.0], [10.0, 2.0],              # far from every mode: low quality
    ])
    stats = mixture_mode_stats(samples, MODES, std)
    assert stats["modes_covered"] == 2.0
    assert stats["high_quality_fraction"] == pytest.approx(4 / 6)
    q = np.array([3 / 4, 1 / 4])  # histogram of high-quality samples over the covered modes
    assert stats["reverse_kl"] == pytest.approx(np.sum(q * np.log(q / 0.25)))


def test_mixture_perfect_and_empty():
    samples = np.repeat(MODES, 5, axis=0)
    stats = mixture_mode_stats(samples, MODES, 0.1)
    assert stats == {"modes_covered": 4.0, "high_quality_fraction": 1.0, "reverse_kl": pytest.approx(0.0)}
    far = mixture_mode_stats(np.full((3, 2), 100.0), MODES, 0.1)
    assert far["modes_covered"] == 0.0 and far["high_quality_fraction"] == 0.0 and far["reverse_kl"] == np.inf
    with pytest.raises(ValueError, match="agree in d"):
        mixture_mode_stats(np.zeros((3, 3)), MODES, 0.1)


def test_stacked_mnist_modes_with_a_labelling_classifier():
    # the "classifier" reads the digit from the image's constant value, so the modes are known by construction
    digits = np.array([[1, 2, 3], [1, 2, 3], [4, 5, 6], [0, 0, 0]])
    images = np.broadcast_to((digits / 10.0)[:, None, None, :], (4, 28, 28, 3))
    classifier = lambda x: np.rint(x[:, 0, 0, 0] * 10).astype(int)
    stats = stacked_mnist_modes(images, classifier)
    assert stats["modes_covered"] == 3.0
    q = np.array([0.5, 0.25, 0.25])
    assert stats["kl_to_uniform"] == pytest.approx(np.sum(q * np.log(q * 1000)))
    with pytest.raises(ValueError, match="28, 28, 3"):
        stacked_mnist_modes(np.zeros((2, 28, 28, 1)), classifier)
