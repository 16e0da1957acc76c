"""PacGAN's protocol pieces (Lin et al. 2018): maxout D, per-network activation and initialization, G without
hidden biases, batch-norm constants, standing statistics, simultaneous updates and per-slot batch norm, each
against a NumPy computation by hand."""
import gin
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen as nn

from gan_bench import nets
from gan_bench.config import TrialConfig
from gan_bench.gan.losses import LOSSES
from gan_bench.gan.state import hparams_of, init_state, make_optimizers
from gan_bench.gan.train_step import GANModel, train_step

KEY = jax.random.PRNGKey(0)
CONV = nets.conv_impl("xla")


def _mlp(bindings, g_norm="none", z_dim=3, data_shape=(2,)):
    for key, value in bindings.items():
        gin.bind_parameter(f"mlp.{key}", value)
    return nets.build("mlp", data_shape=data_shape, z_dim=z_dim, d_norm="none", g_norm=g_norm, conv=CONV)


def _np(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def test_maxout_discriminator_matches_numpy():
    """Hidden unit u = max over pieces p of column u * pieces + p of x W + b; no activation after it."""
    _, d = _mlp({"d_width": 3, "d_depth": 2, "d_layer": "maxout", "maxout_pieces": 4, "d_activation": "tanh"})
    x = np.random.RandomState(0).randn(5, 2).astype(np.float32)
    variables = d.init(KEY, jnp.asarray(x), train=False)
    p = _np(variables["params"])
    for name in ("fc1", "fc2"):  # random biases, so a bias bug cannot hide behind the zero init
        p[name]["linear"]["bias"] = np.random.RandomState(1).randn(12).astype(np.float32)
    h = x
    for name in ("fc1", "fc2"):
        z = h @ p[name]["linear"]["kernel"] + p[name]["linear"]["bias"]
        h = np.stack([z[:, [u * 4 + q for q in range(4)]].max(axis=1) for u in range(3)], axis=1)
    expected = (h @ p["out"]["kernel"] + p["out"]["bias"])[:, 0]
    got = d.apply({"params": p}, jnp.asarray(x), train=False)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)
    assert p["fc1"]["linear"]["kernel"].shape == (2, 12)


