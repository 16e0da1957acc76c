"""The benchmarks' `--precision` reaches the trial's compiled step. The engine traces its step under the trial's
own policy (`trial.precision`), which overrides the process-wide JAX setting that `set_precision` makes, so a
benchmark "at TF32 on both sides" ran gan_bench at full float32 until `trial_config` bound the same policy.
Oracle: the level JAX itself gives a dot traced under each `jax.default_matmul_precision` value."""
import collections
import os
import sys

import jax
import jax.numpy as jnp
import pytest

from hlo_precision import contraction_levels

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import bench_train_step  # noqa: E402  pylint: disable=wrong-import-position


def _jax_level(matmul_precision: str) -> str:
    """The level of a dot traced under `matmul_precision`, as JAX lowers it."""
    with jax.default_matmul_precision(matmul_precision):
        text = jax.jit(jnp.dot).lower(jnp.ones((2, 2)), jnp.ones((2, 2))).as_text()
    (level,) = contraction_levels(text)
    return level


@pytest.fixture
def restored_settings(monkeypatch, restored_dataset_registry):  # pylint: disable=unused-argument
    """set_precision changes process-wide settings, and trial_config registers a noise dataset: put both back."""
    monkeypatch.setattr(bench_train_step, "_trial_policy", None, raising=False)
    before = jax.config.jax_default_matmul_precision
    yield
    jax.config.update("jax_default_matmul_precision", before)


@pytest.mark.parametrize("flag, traced_as", [("tf32", "tensorfloat32"), ("float32", "highest"),
                                             ("default", "highest")])  # default: the trial's own float32
def test_precision_flag_sets_the_level_of_every_contraction(restored_settings, flag, traced_as):
    bench_train_step.set_precision(flag)
    cfg = bench_train_step.trial_config("mlp", (2,), 8, 1, ["trial.dataset = 'ring8'", "trial.d_norm = 'none'"])
    engine, state, batch = bench_train_step.make_engine(cfg)
    levels = collections.Counter(contraction_levels(engine.step.lower(state, batch).as_text()))
    assert set(levels) == {_jax_level(traced_as)}, levels
    assert sum(levels.values()) >= 10  # G's and D's layers, forward and backward


def test_extra_bindings_override_the_flag(restored_settings):
    bench_train_step.set_precision("tf32")
    cfg = bench_train_step.trial_config("mlp", (2,), 8, 1, ["trial.dataset = 'ring8'", "trial.precision = 'bf16'"])
    assert cfg.precision == "bf16"
