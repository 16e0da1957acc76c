"""Sample-quality metrics: plain functions on numpy arrays, plus the `METRICS` registry used by trials."""
from gan_bench.metrics.fid import feature_statistics, fid, frechet_distance
from gan_bench.metrics.inception_score import inception_score
from gan_bench.metrics.kid import kid
from gan_bench.metrics.modes import mixture_mode_stats, stacked_mnist_modes
from gan_bench.metrics.ms_ssim import ms_ssim, ms_ssim_diversity
from gan_bench.metrics.prd import prd, prd_f_beta
from gan_bench.metrics.prdc import prdc

__all__ = ["feature_statistics", "fid", "frechet_distance", "inception_score", "kid", "mixture_mode_stats",
           "stacked_mnist_modes", "ms_ssim", "ms_ssim_diversity", "prd", "prd_f_beta", "prdc"]