def test_per_network_activation_initialization_and_hidden_bias():
    g, d = _mlp({"g_width": 64, "d_width": 64, "g_depth": 1, "d_depth": 1, "activation": "tanh",
                 "g_activation": "relu", "g_init": "normal_0.02", "g_hidden_bias": False})
    z = np.random.RandomState(2).randn(4, 64).astype(np.float32)
    gv = _np(g.init(KEY, jnp.asarray(z[:, :3]), train=False)["params"])
    assert "bias" not in gv["fc1"] and "bias" in gv["out"]
    # N(0, 0.02): the 192 entries of fc1 and the 128 of out; std within 25 % of 0.02 (chi-square bound).
    kernel = np.concatenate([gv["fc1"]["kernel"].ravel(), gv["out"]["kernel"].ravel()])
    assert 0.015 < kernel.std() < 0.025
    x = np.random.RandomState(3).randn(4, 2).astype(np.float32)
    dv = _np(d.init(KEY, jnp.asarray(x), train=False)["params"])
    limit = np.sqrt(6.0 / (2 + 64))  # Glorot uniform bound of D's first layer (still the default for D)
    assert np.abs(dv["fc1"]["kernel"]).max() <= limit and np.abs(dv["fc1"]["kernel"]).max() > 0.8 * limit
    g_expected = np.maximum(z[:, :3] @ gv["fc1"]["kernel"], 0) @ gv["out"]["kernel"] + gv["out"]["bias"]
    np.testing.assert_allclose(np.asarray(g.apply({"params": gv}, jnp.asarray(z[:, :3]), train=False)), g_expected,
                               rtol=1e-5, atol=1e-6)
    d_expected = (np.tanh(x @ dv["fc1"]["kernel"] + dv["fc1"]["bias"]) @ dv["out"]["kernel"] + dv["out"]["bias"])[:, 0]
    np.testing.assert_allclose(np.asarray(d.apply({"params": dv}, jnp.asarray(x), train=False)), d_expected,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("binding, match", [({"g_activation": "elu"}, "mlp.g_activation = 'elu'"),
                                            ({"d_layer": "conv"}, "mlp.d_layer = 'conv'"),
                                            ({"g_init": "normal"}, "mlp.g_init = 'normal'"),
                                            ({"d_init": "normal_-1"}, "mlp.d_init"),
                                            ({"maxout_pieces": 0}, "mlp.maxout_pieces"),
                                            ({"g_hidden_bias": "no"}, "mlp.g_hidden_bias")])
def test_bad_mlp_keys_name_the_key(binding, match):
    with pytest.raises(ValueError, match=match):
        _mlp(binding)


def test_batch_norm_decay_and_epsilon_from_gin():
    """Running mean after one training pass from (0, 1): (1 - decay) * batch mean; output uses epsilon."""
    gin.bind_parameter("batch_norm.decay", 0.95)
    gin.bind_parameter("batch_norm.epsilon", 1e-4)
    g, _ = _mlp({"g_width": 4, "g_depth": 1, "g_hidden_bias": False}, g_norm="batch")
    z = np.random.RandomState(5).randn(6, 3).astype(np.float32)
    variables = g.init(KEY, jnp.asarray(z), train=False)
    out, updated = g.apply(variables, jnp.asarray(z), train=True, mutable=["batch_stats"])
    p = _np(variables["params"])
    h = z @ p["fc1"]["kernel"]
    mean, var = h.mean(0), h.var(0)
    stats = _np(updated["batch_stats"])["norm1"]["bn"]
    np.testing.assert_allclose(stats["mean"], 0.05 * mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(stats["var"], 0.95 + 0.05 * var, rtol=1e-5)
    hn = (h - mean) / np.sqrt(var + 1e-4)
    expected = np.tanh(hn) @ p["out"]["kernel"] + p["out"]["bias"]  # scale 1, offset 0, default tanh
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("decay", [1.0, -0.1, "0.9"])
def test_bad_batch_norm_decay_names_the_key(decay):
    gin.bind_parameter("batch_norm.decay", decay)
    g, _ = _mlp({"g_width": 4, "g_depth": 1}, g_norm="batch")
    with pytest.raises(ValueError, match="batch_norm.decay"):
        g.init(KEY, jnp.zeros((2, 3)), train=False)


# --- the train step: simultaneous updates and per-slot batch norm ---------------------------------------------

B = 8


class PointsG(nn.Module):
    """A generator whose B samples are its parameters (z ignored), so the hand-rolled step needs no z draws."""

    @nn.compact
    def __call__(self, z, train):
        return self.param("points", nn.initializers.normal(1.0), (B, 2)) + 0.0 * z[:, :1]


class TinyD(nn.Module):
    @nn.compact
    def __call__(self, x, train):
        return nn.Dense(1)(jnp.tanh(nn.Dense(4)(x)))[:, 0]


def _points_model(n_disc=1, **fields):
    cfg = TrialConfig(n_disc=n_disc, g_lr=3e-3, d_lr=1e-2, beta1=0.3, beta2=0.95)
    g_tx, d_tx = make_optimizers(cfg)
    model = GANModel(generator=PointsG(), discriminator=TinyD(), loss_fn=LOSSES.get("non_saturating"),
                     penalty_fn=None, d_projection=None, z_dim=1, z_dist="normal", n_disc=n_disc, pack=1,
                     data_shape=(2,), g_tx=g_tx, d_tx=d_tx, init_batch=B, **fields)
    return cfg, model


def _softplus(x):
    return jnp.logaddexp(0.0, x)


def test_simultaneous_step_takes_both_gradients_at_the_old_parameters():
    """Two steps against optax by hand: D's gradient and G's gradient both at (G, D) before each step."""
    cfg, model = _points_model(update_order="simultaneous")
    state = init_state(model, 3, hparams_of(cfg))
    real = jax.random.normal(jax.random.PRNGKey(1), (2, 1, B, 2))
    step = jax.jit(lambda s, r: train_step(model, s, r))
    after, metrics = step(state, real[0])
    after, _ = step(after, real[1])

    d = TinyD()

    def d_loss(p, g_params, batch):
        logits = d.apply({"params": p}, jnp.concatenate([batch, g_params["points"]]), True)
        return jnp.mean(_softplus(-logits[:B])) + jnp.mean(_softplus(logits[B:]))

    def g_loss(p, d_params):
        return jnp.mean(_softplus(-d.apply({"params": d_params}, p["points"], True)))

    g_tx, d_tx = optax.adam(3e-3, b1=0.3, b2=0.95), optax.adam(1e-2, b1=0.3, b2=0.95)
    g_params, d_params = state.g.params, state.d.params
    g_opt, d_opt = g_tx.init(g_params), d_tx.init(d_params)
    first = (float(d_loss(d_params, g_params, real[0, 0])), float(g_loss(g_params, d_params)))
    for batch in real[:, 0]:
        d_grads, g_grads = jax.grad(d_loss)(d_params, g_params, batch), jax.grad(g_loss)(g_params, d_params)
        d_updates, d_opt = d_tx.update(d_grads, d_opt, d_params)
        g_updates, g_opt = g_tx.update(g_grads, g_opt, g_params)
        d_params, g_params = optax.apply_updates(d_params, d_updates), optax.apply_updates(g_params, g_updates)
    for got, expected in ((after.d.params, d_params), (after.g.params, g_params)):
        for x, y in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expected)):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([float(metrics["d_loss"]), float(metrics["g_loss"])], first, rtol=1e-5)
    assert int(after.step) == 2
    # The alternating step's G sees the updated D, so it ends elsewhere: the comparison above can tell.
    _, alternating = _points_model()
    alt = jax.jit(lambda s, r: train_step(alternating, s, r))
    alt_after = alt(alt(state, real[0])[0], real[1])[0]
    assert np.max(np.abs(np.asarray(alt_after.g.params["points"]) - np.asarray(g_params["points"]))) > 1e-5


