"""Inception Score (Salimans et al. 2016, arXiv:1606.03498, section 4): exp(E_x KL(p(y|x) || p(y))).

As in the original code (openai/improved-gan `inception_score.py`), TTUR and compare_gan, the samples are
split into `splits` equal parts, the score is computed on each part with p(y) the mean prediction of that
part, and the mean and (population) standard deviation over parts are returned.

Classes: the FID Inception network (2015-12-05 graph) has a 1008-way softmax: 1000 ImageNet classes plus 8
classes that never received training data. The original code applies the softmax to all 1008 logits, and so do
we, so numbers are comparable with published ones; the 8 unused classes get almost no probability mass.
"""
import numpy as np
from scipy.special import log_softmax, logsumexp


def inception_score(logits, splits: int = 10) -> tuple:
    """(mean, std) of the Inception Score over `splits` parts of logits [N, C] (pre-softmax)."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must be [N, C] with C >= 2 classes, got shape {logits.shape}")
    if not isinstance(splits, (int, np.integer)) or splits < 1 or splits > logits.shape[0]:
        raise ValueError(f"splits must be an integer in [1, N={logits.shape[0]}], got {splits!r}")
    if not np.all(np.isfinite(logits)):
        raise ValueError("logits contain NaN or Inf")
    log_p = log_softmax(logits, axis=1)
    n = logits.shape[0]
    scores = []
    for i in range(splits):
        part = log_p[i * n // splits:(i + 1) * n // splits]
        log_marginal = logsumexp(part, axis=0) - np.log(len(part))  # finite even where p(y) underflows
        kl = (np.exp(part) * (part - log_marginal)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
