"""Mode statistics for mixtures of Gaussians and Stacked MNIST.

2-D mixtures (VEEGAN, Srivastava et al. 2017, arXiv:1705.07761, section 5.1; PacGAN, Lin et al. 2018,
arXiv:1712.04086, section 4 and its code fjxmlzn/PacGAN): each sample is assigned to its nearest mode; it is a
*high-quality* sample when it lies within `num_std` standard deviations of that mode. A mode is *covered* when at
least one high-quality sample is assigned to it. The *reverse KL* is KL(Q || P) between the histogram Q of
high-quality samples over modes and the true mode distribution P (uniform unless `mode_weights` is given).

Stacked MNIST (Metz et al. 2017, arXiv:1611.02163; VEEGAN; PacGAN): each of the 3 channels is classified by a
pre-trained MNIST classifier, giving one of 1000 modes; we report the number of modes hit and KL(Q || uniform)
of the generated mode histogram.
"""
from typing import Callable, Optional

import numpy as np


def kl_to_reference(counts: np.ndarray, reference: np.ndarray) -> float:
    """KL(Q || P) with Q = counts / sum(counts) and P = reference (both [K]); 0 log 0 = 0."""
    q = counts / counts.sum()
    nz = q > 0
    return float(np.sum(q[nz] * np.log(q[nz] / reference[nz])))


def mixture_mode_stats(samples, modes, std: float, num_std: float = 3.0,
                       mode_weights: Optional[np.ndarray] = None) -> dict:
    """{"modes_covered", "high_quality_fraction", "reverse_kl"} of samples [N, 2] for modes [K, 2].

    reverse_kl is +inf when no sample is of high quality (Q is undefined).
    """
    samples, modes = np.asarray(samples, np.float64), np.asarray(modes, np.float64)
    if samples.ndim != 2 or modes.ndim != 2 or samples.shape[1] != modes.shape[1] or len(samples) == 0:
        raise ValueError(f"samples [N, d] and modes [K, d] must agree in d, got {samples.shape} and {modes.shape}")
    if not std > 0 or not num_std > 0:
        raise ValueError(f"std and num_std must be positive, got {std} and {num_std}")
    weights = np.full(len(modes), 1.0 / len(modes)) if mode_weights is None else np.asarray(mode_weights, float)
    if weights.shape != (len(modes),) or np.any(weights <= 0):
        raise ValueError(f"mode_weights must be [K={len(modes)}] positive, got {weights}")
    weights = weights / weights.sum()
    dist = np.linalg.norm(samples[:, None, :] - modes[None, :, :], axis=-1)  # [N, K]
    nearest = dist.argmin(axis=1)
    high_quality = dist[np.arange(len(samples)), nearest] <= num_std * std
    counts = np.bincount(nearest[high_quality], minlength=len(modes)).astype(np.float64)
    return {
        "modes_covered": float(np.count_nonzero(counts)),
        "high_quality_fraction": float(high_quality.mean()),
        "reverse_kl": kl_to_reference(counts, weights) if counts.sum() > 0 else float("inf"),
    }


def stacked_mnist_modes(images, classifier: Callable[[np.ndarray], np.ndarray]) -> dict:
    """{"modes_covered", "kl_to_uniform"} of images [N, 28, 28, 3] in [-1, 1].

    classifier(x [B, 28, 28, 1] in [-1, 1]) -> predicted digits [B]. The mode of an image is
    100 * digit(channel 0) + 10 * digit(channel 1) + digit(channel 2).
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[1:] != (28, 28, 3):
        raise ValueError(f"Stacked MNIST images must be [N, 28, 28, 3], got shape {images.shape}")
    digits = [np.asarray(classifier(images[..., c:c + 1])).astype(np.int64) for c in range(3)]
    for d in digits:
        if d.shape != (len(images),) or d.min() < 0 or d.max() > 9:
            raise ValueError(f"classifier must return one digit in 0..9 per image, got shape {d.shape}")
    mode = 100 * digits[0] + 10 * digits[1] + digits[2]
    counts = np.bincount(mode, minlength=1000).astype(np.float64)
    return {"modes_covered": float(np.count_nonzero(counts)),
            "kl_to_uniform": kl_to_reference(counts, np.full(1000, 1e-3))}
