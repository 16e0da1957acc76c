"""One train step against hand-rolled updates, in the style of compare_gan's modular_gan_test: tiny shapes,
parameterized over the choices that change the step (n_disc, optimizer, EMA decay, clip value, norms).

Oracles: a loop of plain optax updates written here; the EMA and clipping formulas in numpy; the state
before the step (non-finite masking); each member's solo step (population).
"""
import re
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_bench.config import TrialConfig
from gan_bench.gan.losses import LOSSES
from gan_bench.gan.penalties import PENALTIES, d_regularizer
from gan_bench.gan.state import hparams_of, init_state, make_optimizers
from gan_bench.gan.train_step import GANModel, train_step
from gan_bench.nets.conv_impl import conv_impl
from gan_bench.train.engine import build_model

B = 8  # batch
POINTS = types.SimpleNamespace(shape=(2,))  # build_model reads only the per-example shape of the data


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def _assert_trees_close(a, b, rtol=1e-5, atol=1e-7, skip=None, masks=None):
    """Leaves of `a` and `b` close; `skip(path)` names leaves left out (path as jax.tree_util.keystr), `masks`
    {path: boolean array} elements left out of a leaf."""
    la, lb = jax.tree_util.tree_leaves_with_path(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for (path, x), y in zip(la, lb):
        key = jax.tree_util.keystr(path)
        if skip is None or not skip(key):
            keep = ~(masks or {}).get(key, np.zeros(np.shape(x), bool))
            np.testing.assert_allclose(np.asarray(x)[keep], np.asarray(y)[keep], rtol=rtol, atol=atol, err_msg=key)


def _rounding_noise_gradients(state, relative=1e-4):
    """{param path: elements whose first-step gradient is rounding noise} of a state after one update.

    A first Adam or RMSProp step moves each weight by about lr * g / |g|: an element whose gradient is zero up to
    rounding (a unit whose downstream weights barely matter) moves by about a learning rate in a direction set
    by that rounding, which differs between a vmapped and a solo computation. Read from the optimizer's second
    moment (nu = (1 - beta2) g^2 after one step); the same elements of G's EMA weights are left out too.
    """
    masks = {}
    for path, nu in jax.tree_util.tree_leaves_with_path(state):
        match = re.match(r"^\.(g|d)\.opt_state\..*\.nu(\[.*)$", jax.tree_util.keystr(path))
        if match:
            grad = np.sqrt(np.asarray(nu))
            noise = grad <= relative * grad.max()
            masks[f".{match.group(1)}.params{match.group(2)}"] = noise
            if match.group(1) == "g":
                masks[f".ema_params{match.group(2)}"] = noise
    return masks


def _real(key, n_steps, n_disc):
    return jax.random.normal(jax.random.PRNGKey(key), (n_steps, n_disc, B, 2))


def _ring_model(**fields):
    """The mlp nets on 2-D points, configured by TrialConfig fields; returns (cfg, model)."""
    cfg = TrialConfig(**{"dataset": "ring8", "architecture": "mlp", "g_norm": "none", "z_dim": 4,
                         "batch_size": B, **fields})
    return cfg, build_model(cfg, POINTS, conv=conv_impl("xla"))  # MLPs: no convolution to choose


# --- n_disc: D takes exactly n_disc updates per G update, each on its own real batch -----------------------

class PointsG(nn.Module):
    """A generator whose B samples are its parameters: it ignores z, so the test's loop needs no z draws."""

    @nn.compact
    def __call__(self, z, train):
        points = self.param("points", nn.initializers.normal(1.0), (B, 2))
        return points + 0.0 * z[:, :1]


class TinyD(nn.Module):
    @nn.compact
    def __call__(self, x, train):
        return nn.Dense(1)(jnp.tanh(nn.Dense(4)(x)))[:, 0]


def _softplus(x):
    return jnp.logaddexp(0.0, x)


def _hand_rolled(g_params, d_params, real, g_tx, d_tx, reuse_first_batch=False):
    """Non-saturating GAN by hand: per G step, n_disc optax updates of D (batch i), then one of G (last batch)."""
    g, d = PointsG(), TinyD()
    g_opt, d_opt = g_tx.init(g_params), d_tx.init(d_params)
    zeros = jnp.zeros((B, 1))
    for step_batches in real:
        for i in range(step_batches.shape[0]):
            batch = step_batches[0 if reuse_first_batch else i]
            fake = g.apply({"params": g_params}, zeros, False)

            def d_loss(p):
                logits = d.apply({"params": p}, jnp.concatenate([batch, fake]), True)
                return jnp.mean(_softplus(-logits[:B])) + jnp.mean(_softplus(logits[B:]))

            updates, d_opt = d_tx.update(jax.grad(d_loss)(d_params), d_opt, d_params)
            d_params = optax.apply_updates(d_params, updates)

        def g_loss(p):
            fake = g.apply({"params": p}, zeros, False)
            logits = d.apply({"params": d_params}, jnp.concatenate([step_batches[-1], fake]), True)
            return jnp.mean(_softplus(-logits[B:]))

        updates, g_opt = g_tx.update(jax.grad(g_loss)(g_params), g_opt, g_params)
        g_params = optax.apply_updates(g_params, updates)
    return g_params, d_params


@pytest.mark.parametrize("n_disc", [1, 2, 3])
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_n_disc_updates_of_d_per_g_update_match_a_hand_rolled_loop(n_disc, optimizer):
    cfg = TrialConfig(optimizer=optimizer, n_disc=n_disc, g_lr=3e-3, d_lr=1e-2, beta1=0.3, beta2=0.95)
    g_tx, d_tx = make_optimizers(cfg)
    model = GANModel(generator=PointsG(), discriminator=TinyD(), loss_fn=LOSSES.get("non_saturating"),
                     penalty_fn=None, d_projection=None, z_dim=1, z_dist="normal", n_disc=n_disc, pack=1,
                     data_shape=(2,), g_tx=g_tx, d_tx=d_tx, init_batch=B)
    state = init_state(model, 3, hparams_of(cfg))
    real = _real(0, 2, n_disc)  # two generator steps
    step = jax.jit(lambda s, r: train_step(model, s, r))
    after = state
    for r in real:
        after, _ = step(after, r)

    def plain(lr):  # the optimizer written out with optax's own constructors and constant hyperparameters
        return optax.adam(lr, b1=0.3, b2=0.95) if optimizer == "adam" else optax.rmsprop(lr)

    g_want, d_want = _hand_rolled(state.g.params, state.d.params, real, plain(3e-3), plain(1e-2))
    _assert_trees_close(after.d.params, d_want)
    _assert_trees_close(after.g.params, g_want)
    assert int(after.d.opt_state.count) == 2 * n_disc and int(after.g.opt_state.count) == 2
    if n_disc > 1:  # the comparison can tell: D on the first batch n_disc times ends elsewhere
        _, d_reused = _hand_rolled(state.g.params, state.d.params, real, plain(3e-3), plain(1e-2),
                                   reuse_first_batch=True)
        assert max(np.max(np.abs(x - y)) for x, y in zip(_leaves(after.d.params), _leaves(d_reused))) > 1e-4


# --- the optimizers live in the state ------------------------------------------------------------------------

def test_state_owns_its_optimizers_and_their_hyperparameters():
    model = _ring_model(g_lr=1e-3, d_lr=4e-4, beta1=0.25, beta2=0.9)[1]
    member = _ring_model(g_lr=2e-3, d_lr=5e-4, beta1=0.0, beta2=0.99)[0]
    state = init_state(model, 0, hparams_of(member))
    assert state.g.tx is model.g_tx and state.d.tx is model.d_tx
    # The member's values, not those the optimizers were built with, are what every update reads.
    np.testing.assert_allclose([float(state.g.opt_state.hyperparams[k]) for k in ("learning_rate", "b1", "b2")],
                               [2e-3, 0.0, 0.99], rtol=1e-6)
    np.testing.assert_allclose(float(state.d.opt_state.hyperparams["learning_rate"]), 5e-4, rtol=1e-6)


# --- EMA of G -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("decay", [0.0, 0.5, 0.999])
def test_ema_of_generator_follows_its_formula(decay):
    cfg, model = _ring_model(ema_decay=decay, g_lr=1e-2)
    state = init_state(model, 1, hparams_of(cfg))
    step = jax.jit(lambda s, r: train_step(model, s, r))
    ema = _leaves(state.g.params)
    for r in _real(1, 3, 1):
        state, _ = step(state, r)
        # ema_t = decay * ema_{t-1} + (1 - decay) * g_t, from ema_0 = g_0
        ema = [np.float32(decay) * e + np.float32(1.0 - decay) * p for e, p in zip(ema, _leaves(state.g.params))]
        for got, want in zip(_leaves(state.ema_params), ema):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    if decay > 0:  # the EMA lags G
        assert any(not np.allclose(e, p) for e, p in zip(_leaves(state.ema_params), _leaves(state.g.params)))


# --- weight clipping: a projection of D's parameters after D's update ----------------------------------------

def test_weight_clipping_is_a_projection_not_a_loss_term():
    assert d_regularizer("weight_clipping")[0] is None and d_regularizer("weight_clipping")[1] is not None
    assert d_regularizer("wgan_gp") == (PENALTIES.get("wgan_gp"), None)
    model = _ring_model(penalty="weight_clipping")[1]
    assert model.penalty_fn is None and model.d_projection is not None
    assert _ring_model(penalty="none")[1].d_projection is None


@pytest.mark.parametrize("d_norm, clip_value", [("none", 0.01), ("layer", 0.05),
                                                pytest.param("none", 0.05, marks=pytest.mark.slow),
                                                pytest.param("layer", 0.01, marks=pytest.mark.slow)])
def test_clipped_d_equals_np_clip_of_the_unclipped_update(clip_value, d_norm):
    fields = dict(loss="wasserstein", clip_value=clip_value, d_norm=d_norm, d_lr=5e-3)
    cfg, clipped = _ring_model(penalty="weight_clipping", **fields)
    unclipped = _ring_model(penalty="none", **fields)[1]  # no projection; its zero term changes no gradient
    state = init_state(clipped, 2, hparams_of(cfg))
    assert any(np.max(np.abs(w)) > clip_value for w in _leaves(state.d.params))  # the projection has work to do
    real = _real(2, 1, 1)[0]
    got, logs = jax.jit(lambda s, r: train_step(clipped, s, r))(state, real)
    free, _ = jax.jit(lambda s, r: train_step(unclipped, s, r))(state, real)
    for w, v in zip(_leaves(got.d.params), _leaves(free.d.params)):
        assert np.all(np.abs(w) <= np.float32(clip_value))
        np.testing.assert_allclose(w, np.clip(v, -np.float32(clip_value), np.float32(clip_value)),
                                   rtol=1e-5, atol=1e-9)
    # Moments of the raw update. Two compiled programs: the same gradient may round apart in the last bits
    # (3.8e-6 relative under XLA CPU's older fusion emitters).
    _assert_trees_close(got.d.opt_state, free.d.opt_state, rtol=1e-5, atol=1e-12)
    assert float(logs["penalty"]) == 0.0


# --- non-finite steps ---------------------------------------------------------------------------------------

def test_a_nan_step_leaves_the_state_unchanged_and_is_recorded():
    cfg, model = _ring_model(g_norm="batch", d_norm="spectral", ema_decay=0.9, n_disc=2)
    step = jax.jit(lambda s, r: train_step(model, s, r))
    real = _real(3, 3, 2)
    state, _ = step(init_state(model, 4, hparams_of(cfg)), real[0])
    poisoned = real[1].at[1, 0, 0].set(jnp.nan)
    masked, logs = step(state, poisoned)
    assert not np.isfinite(float(logs["d_loss"]))
    assert int(masked.step) == 2 and int(masked.nonfinite_step) == 1
    for x, y in zip(_leaves(masked.replace(step=state.step, nonfinite_step=state.nonfinite_step)), _leaves(state)):
        np.testing.assert_array_equal(x, y)
    later, _ = step(masked, real[2])  # the first bad step stays on record
    assert int(later.nonfinite_step) == 1 and int(later.step) == 3


# --- population: vmapped members equal their solo steps --------------------------------------------------------

def _biases_before_batch_norm(cfg):
    """Paths of the mlp's hidden biases that a batch norm follows (in params, optimizer moments and EMA).

    Batch norm subtracts the batch mean, so these biases get a zero gradient up to rounding; Adam and RMSProp
    divide that noise by its own size and move them by up to a few learning rates, in directions that differ
    between a vmapped and a solo computation. They say nothing about the step, so they are left out.
    """
    nets = ("g", "ema_params") * (cfg.g_norm == "batch") + ("d",) * (cfg.d_norm == "batch")
    pattern = re.compile(r"^\.(%s)\b.*\['fc\d+'\]\['bias'\]$" % "|".join(nets)) if nets else None
    return (lambda path: bool(pattern.match(path))) if pattern else None


MEMBERS = [dict(seed=0),
           dict(seed=1, g_lr=1e-3, d_lr=5e-4, beta1=0.0, beta2=0.9, ema_decay=0.5),
           dict(seed=2, penalty_weight=1.0, clip_value=0.02, beta1=0.9, ema_decay=0.99)]


@pytest.mark.parametrize("shared", [  # the first by default, the others with `pytest -m slow` (~15 s each)
    dict(penalty="wgan_gp", n_disc=2, g_norm="batch"),
    pytest.param(dict(penalty="weight_clipping", loss="wasserstein", d_norm="spectral"), marks=pytest.mark.slow),
    pytest.param(dict(penalty="r1", d_norm="batch", optimizer="rmsprop"), marks=pytest.mark.slow),
])
def test_population_members_equal_their_solo_steps(shared):
    cfgs, models = zip(*(_ring_model(**shared, **m) for m in MEMBERS))
    n_disc = cfgs[0].n_disc
    real = jnp.stack([_real(10 + i, 1, n_disc)[0] for i in range(len(MEMBERS))])
    hparams = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *[hparams_of(c) for c in cfgs])
    seeds = jnp.asarray([c.seed for c in cfgs], jnp.int32)
    # The population is built from member 0's config, as run_population does.
    pop = jax.jit(jax.vmap(lambda s, h: init_state(models[0], s, h)))(seeds, hparams)
    pop, pop_logs = jax.jit(jax.vmap(lambda s, r: train_step(models[0], s, r)))(pop, real)
    for i, (cfg, model) in enumerate(zip(cfgs, models)):
        solo = init_state(model, cfg.seed, hparams_of(cfg))
        solo, solo_logs = jax.jit(lambda s, r, m=model: train_step(m, s, r))(solo, real[i])
        member = jax.tree_util.tree_map(lambda x, i=i: x[i], pop)
        _assert_trees_close(member, solo, rtol=1e-5, atol=1e-6, skip=_biases_before_batch_norm(cfg),
                            masks=_rounding_noise_gradients(solo))
        for k in solo_logs:
            np.testing.assert_allclose(float(pop_logs[k][i]), float(solo_logs[k]), rtol=1e-5, atol=1e-6)
