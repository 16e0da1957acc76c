"""Sample-quality metrics: plain functions on numpy arrays, plus the `METRICS` registry used by trials.

Each metric lives in a module named `<metric>_metric` (`fid_metric`, `kid_metric`, `prd_metric`, `prdc_metric`,
`ms_ssim_metric`, `inception_score_metric`), so that `gan_bench.metrics.fid` is only ever the function and a
module never hides behind a function of the same name.
"""
from gan_bench.metrics.fid_metric import feature_statistics, fid, frechet_distance
from gan_bench.metrics.inception_score_metric import inception_score
from gan_bench.metrics.kid_metric import kid
from gan_bench.metrics.modes import mixture_mode_stats, stacked_mnist_modes
from gan_bench.metrics.ms_ssim_metric import ms_ssim, ms_ssim_diversity
from gan_bench.metrics.prd_metric import prd, prd_f_beta
from gan_bench.metrics.prdc_metric import prdc

__all__ = ["feature_statistics", "fid", "frechet_distance", "inception_score", "kid", "mixture_mode_stats",
           "stacked_mnist_modes", "ms_ssim", "ms_ssim_diversity", "prd", "prd_f_beta", "prdc"]
