"""Precision and recall for distributions, PRD (Sajjadi et al. 2018, arXiv:1806.00035, section 3 and 4).

The union of real and fake features is clustered with mini-batch k-means; the cluster histograms P (real,
reference) and Q (fake, evaluated) are compared on an equiangular grid of slopes lambda = tan(angle),
angle in [eps, pi/2 - eps]:

    alpha(lambda) = sum_w min(lambda P(w), Q(w))      (precision, eq. 4)
    beta(lambda)  = alpha(lambda) / lambda              (recall)

and the curves of `num_runs` independent clusterings are averaged. As in the reference implementation
(msmsajjadi/precision-recall-distributions, also compare_gan `prd_score.py`): eps = 1e-10, 20 clusters,
1001 angles, 10 runs, the best of 10 k-means++ seedings per run, equal sample counts required. The reference
refines with sklearn's MiniBatchKMeans; we refine with full-batch Lloyd iterations in numpy (no sklearn), as
MiniBatchKMeans took about 46 s for one 2000 x 2048 fit on this CPU. The curve is
summarized by max F_8 (recall-like) and max F_1/8 (precision-like), eq. 6 of the paper.
"""
import numpy as np

_ANGLE_EPS = 1e-10


def prd_curve(eval_dist, ref_dist, num_angles: int = 1001) -> tuple:
    """(precision [A], recall [A]) of histogram eval_dist against ref_dist (each [K], summing to 1)."""
    if not 3 <= num_angles <= 1_000_000:
        raise ValueError(f"num_angles must be in [3, 1e6], got {num_angles}")
    eval_dist, ref_dist = np.asarray(eval_dist, np.float64), np.asarray(ref_dist, np.float64)
    if eval_dist.shape != ref_dist.shape or eval_dist.ndim != 1:
        raise ValueError(f"histograms must be 1-D of equal length, got {eval_dist.shape}, {ref_dist.shape}")
    slopes = np.tan(np.linspace(_ANGLE_EPS, np.pi / 2 - _ANGLE_EPS, num_angles))
    precision = np.minimum(ref_dist[None, :] * slopes[:, None], eval_dist[None, :]).sum(axis=1)
    recall = precision / slopes
    return np.clip(precision, 0.0, 1.0), np.clip(recall, 0.0, 1.0)


def _kmeans_plus_plus(points: np.ndarray, sq: np.ndarray, num_clusters: int, rng: np.random.Generator):
    """k-means++ seeds (Arthur & Vassilvitskii 2007) [K, d] and their inertia."""
    centres = [points[rng.integers(len(points))]]
    d2 = np.clip(sq - 2.0 * points @ centres[0] + centres[0] @ centres[0], 0, None)
    for _ in range(1, num_clusters):  # next seed with probability proportional to squared distance
        pick = rng.choice(len(points), p=d2 / d2.sum()) if d2.sum() > 0 else rng.integers(len(points))
        centres.append(points[pick])
        d2 = np.minimum(d2, np.clip(sq - 2.0 * points @ points[pick] + sq[pick], 0, None))
    return np.array(centres), d2.sum()


def kmeans_labels(points: np.ndarray, num_clusters: int, rng: np.random.Generator, n_init: int = 10,
                  max_iter: int = 100, tol: float = 1e-4) -> np.ndarray:
    """Cluster index [N] of each point [N, d].

    As sklearn's MiniBatchKMeans (the reference's choice) does with n_init: the best of `n_init` k-means++
    seedings (lowest inertia) is refined once, here by full-batch Lloyd iterations, stopping when the squared
    centre shift falls below tol * (mean per-feature variance).
    """
    sq = (points * points).sum(axis=1)
    centres = min((_kmeans_plus_plus(points, sq, num_clusters, rng) for _ in range(n_init)), key=lambda c: c[1])[0]
    shift_tol = tol * points.var(axis=0).mean()
    for _ in range(max_iter):
        d2 = sq[:, None] + (centres * centres).sum(axis=1)[None, :] - 2.0 * points @ centres.T
        one_hot = np.eye(num_clusters)[d2.argmin(axis=1)]  # [N, K]: centre update as one matrix product
        counts = one_hot.sum(axis=0)
        filled = counts > 0  # an emptied cluster keeps its old centre
        previous = centres.copy()
        centres[filled] = (one_hot.T @ points)[filled] / counts[filled, None]
        if ((centres - previous) ** 2).sum() <= shift_tol:
            break
    d2 = sq[:, None] + (centres * centres).sum(axis=1)[None, :] - 2.0 * points @ centres.T
    return d2.argmin(axis=1)


def cluster_histograms(eval_data: np.ndarray, ref_data: np.ndarray, num_clusters: int,
                       rng: np.random.Generator) -> tuple:
    """Histograms [K] (normalized) of eval and ref points over k-means clusters of their union."""
    labels = kmeans_labels(np.vstack([eval_data, ref_data]), num_clusters, rng)
    eval_hist = np.bincount(labels[:len(eval_data)], minlength=num_clusters) / len(eval_data)
    ref_hist = np.bincount(labels[len(eval_data):], minlength=num_clusters) / len(ref_data)
    return eval_hist, ref_hist


def prd(real_features, fake_features, num_clusters: int = 20, num_angles: int = 1001, num_runs: int = 10,
        seed: int = 0) -> tuple:
    """(precision [num_angles], recall [num_angles]) of fake [N, d] w.r.t. real [N, d], averaged over runs."""
    real = np.asarray(real_features, dtype=np.float64)
    fake = np.asarray(fake_features, dtype=np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be [N, d] with the same d, got {real.shape} and {fake.shape}")
    if len(real) != len(fake):
        raise ValueError(f"PRD needs as many real as fake points (clustering is biased otherwise), got "
                         f"{len(real)} real and {len(fake)} fake")
    if not 1 <= num_clusters <= len(real):
        raise ValueError(f"num_clusters must be in [1, {len(real)}], got {num_clusters}")
    if num_runs < 1:
        raise ValueError(f"num_runs must be >= 1, got {num_runs}")
    rng = np.random.default_rng(seed)
    curves = [prd_curve(*cluster_histograms(fake, real, num_clusters, rng), num_angles) for _ in range(num_runs)]
    return np.mean([c[0] for c in curves], axis=0), np.mean([c[1] for c in curves], axis=0)


def f_beta(precision, recall, beta: float) -> np.ndarray:
    """F_beta = (1 + beta²) p r / (beta² p + r), with 1e-10 in the denominator as in the reference."""
    return (1 + beta ** 2) * precision * recall / (beta ** 2 * precision + recall + 1e-10)


def prd_f_beta(precision, recall, beta: float = 8) -> tuple:
    """(max F_beta, max F_1/beta) over the PRD curve: recall-like and precision-like summaries."""
    precision, recall = np.asarray(precision, np.float64), np.asarray(recall, np.float64)
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    for name, v in (("precision", precision), ("recall", recall)):
        if not np.all((v >= 0) & (v <= 1)):
            raise ValueError(f"all {name} values must lie in [0, 1]")
    return float(np.max(f_beta(precision, recall, beta))), float(np.max(f_beta(precision, recall, 1 / beta)))
