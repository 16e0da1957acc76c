"""JAX's persistent compilation cache, on by default for `gan-bench train` and sweeps.

A sweep compiles the same shapes again and again (every trial of a grid cell, every resume); with the cache
the second trial of the same shapes loads its executable from disk and starts stepping in seconds.
"""
import os

import jax


def enable_compilation_cache(path=None) -> str:
    """Use `path`, else $GAN_BENCH_JAX_CACHE, else ~/.cache/gan_bench/jax_cache; returns the folder used."""
    path = path or os.environ.get("GAN_BENCH_JAX_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "gan_bench", "jax_cache")
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return path
