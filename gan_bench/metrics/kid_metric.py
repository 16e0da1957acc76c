"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs", arXiv:1801.01401, section 4).

KID is the unbiased estimator of the squared MMD (Gretton et al. 2012, eq. 3) with the cubic polynomial kernel
k(x, y) = (x·y / d + 1)^3, averaged over `subsets` random subsets of `subset_size` real and fake features
drawn without replacement (as in the authors' code and torch-fidelity); the standard deviation over subsets is
returned as a spread, not a standard error.
"""
import numpy as np


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² between samples x [m, d] and y [n, d] under the cubic polynomial kernel."""
    m, n = x.shape[0], y.shape[0]
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kid(real_features, fake_features, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple:
    """(mean, std) of the unbiased MMD² over random subsets; features [N, d] and [M, d].

    `subset_size` is capped at min(N, M); with subset_size = N = M every subset is the whole set.
    """
    x = np.asarray(real_features, dtype=np.float64)
    y = np.asarray(fake_features, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"features must be [N, d] and [M, d] with the same d, got {x.shape} and {y.shape}")
    size = min(subset_size, x.shape[0], y.shape[0])
    if size < 2:
        raise ValueError(f"KID needs at least 2 real and 2 fake features, got {x.shape[0]} and {y.shape[0]}")
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(x[rng.choice(x.shape[0], size, replace=False)],
                            y[rng.choice(y.shape[0], size, replace=False)]) for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))
