"""Fréchet distance between Gaussians fitted to features (FID, Heusel et al. 2017, arXiv:1706.08500, eq. 6).

    d² = ||mu1 - mu2||² + tr(sigma1) + tr(sigma2) - 2 tr sqrt(sigma1 sigma2)

The matrix square root is where implementations differ. pytorch-fid (mseitzer/pytorch-fid) calls
`scipy.linalg.sqrtm(sigma1 @ sigma2)` and retries with `1e-6 * I` added to both covariances when the result is
not finite. Here the trace term is computed without a general matrix square root: the eigenvalues of
sigma1 sigma2 equal those of the symmetric positive semi-definite matrix L^T sigma2 L for any factor
sigma1 = L L^T, so

    tr sqrt(sigma1 sigma2) = sum_i sqrt(lambda_i(L^T sigma2 L)).

L comes from a pivoted Cholesky factorization (LAPACK dpstrf), which stops at the numerical rank and so handles
singular covariances (fewer samples than dimensions) exactly, with no eps offset. Everything is float64; the
cost is one factorization, two matrix products and one symmetric eigenvalue problem (no Schur-based general
square root), under 2 s for 2048-d features on two idle CPU cores.
"""
import warnings

import numpy as np
from scipy.linalg import eigh, lapack


class SmallSampleWarning(UserWarning):
    """FID from fewer samples than feature dimensions: rank-deficient covariances, strongly biased value."""


def check_sample_size(num_real: int, num_fake: int, dim: int) -> None:
    """Warn (`SmallSampleWarning`) when either set has fewer samples than the feature dimension.

    Below d samples the covariance estimate has rank < d and FID is biased upward by an amount that depends on
    N (Chong & Forsyth 2020): such values are comparable only with FIDs computed at the same N, never with
    published 50k-sample FIDs. `fid.infinity_points` (FID extrapolated to infinite N) removes most of the bias.
    """
    if min(num_real, num_fake) < dim:
        warnings.warn(f"FID from {num_real} real and {num_fake} generated samples, fewer than the feature "
                      f"dimension {dim}: the covariances are rank-deficient and the FID is biased upward; "
                      f"compare it only with FIDs at the same sample sizes", SmallSampleWarning, stacklevel=3)


def published_mismatch(num_real, num_fake, published_num_samples=None, published_num_real=None) -> str:
    """'' when the sample sizes of an FID match the protocol a preset declares, else one sentence saying which
    differ (`fid.published_num_samples`: generated images, `fid.published_num_real`: real images; None: not
    declared). FID depends on N (biased upward at small N), so a value from other sample sizes is not
    comparable with the published one. Written in the evaluation log and in report notes alike."""
    parts = []
    for what, count, published, key in (("generated", num_fake, published_num_samples, "published_num_samples"),
                                         ("real", num_real, published_num_real, "published_num_real")):
        if published is not None and count is not None and int(count) != int(published):
            parts.append(f"{int(count)} {what} images where the preset's published protocol uses "
                         f"{int(published)} (fid.{key})")
    if not parts:
        return ""
    return f"FID from {' and '.join(parts)}: not comparable with the published FID"


def _as_float64(name: str, x, ndim: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or Inf")
    return x


def _check_covariance(name: str, sigma: np.ndarray, dim: int) -> None:
    if sigma.shape != (dim, dim):
        raise ValueError(f"{name} must have shape ({dim}, {dim}) to match the mean, got {sigma.shape}")
    scale = max(1.0, float(np.abs(sigma).max()))
    if not np.allclose(sigma, sigma.T, rtol=0, atol=1e-8 * scale):
        raise ValueError(f"{name} is not symmetric")


def _psd_factor(sigma: np.ndarray) -> np.ndarray:
    """L [d, r] with sigma ≈ L L^T, r = numerical rank (pivoted Cholesky; rows back in original order)."""
    factor, piv, rank, info = lapack.dpstrf(sigma, lower=1)
    if info < 0:
        raise ValueError(f"pivoted Cholesky failed (LAPACK info {info})")
    low = np.tril(factor)[:, :rank]
    out = np.empty_like(low)
    out[piv - 1] = low  # undo the symmetric pivoting: sigma[p][:, p] = low low^T
    return out


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr sqrt(sigma1 @ sigma2) for symmetric PSD sigma1, sigma2 [d, d] (float64)."""
    if not np.any(sigma1) or not np.any(sigma2):
        return 0.0
    low = _psd_factor(sigma1)
    inner = low.T @ sigma2 @ low  # [r, r], symmetric PSD, same nonzero eigenvalues as sigma1 @ sigma2
    inner = 0.5 * (inner + inner.T)
    eigenvalues = eigh(inner, eigvals_only=True, driver="evd")
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2); mu [d], sigma [d, d]."""
    mu1, mu2 = _as_float64("mu1", mu1, 1), _as_float64("mu2", mu2, 1)
    if mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2 differ in shape: {mu1.shape} vs {mu2.shape}")
    sigma1, sigma2 = _as_float64("sigma1", sigma1, 2), _as_float64("sigma2", sigma2, 2)
    _check_covariance("sigma1", sigma1, mu1.shape[0])
    _check_covariance("sigma2", sigma2, mu1.shape[0])
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    return float(max(value, 0.0))


def feature_statistics(features) -> tuple:
    """(mean [d], covariance [d, d]) in float64 of features [N, d], N >= 2 (unbiased covariance, as pytorch-fid)."""
    features = _as_float64("features", features, 2)
    if features.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {features.shape[0]}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def fid(real_features, fake_features) -> float:
    """FID between feature sets [N, d] and [M, d] (usually Inception pool3, d = 2048); warns when N or M < d."""
    real_features = np.asarray(real_features)
    fake_features = np.asarray(fake_features)
    if real_features.ndim != 2 or fake_features.ndim != 2 or real_features.shape[1] != fake_features.shape[1]:
        raise ValueError(f"features must be [N, d] and [M, d] with the same d, got {real_features.shape} "
                         f"and {fake_features.shape}")
    check_sample_size(len(real_features), len(fake_features), real_features.shape[1])
    return frechet_distance(*feature_statistics(real_features), *feature_statistics(fake_features))
