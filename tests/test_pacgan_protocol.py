"""PacGAN's protocol pieces (Lin et al. 2018): maxout D, per-network activation and initialization, G without
hidden biases, batch-norm constants, standing statistics, simultaneous updates and per-slot batch norm, each
against a NumPy computation by hand."""
import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_bench import nets

KEY = jax.random.PRNGKey(0)
CONV = nets.conv_impl("xla")


@pytest.fixture(autouse=True)
def _clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


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
