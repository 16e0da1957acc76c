"""Improved precision/recall (Kynkäänniemi et al. 2019, arXiv:1904.06991, eq. 1-2) and density/coverage
(Naeem et al. 2020, arXiv:2002.09797, eq. 3-4), with the definitions of the `prdc` package
(clovaai/generative-evaluation-prdc):

- radius of a point = Euclidean distance to its k-th nearest neighbour in its own set (itself excluded);
- precision = share of fake points inside at least one real ball;
- recall    = share of real points inside at least one fake ball;
- density   = (1/k) * mean over fake points of the number of real balls containing it;
- coverage  = share of real points whose ball contains at least one fake point.

Unlike the package, the distance matrices are never materialized whole: they are computed in row blocks of
`block_size` rows (memory O(block_size x N)), so 50k x 50k features fit in a few hundred MB.
"""
import numpy as np


def _pairwise_distances(x: np.ndarray, y: np.ndarray, y_sq: np.ndarray) -> np.ndarray:
    """Euclidean distances [len(x), len(y)] in float64 via |x|² + |y|² - 2 x·y (clipped at 0)."""
    d2 = (x * x).sum(axis=1)[:, None] + y_sq[None, :] - 2.0 * (x @ y.T)
    return np.sqrt(np.clip(d2, 0.0, None))


def knn_radii(features: np.ndarray, nearest_k: int, block_size: int) -> np.ndarray:
    """Distance of each point [N] to its nearest_k-th nearest neighbour in `features` (self excluded)."""
    sq = (features * features).sum(axis=1)
    radii = np.empty(len(features))
    for start in range(0, len(features), block_size):
        block = _pairwise_distances(features[start:start + block_size], features, sq)
        # the point itself sits at distance 0, so index nearest_k of the sorted row is the k-th neighbour
        radii[start:start + block_size] = np.partition(block, nearest_k, axis=1)[:, nearest_k]
    return radii


def prdc(real_features, fake_features, nearest_k: int = 5, block_size: int = 2048) -> dict:
    """{"precision", "recall", "density", "coverage"} of fake [M, d] against real [N, d] features."""
    real = np.asarray(real_features, dtype=np.float64)
    fake = np.asarray(fake_features, dtype=np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be [N, d] and [M, d] with the same d, got {real.shape} and {fake.shape}")
    if not 1 <= nearest_k < min(len(real), len(fake)):
        raise ValueError(f"nearest_k must be in [1, min(N, M) - 1] = [1, {min(len(real), len(fake)) - 1}], "
                         f"got {nearest_k}")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    real_radii = knn_radii(real, nearest_k, block_size)
    fake_radii = knn_radii(fake, nearest_k, block_size)
    fake_sq = (fake * fake).sum(axis=1)

    balls_containing_fake = np.zeros(len(fake), dtype=np.int64)  # real balls around each fake point
    real_recalled = np.zeros(len(real), dtype=bool)
    real_covered = np.zeros(len(real), dtype=bool)
    for start in range(0, len(real), block_size):
        dist = _pairwise_distances(real[start:start + block_size], fake, fake_sq)  # [b, M]
        inside_real_ball = dist < real_radii[start:start + block_size, None]
        balls_containing_fake += inside_real_ball.sum(axis=0)
        real_recalled[start:start + block_size] = (dist < fake_radii[None, :]).any(axis=1)
        real_covered[start:start + block_size] = dist.min(axis=1) < real_radii[start:start + block_size]
    return {
        "precision": float((balls_containing_fake > 0).mean()),
        "recall": float(real_recalled.mean()),
        "density": float(balls_containing_fake.mean() / nearest_k),
        "coverage": float(real_covered.mean()),
    }
