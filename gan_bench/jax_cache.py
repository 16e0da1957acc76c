"""JAX's persistent compilation cache, on by default for `gan-bench train`, `eval`, `metrics`, `stats` and sweeps.

A sweep compiles the same shapes again and again (every trial of a grid cell, every resume); with the cache
the second trial of the same shapes loads its executable from disk and starts stepping in seconds. The metric
commands compile the FID Inception network, the largest program of all (about 47 s on an H200): with the
cache only their first run pays for it.
"""
import os

import jax

from gan_bench import cache_dirs

ENV_JAX_CACHE = "GAN_BENCH_JAX_CACHE"


def enable_compilation_cache(path=None) -> str:
    """Use `path`, else $GAN_BENCH_JAX_CACHE, else `<cache root>/jax_cache` (`gan_bench.cache_dirs`);
    returns the folder used."""
    path = path or cache_dirs.cache_dir("jax_cache", env=ENV_JAX_CACHE)
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return path


def enable_if_requested() -> None:
    """The cache in $GAN_BENCH_JAX_CACHE when that is set: what `gan-bench sweep` sets for the processes it
    starts (workers, population sizing), so that they share the compiled programs."""
    if os.environ.get(ENV_JAX_CACHE):
        enable_compilation_cache()
