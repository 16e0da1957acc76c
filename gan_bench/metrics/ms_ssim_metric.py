"""Multi-scale SSIM (Wang, Simoncelli, Bovik 2003, "Multiscale structural similarity for image quality
assessment", eq. 7) and the sample-diversity score built on it (Odena et al. 2017, arXiv:1610.09585; Fedus,
Rosca et al. 2018, arXiv:1710.08446, section 5.3), following compare_gan `image_similarity.py` /
`ms_ssim_score.py`:

- 5 scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); 11x11 Gaussian window of width 1.5,
  shrunk to the image size at coarse scales; k1 = 0.01, k2 = 0.03; 'valid' filtering;
- between scales a 2x2 average pool, after symmetric padding at the bottom/right when a side is odd;
- contrast-structure terms of the first 4 scales and the SSIM of the last one, negative values clipped to 0,
  combined as a weighted geometric mean, then averaged over colour channels.

Images are NHWC on the [0, max_val] scale (max_val = 255 as in compare_gan; map [-1, 1] images with
`to_255`). The diversity score is the mean MS-SSIM over all pairs of distinct images in `num_batches`
random batches of `batch_size` generated images (5 x 64 in compare_gan); lower means more diverse.
"""
import numpy as np

_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_K1, _K2 = 0.01, 0.03


def to_255(images) -> np.ndarray:
    """[-1, 1] floats -> [0, 255] floats (uint8 input is returned as float unchanged)."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float64)
    return (np.clip(images.astype(np.float64), -1.0, 1.0) + 1.0) * 127.5


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-0.5 * coords ** 2 / sigma ** 2)
    return g / g.sum()  # the 2-D window is the outer product (separable normalized Gaussian)


def _blur_valid(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of x [B, H, W, C] over H and W."""
    size = len(kernel)
    x = np.lib.stride_tricks.sliding_window_view(x, size, axis=1) @ kernel
    return np.lib.stride_tricks.sliding_window_view(x, size, axis=2) @ kernel


def _ssim_terms(x: np.ndarray, y: np.ndarray, max_val: float, filter_size: int, sigma: float) -> tuple:
    """(ssim [B, C], contrast-structure [B, C]) averaged over the valid spatial positions."""
    kernel = _gaussian_1d(min(filter_size, x.shape[1], x.shape[2]), sigma)
    c1, c2 = (_K1 * max_val) ** 2, (_K2 * max_val) ** 2
    mu_x, mu_y = _blur_valid(x, kernel), _blur_valid(y, kernel)
    mu_xy, mu_sq = 2.0 * mu_x * mu_y, mu_x ** 2 + mu_y ** 2
    luminance = (mu_xy + c1) / (mu_sq + c1)
    cs = (2.0 * _blur_valid(x * y, kernel) - mu_xy + c2) / (_blur_valid(x * x + y * y, kernel) - mu_sq + c2)
    return (luminance * cs).mean(axis=(1, 2)), cs.mean(axis=(1, 2))


def _downsample(x: np.ndarray) -> np.ndarray:
    pad_h, pad_w = x.shape[1] % 2, x.shape[2] % 2
    if pad_h or pad_w:
        x = np.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def ms_ssim_pairs(images_a, images_b, max_val: float = 255.0, filter_size: int = 11,
                  sigma: float = 1.5) -> np.ndarray:
    """MS-SSIM [B] of each pair (images_a[i], images_b[i]); images [B, H, W, C] on [0, max_val]."""
    x, y = np.asarray(images_a, np.float64), np.asarray(images_b, np.float64)
    if x.ndim == 3:
        x, y = x[..., None], y[..., None]
    if x.ndim != 4 or x.shape != y.shape:
        raise ValueError(f"images must be [B, H, W, C] of equal shapes, got {x.shape} and {y.shape}")
    factors = []
    for scale in range(len(_WEIGHTS)):
        if scale:
            x, y = _downsample(x), _downsample(y)
        ssim, cs = _ssim_terms(x, y, max_val, filter_size, sigma)
        factors.append(cs if scale < len(_WEIGHTS) - 1 else ssim)
    factors = np.clip(np.stack(factors, axis=-1), 0.0, None)  # [B, C, scales]
    return np.prod(factors ** np.asarray(_WEIGHTS), axis=-1).mean(axis=-1)


def ms_ssim(images_a, images_b, max_val: float = 255.0) -> float:
    """Mean MS-SSIM over the pairs (images_a[i], images_b[i]); 1 for identical images."""
    return float(ms_ssim_pairs(images_a, images_b, max_val).mean())


def ms_ssim_diversity(images, num_batches: int = 5, batch_size: int = 64, max_val: float = 255.0,
                      seed: int = 0) -> float:
    """Mean MS-SSIM over all ordered pairs of distinct images within random batches of `images` [N, H, W, C]."""
    images = np.asarray(images)
    if images.ndim != 4 or len(images) < 2:
        raise ValueError(f"need images [N >= 2, H, W, C], got shape {images.shape}")
    batch_size = min(batch_size, len(images))
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(num_batches):
        batch = images[rng.choice(len(images), batch_size, replace=False)]
        i, j = np.nonzero(~np.eye(batch_size, dtype=bool))
        values = [ms_ssim_pairs(batch[i[s:s + 512]], batch[j[s:s + 512]], max_val) for s in range(0, len(i), 512)]
        scores.append(np.concatenate(values).mean())
    return float(np.mean(scores))
