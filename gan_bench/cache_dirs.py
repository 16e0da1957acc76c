"""The one place that decides where gan_bench keeps its caches.

Everything that is expensive to make and safe to reuse lives under one root folder: the FID Inception weights
(`.pth` and its converted msgpack), the Stacked-MNIST classifier, reference statistics of real images, and
JAX's compilation cache. The root is, first hit wins: an explicit `override` argument, `$GAN_BENCH_CACHE`,
`~/.cache/gan_bench`. Each kind of cache is a sub-folder of it; a kind may also have its own environment
variable (`$GAN_BENCH_JAX_CACHE` for the compilation cache, which sweeps point into their results folder).
No JAX import here: the sweep driver resolves folders without starting JAX.
"""
import os
from typing import Optional

ENV_CACHE = "GAN_BENCH_CACHE"
DEFAULT_ROOT = os.path.join("~", ".cache", "gan_bench")


def cache_root(override: Optional[str] = None) -> str:
    """`override`, else `$GAN_BENCH_CACHE`, else `~/.cache/gan_bench` (user-expanded, not created)."""
    return os.path.expanduser(override or os.environ.get(ENV_CACHE) or DEFAULT_ROOT)


def cache_dir(kind: str, override: Optional[str] = None, env: Optional[str] = None) -> str:
    """The folder of one kind of cache: `$<env>` when that variable is set, else `<cache_root(override)>/<kind>`.

    Not created here: writers create it when they first write (`os.makedirs(..., exist_ok=True)`).
    """
    if not kind or os.sep in kind or kind in (".", ".."):
        raise ValueError(f"cache kind {kind!r} must be one plain folder name")
    if env and os.environ.get(env):
        return os.path.expanduser(os.environ[env])
    return os.path.join(cache_root(override), kind)
