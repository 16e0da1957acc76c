"""Does the generator copy its training images? A nearest-neighbour test in feature space.

A low FID against the training set can mean a good generator or a memorizing one. Held-out images (the test
split) are, by construction, new draws from the data distribution: their distances to the nearest training
image show how close a genuinely new image tends to come to the training set. A generator that copies or
nearly copies training images puts many samples closer than that.
"""
from typing import Tuple

import numpy as np


def nearest_distances(queries, references, block: int = 1024) -> np.ndarray:
    """[len(queries)] Euclidean distance from each query to its nearest reference (float64, blockwise)."""
    q = np.asarray(queries, np.float64)
    r = np.asarray(references, np.float64)
    if q.ndim != 2 or r.ndim != 2 or q.shape[1] != r.shape[1] or len(r) == 0:
        raise ValueError(f"features must be [N, d] and [M >= 1, d] with the same d, got {q.shape} and {r.shape}")
    r_sq = (r * r).sum(axis=1)
    out = np.empty(len(q))
    for start in range(0, len(q), block):
        part = q[start:start + block]
        d2 = (part * part).sum(axis=1)[:, None] + r_sq[None, :] - 2.0 * (part @ r.T)
        out[start:start + block] = np.sqrt(np.clip(d2.min(axis=1), 0.0, None))
    return out


def memorization_fraction(train_features, heldout_features, generated_features,
                          percentile: float = 5.0) -> Tuple[float, float]:
    """(fraction, threshold) of the memorization check.

    Definition: let D_h = {min_t ||h − t|| : h held-out} be the distances from each held-out feature vector
    to its nearest training feature vector, and τ its `percentile`-th percentile (`numpy.percentile`, linear
    interpolation; 5 by default). The fraction is the share of generated feature vectors g with
    min_t ||g − t|| < τ. A generator whose samples are as novel as held-out data scores about
    `percentile`/100 (0.05); a memorizing one scores higher, up to 1. All distances are Euclidean in the
    given feature space (Inception pool3 in trials), against the same training features.
    """
    if not 0.0 < percentile < 100.0:
        raise ValueError(f"percentile={percentile!r}; expected a number in (0, 100)")
    threshold = float(np.percentile(nearest_distances(heldout_features, train_features), percentile))
    generated = nearest_distances(generated_features, train_features)
    return float(np.mean(generated < threshold)), threshold
