"""Precision policies (gan_bench/precision.py) against NumPy float64 references and against the plain step."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_bench import nets, precision
from gan_bench.config import parse_config
from gan_bench.nets import layers

XLA = nets.conv_impl("xla")


def _bf16(x):
    """x rounded to bfloat16 and back, as float64: what a bf16 contraction sees of its operands."""
    return np.asarray(jnp.asarray(x, jnp.float32).astype(jnp.bfloat16).astype(jnp.float32), np.float64)


def _conv_same_numpy(x, kernel):
    """Stride-1 SAME cross-correlation, NHWC x HWIO, in float64 loops over the kernel taps."""
    k = kernel.shape[0]
    lo = (k - 1) // 2
    padded = np.pad(x, ((0, 0), (lo, k - 1 - lo), (lo, k - 1 - lo), (0, 0)))
    h, w = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for i in range(k):
        for j in range(k):
            out += padded[:, i:i + h, j:j + w, :] @ kernel[i, j]
    return out


def test_config_key_is_validated():
    assert parse_config((), []).precision == "float32"
    assert parse_config((), ["trial.precision = 'bf16'"]).precision == "bf16"
    with pytest.raises(ValueError, match="trial.precision = 'fp16' is not one of float32, tf32, bf16"):
        parse_config((), ["trial.precision = 'fp16'"])
    with pytest.raises(ValueError, match="precision policy 'half'"):
        precision.with_precision("half", lambda x: x)


def test_policies_set_the_lowered_matmul_precision():
    x = jnp.ones((4, 4))
    expect = {"float32": "HIGHEST", "tf32": "HIGH", "bf16": "DEFAULT"}  # stablehlo's names of jax's precisions
    for policy, name in expect.items():
        text = jax.jit(precision.with_precision(policy, lambda a: a @ a)).lower(x).as_text()
        assert f"precision = [{name}, {name}]" in text, (policy, text)
    assert precision.compute_dtype("bf16") == jnp.bfloat16 and precision.compute_dtype("tf32") == jnp.float32


def _step_fn():
    """A jitted-able train step of a small D (conv + spectral-norm dense): grads, Adam update, new state."""
    class Net(nets.layers.nn.Module):
        @nets.layers.nn.compact
        def __call__(self, x, train=True):
            h = layers.Conv(features=8, kernel_size=3, conv=XLA)(x)
            h = jax.nn.leaky_relu(h, 0.2).reshape(x.shape[0], -1)
            return layers.Dense(features=1, weight_norm="spectral")(h, train=train)

    net = Net()
    x = jax.random.normal(jax.random.PRNGKey(1), (16, 8, 8, 3))
    variables = net.init(jax.random.PRNGKey(0), x, train=False)
    tx = optax.adam(1e-2)

    def step(state, x):
        params, spectral, opt = state

        def loss(p):
            y, new = net.apply({"params": p, "spectral": spectral}, x, train=True, mutable=["spectral"])
            return jnp.mean(jax.nn.softplus(-y)), new["spectral"]
        (value, new_spectral), grads = jax.value_and_grad(loss, has_aux=True)(params)
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), new_spectral, opt), value

    state = (variables["params"], variables["spectral"], tx.init(variables["params"]))
    return step, state, x


def test_float32_policy_gives_the_plain_step_bit_for_bit():
    step, state, x = _step_fn()
    plain, pinned = jax.jit(step), jax.jit(precision.with_precision("float32", step))
    a, b = state, state
    for _ in range(3):
        (a, la), (b, lb) = plain(a, x), pinned(b, x)
        assert float(la) == float(lb)
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def test_bf16_dense_and_conv_compute_in_bf16_with_float32_parameters():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 64)).astype(np.float32)
    dense = layers.Dense(features=16, kernel_init=jax.nn.initializers.normal(1.0))
    params = dense.init(jax.random.PRNGKey(0), x)
    kernel, bias = np.asarray(params["params"]["kernel"]), np.asarray(params["params"]["bias"])
    y = np.asarray(jax.jit(precision.with_precision("bf16", dense.apply))(params, x))
    assert y.dtype == np.float32
    exact = x.astype(np.float64) @ kernel + bias
    scale = np.max(np.abs(exact))
    np.testing.assert_allclose(y, exact, atol=2e-2 * scale)  # within bf16's 8-bit mantissa
    # bf16 operands, float32 accumulation: equal to the float64 product of the rounded operands ...
    np.testing.assert_allclose(y, _bf16(x) @ _bf16(kernel) + bias, rtol=1e-5, atol=1e-5 * scale)
    # ... and not to the float32 product (the policy did round the operands)
    assert np.max(np.abs(y - exact)) > 1e-4 * scale

    xi = rng.normal(size=(4, 8, 8, 5)).astype(np.float32)
    conv = layers.Conv(features=6, kernel_size=3, conv=XLA, kernel_init=jax.nn.initializers.normal(1.0))
    cparams = conv.init(jax.random.PRNGKey(1), xi)
    ck = np.asarray(cparams["params"]["kernel"])
    yc = np.asarray(jax.jit(precision.with_precision("bf16", conv.apply))(cparams, xi))
    exact = _conv_same_numpy(xi.astype(np.float64), ck)
    scale = np.max(np.abs(exact))
    np.testing.assert_allclose(yc, exact, atol=2e-2 * scale)
    if jax.default_backend() == "cpu":
        # The CPU path is defined to the bit: bf16 operands, float32 accumulation. GPU libraries may keep
        # bf16 intermediates in a convolution (measured on an H200: 4.6e-3 of the scale), so there only
        # the bf16 bound above holds.
        np.testing.assert_allclose(yc, _conv_same_numpy(_bf16(xi), _bf16(ck)), rtol=1e-5, atol=1e-5 * scale)
    assert np.max(np.abs(yc - exact)) > 1e-4 * scale


def test_bf16_step_keeps_parameters_optimizer_state_and_loss_float32():
    step, state, x = _step_fn()
    (new_state, value) = jax.jit(precision.with_precision("bf16", step))(state, x)
    assert value.dtype == jnp.float32
    assert all(leaf.dtype in (jnp.float32, jnp.int32) for leaf in jax.tree_util.tree_leaves(new_state))
    ref_state, ref_value = jax.jit(step)(state, x)
    np.testing.assert_allclose(float(value), float(ref_value), rtol=2e-2)  # the same step, to bf16 rounding
    # The program handed to XLA computes its convolution on bf16 operands (the plain step has none) ...
    lowered = jax.jit(precision.with_precision("bf16", step)).lower(state, x).as_text()
    assert "bf16" in lowered and "bf16" not in jax.jit(step).lower(state, x).as_text()
    if jax.default_backend() == "cpu":
        # ... and on the CPU that rounding shows in the loss. A GPU compiler may drop a float32 -> bf16 ->
        # float32 round trip where it runs the op in float32 (XLA's excess-precision rule; on an H200 this
        # 3-channel conv gave the float32 loss to the bit), so there the lowered program is the check.
        assert float(value) != float(ref_value)


def test_bf16_leaves_the_spectral_norm_power_iteration_in_float32():
    rng = np.random.default_rng(2)
    matrix = rng.normal(size=(48, 24)).astype(np.float32)
    u = rng.normal(size=(48,)).astype(np.float32)
    sigma, u_new = jax.jit(precision.with_precision("bf16", layers.spectral_sigma))(matrix, u)
    m = matrix.astype(np.float64)
    v = m.T @ u / np.linalg.norm(m.T @ u)
    want_u = m @ v / np.linalg.norm(m @ v)
    np.testing.assert_allclose(np.asarray(u_new), want_u, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(sigma), want_u @ m @ v, rtol=1e-5)


def _engine_step_pair(policy):
    """(engine step's (state, logs), plain jitted train_step's (state, logs)) from the same state and batch."""
    import functools  # pylint: disable=import-outside-toplevel
    from gan_bench.gan.state import hparams_of  # pylint: disable=import-outside-toplevel
    from gan_bench.gan.train_step import train_step  # pylint: disable=import-outside-toplevel
    from gan_bench.train.engine import Engine  # pylint: disable=import-outside-toplevel
    cfg = parse_config((), ["trial.dataset = 'ring8'", "trial.architecture = 'mlp'", "trial.batch_size = 16",
                            "trial.g_norm = 'none'", "trial.d_norm = 'spectral'", f"trial.precision = '{policy}'"])
    engine = Engine(cfg, 1, False)
    host = jax.device_get(engine.init(cfg.seed, hparams_of(cfg)))
    batch = engine.load([cfg], 0)
    plain = jax.jit(functools.partial(train_step, engine.model))
    return engine.step(jax.device_put(host), batch), plain(jax.device_put(host), batch)


def test_engine_float32_step_equals_the_plain_step_and_bf16_stays_float32():
    (state, logs), (ref_state, ref_logs) = _engine_step_pair("float32")
    for a, b in zip(jax.tree_util.tree_leaves((state, logs)), jax.tree_util.tree_leaves((ref_state, ref_logs))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    (state, logs), (_, ref_logs) = _engine_step_pair("bf16")
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(state) if jnp.issubdtype(leaf.dtype, jnp.floating)} == {
        jnp.dtype(jnp.float32)}
    for k in ("d_loss", "g_loss"):
        np.testing.assert_allclose(float(logs[k]), float(ref_logs[k]), rtol=2e-2)
