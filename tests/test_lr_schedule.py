"""Learning-rate schedules (`trial.lr_schedule`, gan/schedules.py).

Oracles: chainer's LinearShift rule as SNGAN's code applies it (written here again) and optax's own
`linear_schedule`; whole train steps against optimizers that schedule their own rate with optax, counting
their own updates; the refusals' messages.
"""
import dataclasses
import json
import os
import textwrap
import types

import gin
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_bench.config import TrialConfig, parse_config
from gan_bench.gan import schedules
from gan_bench.gan.state import hparams_of, init_state
from gan_bench.gan.train_step import train_step
from gan_bench.nets.conv_impl import conv_impl
from gan_bench.outputs import write_status
from gan_bench.sweep import store, sweep_main
from gan_bench.train import run_trial
from gan_bench.train.engine import build_model

B = 8
POINTS = types.SimpleNamespace(shape=(2,))  # build_model reads only the per-example shape of the data


def _linear_shift(t, value_range, time_range):
    """chainer.training.extensions.LinearShift._compute_next_value at iteration t."""
    (v1, v2), (t1, t2) = value_range, time_range
    if t <= t1:
        return v1
    if t >= t2:
        return v2
    return v1 + (t - t1) / (t2 - t1) * (v2 - v1)


@pytest.mark.parametrize("train_steps,start", [(10, 0), (10, 3), (50000, 0), (7, 6)])
def test_linear_is_chainers_linear_shift_and_optaxs_linear_schedule(train_steps, start):
    with gin.unlock_config():
        gin.bind_parameter("lr_linear.start", start)
    try:
        factor = schedules.factor_fn("linear", train_steps)
    finally:
        gin.clear_config()
    steps = sorted({0, 1, start, start + 1, train_steps // 2, train_steps - 1, train_steps, train_steps + 5})
    got = np.array([float(factor(s)) for s in steps])
    chainer = np.array([_linear_shift(s, (1.0, 0.0), (start, train_steps)) for s in steps])
    optax_rule = np.array([float(optax.linear_schedule(1.0, 0.0, train_steps - start, start)(s)) for s in steps])
    np.testing.assert_allclose(got, chainer, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got, optax_rule, rtol=1e-6, atol=1e-7)


def test_constant_leaves_the_optimizers_alone():
    assert schedules.factor_fn("constant", 100) is None
    cfg = TrialConfig(dataset="ring8", architecture="mlp", z_dim=4, batch_size=B)
    assert build_model(cfg, POINTS, conv=conv_impl("xla")).lr_factor is None


def _self_scheduled_adam(lr, train_steps, start, updates_per_step, b1, b2):
    """Adam whose rate optax schedules from its own update count: `updates_per_step` updates per G step."""
    by_g_step = optax.linear_schedule(lr, 0.0, train_steps - start, start)
    return optax.inject_hyperparams(optax.adam)(
        learning_rate=lambda count: by_g_step(count // updates_per_step), b1=b1, b2=b2)


@pytest.mark.parametrize("n_disc,order", [(1, "alternating"), (2, "alternating"), (1, "simultaneous")])
def test_scheduled_steps_match_optimizers_that_schedule_themselves(n_disc, order):
    """Six steps of a ring MLP GAN on 'linear' (start 2 of 6, so the rate is flat, then falls to 1/4): every
    parameter as with Adam optimizers whose rate optax computes from their own update count (D: n_disc
    updates per G step, each step's at that step's rate, as SNGAN's LinearShift moves both per iteration)."""
    train_steps, start = 6, 2
    cfg = TrialConfig(dataset="ring8", architecture="mlp", g_norm="none", z_dim=4, batch_size=B, n_disc=n_disc,
                      train_steps=train_steps, lr_schedule="linear", g_lr=1e-3, d_lr=3e-3, beta1=0.5, beta2=0.9)
    with gin.unlock_config():
        gin.bind_parameter("lr_linear.start", start)
    try:
        model = dataclasses.replace(build_model(cfg, POINTS, conv=conv_impl("xla")), update_order=order)
    finally:
        gin.clear_config()
    oracle = dataclasses.replace(
        model, lr_factor=None,
        g_tx=_self_scheduled_adam(cfg.g_lr, train_steps, start, 1, cfg.beta1, cfg.beta2),
        d_tx=_self_scheduled_adam(cfg.d_lr, train_steps, start, n_disc, cfg.beta1, cfg.beta2))
    unscheduled = dataclasses.replace(model, lr_factor=None)
    real = jax.random.normal(jax.random.PRNGKey(3), (train_steps, n_disc, B, 2))
    finals = []
    with jax.default_matmul_precision("float32"):
        for m in (model, oracle, unscheduled):
            state = init_state(m, 0, hparams_of(cfg))
            step = jax.jit(lambda s, r, m=m: train_step(m, s, r))
            for i in range(train_steps):
                state, _ = step(state, real[i])
            finals.append(state)
    got, want, constant = ({"g": s.g.params, "d": s.d.params, "ema": s.ema_params} for s in finals)
    for x, y in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-7)
    moved = [np.max(np.abs(np.asarray(x) - np.asarray(y)))
             for x, y in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(constant))]
    assert max(moved) > 1e-4  # the schedule changed the run: the check above can tell


@pytest.mark.parametrize("binding,message", [
    ("trial.lr_schedule = 'cosine'", "trial.lr_schedule: unknown learning-rate schedule 'cosine'; known "
                                     "learning-rate schedules: constant, linear"),
    ("trial.lr_schedule = 'linaer'", "did you mean 'linear'"),
    ("lr_linear.start = 100", r"lr_linear.start = 100: expected a whole number of generator updates in \[0, "
                              r"trial.train_steps = 100\)"),
    ("lr_linear.start = -1", r"lr_linear.start = -1"),
    ("lr_linear.start = 2.5", r"lr_linear.start = 2.5"),
])
def test_bad_schedule_keys_are_refused_before_anything_is_built(binding, message):
    bindings = ["trial.train_steps = 100", "trial.lr_schedule = 'linear'", binding]
    with pytest.raises(ValueError, match=message):
        parse_config([], bindings)


def _sweep_file(tmp_path, schedule):
    path = tmp_path / "sweep.gin"
    path.write_text(textwrap.dedent(f"""
        trial.train_steps = 30
        trial.ckpt_every = 5
        trial.lr_schedule = '{schedule}'
        sweep.grid = {{'trial.loss': ['non_saturating', 'hinge']}}
        sweep.seeds = 1
    """))
    return str(path)


def test_a_sweep_on_a_length_schedule_is_not_continued(tmp_path):
    """Continuing would train steps 30.. at the 50-step schedule after steps 0..29 at the 30-step one: refused,
    naming the trials, and no trial is reopened; on 'constant' the same sweep continues."""
    results = str(tmp_path / "results")
    sweep_main(_sweep_file(tmp_path, "linear"), results, trial_fn="test_sweep_run:fake_trial",
               print_fn=lambda *_: None)
    before = {t: open(os.path.join(results, t, "status.json")).read() for t in store.trial_ids(results)}
    with pytest.raises(ValueError, match=r"--continue_to 50: cannot continue 2 trial\(s\): trial \w{12}: "
                                         r"trial.lr_schedule = 'linear' depends on trial.train_steps"):
        sweep_main(_sweep_file(tmp_path, "linear"), results, trial_fn="test_sweep_run:fake_trial",
                   continue_to=50, print_fn=lambda *_: None)
    assert {t: open(os.path.join(results, t, "status.json")).read() for t in before} == before

    other = str(tmp_path / "constant")
    sweep_main(_sweep_file(tmp_path, "constant"), other, trial_fn="test_sweep_run:fake_trial",
               print_fn=lambda *_: None)
    sweep_main(_sweep_file(tmp_path, "constant"), other, trial_fn="test_sweep_run:fake_trial", continue_to=50,
               print_fn=lambda *_: None)
    assert all(json.load(open(os.path.join(other, t, "status.json")))["step"] == 50 for t in store.trial_ids(other))


def test_a_trial_on_a_length_schedule_is_not_continued(tmp_path):
    workdir = str(tmp_path / "trial")
    os.makedirs(workdir)
    write_status(workdir, "done", 20)
    bindings = ["trial.train_steps = 20", "trial.lr_schedule = 'linear'"]
    with pytest.raises(ValueError, match=r"--continue_to 40: trial .* has run: trial.lr_schedule = 'linear'"):
        run_trial(workdir, [], bindings, continue_to=40)
    assert json.load(open(os.path.join(workdir, "status.json")))["state"] == "done"  # not reopened


def test_a_population_scales_each_members_own_rates():
    """Two members with their own rates in one vmapped step, on 'linear' over 4 steps: each equals its solo run
    with optimizers that schedule themselves (optax), as in the test above."""
    train_steps, rates = 4, [(1e-3, 3e-3), (4e-4, 1e-3)]
    cfgs = [TrialConfig(dataset="ring8", architecture="mlp", g_norm="none", z_dim=4, batch_size=B, seed=i,
                        train_steps=train_steps, lr_schedule="linear", g_lr=g, d_lr=d, beta1=0.5, beta2=0.9)
            for i, (g, d) in enumerate(rates)]
    model = build_model(cfgs[0], POINTS, conv=conv_impl("xla"))  # the population's, from member 0 as run_population
    real = jax.random.normal(jax.random.PRNGKey(5), (train_steps, len(cfgs), 1, B, 2))
    hparams = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *[hparams_of(c) for c in cfgs])
    with jax.default_matmul_precision("float32"):
        pop = jax.jit(jax.vmap(lambda s, h: init_state(model, s, h)))(jnp.arange(len(cfgs)), hparams)
        step = jax.jit(jax.vmap(lambda s, r: train_step(model, s, r)))
        for i in range(train_steps):
            pop, _ = step(pop, real[i])
        for k, cfg in enumerate(cfgs):
            oracle = dataclasses.replace(
                model, lr_factor=None, g_tx=_self_scheduled_adam(cfg.g_lr, train_steps, 0, 1, 0.5, 0.9),
                d_tx=_self_scheduled_adam(cfg.d_lr, train_steps, 0, 1, 0.5, 0.9))
            solo = init_state(oracle, cfg.seed, hparams_of(cfg))
            solo_step = jax.jit(lambda s, r: train_step(oracle, s, r))
            for i in range(train_steps):
                solo, _ = solo_step(solo, real[i, k])
            member = jax.tree_util.tree_map(lambda x, k=k: x[k], (pop.g.params, pop.d.params))
            alone = (solo.g.params, solo.d.params)
            for x, y in zip(jax.tree_util.tree_leaves(member), jax.tree_util.tree_leaves(alone)):
                np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)