def test_update_order_from_gin_and_bad_values():
    gin.bind_parameter("gan_step.update_order", "simultaneous")
    assert _points_model()[1].update_order == "simultaneous"
    with pytest.raises(ValueError, match="needs trial.n_disc = 1"):
        _points_model(n_disc=2)
    gin.bind_parameter("gan_step.update_order", "together")
    with pytest.raises(ValueError, match="gan_step.update_order = 'together'"):
        _points_model()
    gin.clear_config()
    with pytest.raises(ValueError, match="gan_step.g_bn_per_pack_slot"):
        _points_model(g_bn_per_pack_slot=1)


def test_per_slot_batch_norm_normalizes_each_pack_slot_alone():
    """pack 2, 3 packed inputs: slot j's samples are G on z rows 3j..3j+2, normalized by their own moments;
    packed input i holds (slot 0's sample i, slot 1's sample i); running means move by the slots' average."""
    g, d = _mlp({"g_width": 4, "g_depth": 1, "d_width": 4, "d_depth": 1}, g_norm="batch", z_dim=3)
    cfg = TrialConfig()
    g_tx, d_tx = make_optimizers(cfg)
    model = GANModel(generator=g, discriminator=d, loss_fn=LOSSES.get("non_saturating"), penalty_fn=None,
                     d_projection=None, z_dim=3, z_dist="normal", n_disc=1, pack=2, data_shape=(2,), g_tx=g_tx,
                     d_tx=d_tx, g_bn_per_pack_slot=True)
    state = init_state(model, 0, hparams_of(cfg))
    key = jax.random.PRNGKey(7)
    fake, updated = model.generate_fakes(state.g.params, state.g.norm_collections, key, 6)
    z = np.asarray(model.sample_z(key, 6))
    p = _np(state.g.params)
    slots, means = [], []
    for j in range(2):
        h = z[3 * j:3 * j + 3] @ p["fc1"]["kernel"] + p["fc1"]["bias"]
        means.append(h.mean(0))
        hn = (h - h.mean(0)) / np.sqrt(h.var(0) + 1e-3)
        slots.append(np.tanh(hn) @ p["out"]["kernel"] + p["out"]["bias"])
    expected = np.stack(slots, axis=1).reshape(6, 2)  # sample 2i + j is slot j's i-th
    np.testing.assert_allclose(np.asarray(fake), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(updated["batch_stats"]["norm1"]["bn"]["mean"]),
                               0.001 * (means[0] + means[1]) / 2, rtol=1e-4, atol=1e-9)
    packed = np.asarray(model.pack_batch(fake))
    np.testing.assert_allclose(packed, np.concatenate(slots, axis=1), rtol=1e-4, atol=1e-6)


# --- G's batch norm at evaluation: running averages, batch statistics, standing statistics -------------------

def test_bn_evaluation_modes_match_numpy():
    from gan_bench.nets import bn_eval  # pylint: disable=import-outside-toplevel

    g, _ = _mlp({"g_width": 4, "g_depth": 1}, g_norm="batch", z_dim=3)
    rng = np.random.RandomState(11)
    z_passes = rng.randn(3, 5, 3).astype(np.float32)
    z = rng.randn(4, 3).astype(np.float32)
    variables = g.init(KEY, jnp.asarray(z), train=False)
    p = _np(variables["params"])
    collections = {"batch_stats": {"norm1": {"bn": {"mean": jnp.full((4,), 0.3), "var": jnp.full((4,), 2.0)}}}}

    def forward(zz, mean, var):
        h = zz @ p["fc1"]["kernel"] + p["fc1"]["bias"]
        return np.tanh((h - mean) / np.sqrt(var + 1e-3)) @ p["out"]["kernel"] + p["out"]["bias"]

    hs = [zz @ p["fc1"]["kernel"] + p["fc1"]["bias"] for zz in z_passes]
    standing_mean = np.mean([h.mean(0) for h in hs], axis=0)
    standing_var = np.mean([h.var(0) for h in hs], axis=0)
    standing = bn_eval.standing_batch_stats(g, variables["params"], collections["batch_stats"], z_passes)
    np.testing.assert_allclose(np.asarray(standing["norm1"]["bn"]["mean"]), standing_mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(standing["norm1"]["bn"]["var"]), standing_var, rtol=1e-4, atol=1e-6)

    h = z @ p["fc1"]["kernel"] + p["fc1"]["bias"]
    cases = {"running": forward(z, 0.3, 2.0), "batch": forward(z, h.mean(0), h.var(0)),
             "standing": forward(z, standing_mean, standing_var)}
    for mode, expected in cases.items():
        got = bn_eval.sample(g, variables["params"], collections, jnp.asarray(z), mode, standing)
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-6, err_msg=mode)
    with pytest.raises(ValueError, match="'stand'"):
        bn_eval.sample(g, variables["params"], collections, jnp.asarray(z), "stand")
