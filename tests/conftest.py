"""Test-session settings: cheap XLA compiles and a shared persistent compilation cache.

Tests compile hundreds of small train steps and run each for a few steps, so compile time dominates. XLA's
backend optimization level 0 compiles about 3x faster on CPU; every comparison in the suite is between runs
under the same flags. The persistent cache (shared with the subprocesses tests start, through the
environment) lets identical shapes compile once per session.
"""
import atexit
import os
import shutil
import tempfile

import pytest

_FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FAST_COMPILE).strip()
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # a session-private cache, removed when the session ends
    _CACHE_DIR = tempfile.mkdtemp(prefix="gan_bench_jax_cache_")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE_DIR
    atexit.register(shutil.rmtree, _CACHE_DIR, ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")  # read by JAX at import, here and in subprocesses


@pytest.fixture(autouse=True)
def pinned_precision():
    """Every test runs with float32 matmuls and convolutions (see the module docstring)."""
    import jax  # pylint: disable=import-outside-toplevel
    with jax.default_matmul_precision("highest"):
        yield "highest"


@pytest.fixture(autouse=True)
def clean_gin():
    """Every test starts and ends with no gin bindings: `parse_config` binds gin globally, and a binding left
    behind (a preset's `batch_norm.decay`, say) silently changes the nets a later test builds."""
    import gin  # pylint: disable=import-outside-toplevel
    gin.clear_config()
    yield
    gin.clear_config()
