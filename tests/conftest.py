"""Test-session settings: cheap XLA compiles and a shared persistent compilation cache.

Tests compile hundreds of small train steps and run each for a few steps, so compile time dominates. XLA's
backend optimization level 0 compiles about 3x faster on CPU, and XLA CPU's older fusion emitters another
15-20 % faster (the one-step combinations: 154 s -> 120 s); that flag is probed first in a child process, as
an XLA that no longer knows it would abort. Every comparison in the suite is between runs under the same
flags or against an oracle with a tolerance. The persistent cache (shared with the subprocesses tests start,
through the environment) lets identical shapes compile once per session.
"""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

_FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
_OLD_EMITTERS = "--xla_cpu_use_fusion_emitters=false"


def _xla_accepts(flags: str) -> bool:
    """Whether this jaxlib runs with `flags` (an unknown XLA flag aborts the process that sets it)."""
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    probe = "import jax.numpy as jnp; jnp.zeros(2).block_until_ready()"
    return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, timeout=120).returncode == 0


if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    _flags = (os.environ.get("XLA_FLAGS", "") + " " + _FAST_COMPILE).strip()
    if _xla_accepts(f"{_flags} {_OLD_EMITTERS}"):
        _flags = f"{_flags} {_OLD_EMITTERS}"
    os.environ["XLA_FLAGS"] = _flags
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


@pytest.fixture
def restored_dataset_registry(monkeypatch):
    """The dataset registry as it was before the test: the benchmarks register noise datasets, which tests that
    list every registered dataset must not see."""
    from gan_bench import data  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(data.DATASETS, "_items", dict(data.DATASETS._items))  # pylint: disable=protected-access


@pytest.fixture
def at_repository_root(monkeypatch):
    """The test runs in the repository root: presets include other presets by repository-relative paths, and
    gin resolves includes from the working directory."""
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
