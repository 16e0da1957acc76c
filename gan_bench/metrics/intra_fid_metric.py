"""Intra-class FID (Miyato & Koyama 2018): the FID of each class, between the generator's samples of that class
and the real images of that class, and their mean over the classes.

A class-conditional GAN can reach a good FID over all classes while drawing the wrong class for a label; the
per-class FID exposes it. `intra_fid(real_features, real_labels, fake_features, fake_labels)` works on feature
vectors (Inception pool3 in a trial); every class present among the fakes must have at least two real and two
fake examples (a covariance needs two).
"""
from typing import Dict, Tuple

import numpy as np

from gan_bench.metrics.fid_metric import feature_statistics, frechet_distance


def _labels(name: str, labels, count: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != count or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"intra_fid: {name} must be integer labels [{count}], got shape {labels.shape} "
                         f"dtype {labels.dtype}")
    return labels


def intra_fid(real_features, real_labels, fake_features, fake_labels) -> Tuple[float, Dict[int, float]]:
    """(mean over classes, {class: FID of that class}) over the classes of `fake_labels`."""
    real_features, fake_features = np.asarray(real_features), np.asarray(fake_features)
    real_labels = _labels("real_labels", real_labels, len(real_features))
    fake_labels = _labels("fake_labels", fake_labels, len(fake_features))
    per_class = {}
    for c in np.unique(fake_labels):
        real_c, fake_c = real_features[real_labels == c], fake_features[fake_labels == c]
        if len(real_c) < 2 or len(fake_c) < 2:
            raise ValueError(f"intra_fid: class {int(c)} has {len(real_c)} real and {len(fake_c)} generated "
                             f"examples; each class needs at least 2 of each (raise trial.eval_num_samples)")
        per_class[int(c)] = frechet_distance(*feature_statistics(real_c), *feature_statistics(fake_c))
    return float(np.mean(list(per_class.values()))), per_class
