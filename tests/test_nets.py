"""Networks: layers and every convolution implementation against NumPy / lax / flax oracles, shapes of every
family, hand-derived parameter counts, and the package's import structure."""
import ast
import os

import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from gan_bench import nets
from gan_bench.nets import layers
from numpy_init import numpy_variables

KEY = jax.random.PRNGKey(0)
CPU_TUNED = nets.conv_impl("cpu_tuned")
TINY = {"mlp": ("g_width", "d_width", 8), "infogan": ("g_width", "d_width", 4), "dcgan": ("g_width", "d_width", 4),
        "sndcgan": ("g_width", "d_width", 4), "resnet_cifar": ("g_width", "d_width", 8)}
SHAPES = {"mlp": (2,), "infogan": (28, 28, 1), "dcgan": (28, 28, 1), "sndcgan": (32, 32, 3),
          "resnet_cifar": (32, 32, 3)}


def _count(variables):
    return sum(x.size for x in jax.tree_util.tree_leaves(variables["params"]))


# ---- spectral norm -------------------------------------------------------------------------------------

def test_spectral_norm_sigma_matches_svd_and_u_updates_only_in_training():
    layer = layers.Conv(features=6, kernel_size=3, weight_norm="spectral", conv=CPU_TUNED)
    x = jnp.asarray(np.random.RandomState(0).randn(2, 5, 5, 4), jnp.float32)
    variables = layer.init(KEY, x, train=False)
    kernel = np.asarray(variables["params"]["kernel"])
    u0 = variables["spectral"]["u"]
    assert u0.shape == (3 * 3 * 4,)  # left singular vector of the [k*k*C_in, C_out] matrix (compare_gan)

    same = layer.apply(variables, x, train=False, mutable=["spectral"])[1]
    np.testing.assert_array_equal(same["spectral"]["u"], u0)  # eval never writes u

    state = variables
    train_call = jax.jit(lambda v: layer.apply(v, x, train=True, mutable=["spectral"]))
    for _ in range(50):  # each training call is one power iteration that persists u
        _, new = train_call(state)
        state = {"params": variables["params"], "spectral": new["spectral"]}
    assert not np.allclose(state["spectral"]["u"], u0)
    sigma_svd = np.linalg.svd(kernel.reshape(-1, 6), compute_uv=False)[0]
    sigma, _ = layers.spectral_sigma(jnp.asarray(kernel.reshape(-1, 6)), state["spectral"]["u"])
    np.testing.assert_allclose(float(sigma), sigma_svd, rtol=1e-4)

    # The layer's output equals a plain conv with kernel / sigma_svd (oracle: lax conv with the SVD value).
    y = layer.apply(state, x, train=False)
    expect = jax.lax.conv_general_dilated(x, jnp.asarray(kernel / sigma_svd), (1, 1), "SAME",
                                          dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(np.asarray(y), np.asarray(expect), rtol=1e-3, atol=1e-5)


def test_weight_norm_columns_have_norm_g():
    layer = layers.Dense(features=3, weight_norm="weight")
    x = jnp.eye(5)
    variables = layer.init(KEY, x)
    params = dict(variables["params"], g=jnp.asarray([1.0, 2.0, 3.0]), bias=jnp.zeros(3))
    w = np.asarray(layer.apply({"params": params}, x))  # rows of x = I are the columns of the used kernel
    np.testing.assert_allclose(np.linalg.norm(w, axis=0), [1.0, 2.0, 3.0], rtol=1e-5)


# ---- convolutions, every implementation through the public switch ----------------------------------------

# (trial.conv_impl name, population): XLA's own convolutions, the CPU-tuned forms of a solo step, and those of a
# vmapped population (every convolution as im2col).
IMPLS = [("xla", False), ("cpu_tuned", False), ("cpu_tuned", True)]
IMPL_IDS = ["xla", "cpu_tuned", "cpu_tuned_population"]
DIMS = ("NHWC", "HWIO", "NHWC")


def _impl(name, population):
    return nets.conv_impl(name, population)


def _tf_conv2d_transpose(y, kernel, stride, out_hw):
    """Oracle: TF's conv2d_transpose is by definition the input-gradient of a SAME conv2d."""
    def conv(x):
        return jax.lax.conv_general_dilated(x, kernel, (stride, stride), "SAME", dimension_numbers=DIMS)
    x0 = jnp.zeros((y.shape[0],) + tuple(out_hw) + (kernel.shape[2],))
    return jax.vjp(conv, x0)[1](y)[0]


def _conv_transpose_layer(impl, kernel, stride, out_hw):
    """`layers.ConvTranspose` with the given kernel and zero bias, as a function of (y, kernel)."""
    k, _, features, _ = kernel.shape
    layer = layers.ConvTranspose(features=features, kernel_size=k, strides=stride, output_size=out_hw, conv=impl)
    return lambda y, kk: layer.apply({"params": {"kernel": kk, "bias": jnp.zeros(features)}}, y)


# The CPU-tuned implementation picks a formulation by shape; these cases reach each one (solo step): col2im
# (4, 2, 4, 8), (3, 2, 4, 8), (3, 2, 5, 9); sub-pixel on im2col (5, 2, 4, 8), (5, 2, 4, 7), (2, 2, 3, 6);
# depth-to-space on im2col (4, 2, 3, 5); sub-pixel with the adjoint's gradients (5, 2, 7, 14), (5, 2, 7, 13),
# (3, 1, 5, 5), (5, 2, 9, 17); depth-to-space with them (4, 2, 9, 18), (6, 3, 9, 25). A population runs the
# last six on im2col.
TRANSPOSED = [(4, 2, 4, 8), (5, 2, 4, 8), (5, 2, 4, 7), (5, 2, 7, 14), (5, 2, 7, 13), (4, 2, 3, 5), (3, 1, 5, 5),
              (3, 2, 4, 8), (3, 2, 5, 9), (2, 2, 3, 6), (4, 2, 9, 18), (5, 2, 9, 17), (6, 3, 9, 25)]


@pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)
@pytest.mark.parametrize("k,s,h,out", TRANSPOSED)
def test_conv_transpose_matches_tf_same_alignment(k, s, h, out, impl):
    rng = np.random.RandomState(k * 100 + h)
    y = jnp.asarray(rng.randn(2, h, h, 3), jnp.float32)
    kernel = jnp.asarray(rng.randn(k, k, 5, 3), jnp.float32)
    with jax.default_matmul_precision("highest"):
        got = _conv_transpose_layer(_impl(*impl), kernel, s, (out, out))(y, kernel)
        expect = _tf_conv2d_transpose(y, kernel, s, (out, out))
    np.testing.assert_allclose(np.asarray(got), np.asarray(expect), atol=1e-4)
    if out == s * h:  # lax / flax implement the even-size case directly
        lax_out = jax.lax.conv_transpose(y, kernel, (s, s), "SAME", dimension_numbers=DIMS, transpose_kernel=True,
                                         precision=jax.lax.Precision.HIGHEST)
        np.testing.assert_allclose(np.asarray(got), np.asarray(lax_out), atol=1e-4)
        flax_layer = nn.ConvTranspose(5, (k, k), (s, s), padding="SAME", transpose_kernel=True,
                                      precision=jax.lax.Precision.HIGHEST)
        flax_out = flax_layer.apply({"params": {"kernel": kernel, "bias": jnp.zeros(5)}}, y)
        np.testing.assert_allclose(np.asarray(got), np.asarray(flax_out), atol=1e-4)


@pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)
@pytest.mark.parametrize("k,h,out", [(3, 4, 8), (4, 4, 8), (5, 4, 7), (4, 3, 5), (5, 7, 13), (4, 9, 18)])
def test_conv_transpose_gradients_match_lax(k, h, out, impl):
    """Oracle: the same transposed conv as the input-gradient of lax's SAME conv, differentiated by JAX
    (col2im, sub-pixel and depth-to-space on im2col, and both forms under the adjoint's custom gradients)."""
    rng = np.random.RandomState(k + out)
    y = jnp.asarray(rng.randn(2, h, h, 3), jnp.float32)
    kernel = jnp.asarray(rng.randn(k, k, 2, 3), jnp.float32)
    layer = _conv_transpose_layer(_impl(*impl), kernel, 2, (out, out))
    lax_fn = lambda yy, kk: jnp.sum(jnp.sin(_tf_conv2d_transpose(yy, kk, 2, (out, out))))  # noqa: E731
    our_fn = lambda yy, kk: jnp.sum(jnp.sin(layer(yy, kk)))  # noqa: E731
    with jax.default_matmul_precision("highest"):
        grads = [jax.jit(jax.grad(fn, (0, 1)))(y, kernel) for fn in (our_fn, lax_fn)]
    for ours, theirs in zip(*grads):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-4, atol=1e-4)


# The "xla" implementation's conv2d is lax's own convolution, so only the CPU-tuned forms are compared here.
@pytest.mark.parametrize("impl", IMPLS[1:], ids=IMPL_IDS[1:])
@pytest.mark.parametrize("size,k,stride,padding", [(16, 4, 2, "SAME"), (16, 5, 2, "SAME"), (17, 5, 2, "SAME"),
                                                   (12, 3, 2, "SAME"), (13, 4, 3, "SAME"),
                                                   (10, 3, 2, ((0, 0), (2, 1))), (11, 4, 2, "VALID"),
                                                   (2, 3, 1, "SAME"), (4, 5, 2, "SAME"), (8, 4, 2, "SAME"),
                                                   (3, 3, 1, ((1, 0), (0, 1))), (7, 5, 2, "SAME")])
def test_conv2d_values_and_gradients_match_lax_to_second_order(size, k, stride, padding, impl):
    """Convolutions up to 8x8 inputs run as im2col in the CPU-tuned forms (every size in a population), larger
    strided ones take their input gradient from the transposed conv. The oracle is JAX's own differentiation of
    lax.conv_general_dilated, for the gradients and for the gradient of a gradient-penalty term (reverse over
    reverse, as WGAN-GP / R1 / DRAGAN differentiate D)."""
    conv = _impl(*impl)
    rng = np.random.RandomState(size + k)
    x = jnp.asarray(rng.randn(2, size, size, 3), jnp.float32)
    kernel = jnp.asarray(rng.randn(k, k, 3, 4) / k, jnp.float32)
    lax_conv = lambda xx, kk: jax.lax.conv_general_dilated(  # noqa: E731
        xx, kk, (stride, stride), padding, dimension_numbers=DIMS)
    ours = lambda xx, kk: conv.conv2d(xx, kk, stride, padding)  # noqa: E731

    def loss(fn):
        return lambda xx, kk: jnp.sum(jnp.sin(fn(xx, kk)))

    def penalty(fn):  # squared norm of the input gradient, differentiated w.r.t. the kernel
        return lambda xx, kk: jnp.sum(jax.grad(loss(fn))(xx, kk) ** 2)
    with jax.default_matmul_precision("highest"):  # each side one compiled call: op by op compiles every op
        got, expect = (jax.jit(lambda xx, kk, fn=fn: (fn(xx, kk), jax.grad(loss(fn), (0, 1))(xx, kk),
                                                       jax.grad(penalty(fn), (0, 1))(xx, kk)))(x, kernel)
                       for fn in (ours, lax_conv))
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expect)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)
@pytest.mark.parametrize("k,h", [(3, 4), (3, 5), (5, 4), (1, 3), (3, 9)])
def test_conv_after_unpool_equals_conv_of_the_unpooled_map(k, h, impl):
    """Oracle: compare_gan's unpool (zeros at odd positions) written out, then lax's SAME convolution; the layer
    is `layers.Conv(unpool_input=True)`, as ResNet G uses it."""
    from gan_bench.nets.resnet import unpool
    rng = np.random.RandomState(k + h)
    x = jnp.asarray(rng.randn(2, h, h + 1, 3), jnp.float32)
    kernel = jnp.asarray(rng.randn(k, k, 3, 4), jnp.float32)
    layer = layers.Conv(features=4, kernel_size=k, unpool_input=True, conv=_impl(*impl))
    ours = lambda xx, kk: layer.apply({"params": {"kernel": kk, "bias": jnp.zeros(4)}}, xx)  # noqa: E731

    def oracle(xx, kk):
        return jax.lax.conv_general_dilated(unpool(xx), kk, (1, 1), "SAME", dimension_numbers=DIMS,
                                            precision=jax.lax.Precision.HIGHEST)

    loss = lambda fn: (lambda xx, kk: jnp.sum(jnp.sin(fn(xx, kk))))  # noqa: E731
    with jax.default_matmul_precision("highest"):  # each side one compiled call: op by op compiles every op
        (out, grads), (expect, expect_grads) = (
            jax.jit(lambda xx, kk, fn=fn: (fn(xx, kk), jax.grad(loss(fn), (0, 1))(xx, kk)))(x, kernel)
            for fn in (ours, oracle))
    np.testing.assert_allclose(np.asarray(out), np.asarray(expect), atol=1e-5)
    for a, b in zip(grads, expect_grads):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-4)


@pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)
def test_convolutions_reject_impossible_shapes(impl):
    conv = _impl(*impl)
    with pytest.raises(ValueError, match="output size 9"):
        conv.conv_transpose_same(jnp.zeros((1, 4, 4, 1)), jnp.zeros((4, 4, 1, 1)), 2, (9, 9))
    with pytest.raises(ValueError, match="square odd kernel"):
        conv.conv_after_unpool(jnp.zeros((1, 4, 4, 3)), jnp.zeros((4, 4, 3, 4)))


def test_conv_impl_by_name():
    assert nets.conv_impl("xla") == nets.XlaConv()
    assert nets.conv_impl("cpu_tuned") == nets.CpuTunedConv(64)
    assert nets.conv_impl("cpu_tuned", population=True) == nets.CpuTunedConv(float("inf"))
    with pytest.raises(ValueError, match="'lax'"):
        nets.conv_impl("lax")


# ---- batch norm and layer norm --------------------------------------------------------------------------

def test_grouped_batch_norm_matches_numpy_per_group_statistics():
    rng = np.random.RandomState(2)
    x = rng.randn(8, 3, 3, 4).astype(np.float32) * 3 + 1
    bn = layers.BatchNorm(groups=2)
    variables = bn.init(KEY, jnp.asarray(x), train=False)
    y, new = bn.apply(variables, jnp.asarray(x), train=True, mutable=["batch_stats"])
    expect, means, variances = [], [], []
    for g in range(2):
        part = x[4 * g:4 * (g + 1)].astype(np.float64)
        m, v = part.mean(axis=(0, 1, 2)), part.var(axis=(0, 1, 2))
        expect.append((part - m) / np.sqrt(v + 1e-3))
        means.append(m)
        variances.append(v)
    np.testing.assert_allclose(np.asarray(y), np.concatenate(expect), rtol=1e-4, atol=1e-5)
    decay = 0.999
    np.testing.assert_allclose(new["batch_stats"]["mean"], (1 - decay) * np.mean(means, axis=0), rtol=1e-4)
    np.testing.assert_allclose(new["batch_stats"]["var"], decay + (1 - decay) * np.mean(variances, axis=0),
                               rtol=1e-5)
    # Eval uses the running averages: (x - mean) / sqrt(var + eps).
    state = {"params": variables["params"], **new}
    y_eval = bn.apply(state, jnp.asarray(x), train=False)
    ra_m, ra_v = np.asarray(new["batch_stats"]["mean"]), np.asarray(new["batch_stats"]["var"])
    np.testing.assert_allclose(np.asarray(y_eval), (x - ra_m) / np.sqrt(ra_v + 1e-3), rtol=1e-4, atol=1e-5)


def test_batch_norm_rejects_indivisible_batch():
    bn = layers.BatchNorm(groups=3)
    variables = bn.init(KEY, jnp.zeros((6, 2)), train=False)
    with pytest.raises(ValueError, match="not divisible by bn_groups = 3"):
        bn.apply(variables, jnp.zeros((8, 2)), train=True, mutable=["batch_stats"])


def test_layer_norm_matches_numpy():
    x = np.random.RandomState(3).randn(3, 4, 4, 5).astype(np.float32)
    ln = layers.LayerNorm()
    variables = ln.init(KEY, jnp.asarray(x))
    scale, bias = np.linspace(0.5, 2, 5), np.linspace(-1, 1, 5)
    y = ln.apply({"params": {"scale": jnp.asarray(scale, jnp.float32), "bias": jnp.asarray(bias, jnp.float32)}},
                 jnp.asarray(x))
    m = x.mean(axis=(1, 2, 3), keepdims=True)
    v = x.var(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(np.asarray(y), (x - m) / np.sqrt(v + 1e-12) * scale + bias, rtol=1e-4, atol=1e-5)
    assert set(variables["params"]) == {"scale", "bias"}


# ---- whole networks ---------------------------------------------------------------------------------------

def _tiny(name, d_norm, g_norm, bn_groups=1, conv=CPU_TUNED):
    g_key, d_key, width = TINY[name]
    gin.bind_parameter(f"{name}.{g_key}", width)
    gin.bind_parameter(f"{name}.{d_key}", width)
    if name == "infogan":
        gin.bind_parameter("infogan.fc_width", 16)
    return nets.build(name, data_shape=SHAPES[name], z_dim=6, d_norm=d_norm, g_norm=g_norm, bn_groups=bn_groups,
                      conv=conv)


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("d_norm", nets.D_NORMS)
@pytest.mark.parametrize("g_norm", nets.G_NORMS)
def test_output_shapes_and_state_collections(name, d_norm, g_norm):
    gen, disc = _tiny(name, d_norm, g_norm, bn_groups=2)
    z = jax.random.normal(KEY, (4, 6))
    g_vars = jax.eval_shape(lambda: gen.init(KEY, z, train=False))
    d_in = jax.ShapeDtypeStruct((4,) + SHAPES[name][:-1] + (2 * SHAPES[name][-1],), jnp.float32)  # pack = 2
    d_vars = jax.eval_shape(lambda: disc.init(KEY, jnp.zeros(d_in.shape), train=False))
    assert ("batch_stats" in g_vars) == (g_norm == "batch")
    assert ("batch_stats" in d_vars) == (d_norm == "batch")
    assert ("spectral" in d_vars) == (d_norm == "spectral")
    g_state = [c for c in g_vars if c != "params"]
    d_state = [c for c in d_vars if c != "params"]
    x, _ = jax.eval_shape(lambda v: gen.apply(v, z, train=True, mutable=g_state), g_vars)
    assert x.shape == (4,) + SHAPES[name] and x.dtype == jnp.float32
    assert jax.eval_shape(lambda v: gen.apply(v, z, train=False), g_vars).shape == x.shape
    logits, _ = jax.eval_shape(lambda v: disc.apply(v, jnp.zeros(d_in.shape), train=True, mutable=d_state), d_vars)
    assert logits.shape == (4,) and logits.dtype == jnp.float32


def _stacked_init(module, seeds, x):
    """Population variables [P, ...] drawn with NumPy on the shapes of module.init (`numpy_init`: no init
    compile; the values do not matter for this check)."""
    members = [numpy_variables(lambda: module.init(KEY, x, train=False), seed) for seed in seeds]
    return jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *members)


@pytest.mark.parametrize("conv_impl", ["xla", "cpu_tuned"])
@pytest.mark.parametrize("name", ["mlp", "dcgan"])
def test_vmap_over_population_equals_members_alone(name, conv_impl):
    """A population's nets (`conv_impl(name, population=True)`), vmapped, against each member's solo nets."""
    gen, disc = _tiny(name, "spectral", "batch", conv=nets.conv_impl(conv_impl, population=True))
    solo_gen, _ = _tiny(name, "spectral", "batch", conv=nets.conv_impl(conv_impl))
    z = jax.random.normal(KEY, (3, 4, 6))  # population of 3, batch of 4
    seeds = (1, 2, 3)
    g_vars = _stacked_init(gen, seeds, z[0])
    g_train = jax.jit(lambda v, zz: gen.apply(v, zz, train=True, mutable=["batch_stats"]))
    solo_train = jax.jit(lambda v, zz: solo_gen.apply(v, zz, train=True, mutable=["batch_stats"]))
    out, new = jax.jit(jax.vmap(g_train))(g_vars, z)
    assert out.shape == (3, 4) + SHAPES[name]
    for i in range(3):  # oracle: each member applied on its own
        solo, solo_new = solo_train(jax.tree_util.tree_map(lambda a: a[i], g_vars), z[i])
        np.testing.assert_allclose(np.asarray(out[i]), np.asarray(solo), rtol=1e-5, atol=1e-6)
        for got, want in zip(jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(solo_new)):
            np.testing.assert_allclose(np.asarray(got[i]), np.asarray(want), rtol=1e-5, atol=1e-7)
    if name != "mlp":
        assert float(jnp.max(jnp.abs(out))) <= 1.0  # tanh output for images
    d_vars = _stacked_init(disc, seeds, out[0])
    d_train = jax.vmap(lambda v, xx: disc.apply(v, xx, train=True, mutable=["spectral"]))
    logits, d_new = jax.jit(d_train)(d_vars, out)
    assert logits.shape == (3, 4) and logits.dtype == jnp.float32
    assert all(not np.allclose(a, b) for a, b in zip(jax.tree_util.tree_leaves(d_new["spectral"]),
                                                    jax.tree_util.tree_leaves(d_vars["spectral"])))


def test_parameter_counts_dcgan_and_sndcgan_at_default_widths():
    shape, z_dim = (32, 32, 3), 128
    counts = {}
    for name in ("dcgan", "sndcgan"):
        for d_norm in ("batch", "spectral"):
            gen, disc = nets.build(name, data_shape=shape, z_dim=z_dim, d_norm=d_norm, g_norm="batch",
                                   conv=CPU_TUNED)
            counts[name, "G"] = _count(jax.eval_shape(lambda: gen.init(KEY, jnp.zeros((2, z_dim)), train=False)))
            counts[name, "D", d_norm] = _count(jax.eval_shape(
                lambda: disc.init(KEY, jnp.zeros((2,) + shape), train=False)))
    # DCGAN G (32x32 -> sizes 16, 8, 4, 2): fc 128*2*2*512 + 2048; BN(512) 2*512; deconv 5x5 512->256
    # 25*512*256 + 256; BN 2*256; 256->128 25*256*128 + 128; BN 2*128; 128->64 25*128*64 + 64; BN 2*64;
    # 64->3 25*64*3 + 3.
    dcgan_g = (128 * 2048 + 2048 + 1024 + 25 * 512 * 256 + 256 + 512 + 25 * 256 * 128 + 128 + 256
               + 25 * 128 * 64 + 64 + 128 + 25 * 64 * 3 + 3)
    assert dcgan_g == 4572163 and counts["dcgan", "G"] == dcgan_g
    # DCGAN D: conv 3->64 25*3*64 + 64; 64->128 25*64*128 + 128, BN 256; 128->256 25*128*256 + 256, BN 512;
    # 256->512 25*256*512 + 512, BN 1024; fc 2*2*512 + 1. Spectral norm adds no parameters (u is state).
    dcgan_d_sn = 4864 + 25 * 64 * 128 + 128 + 25 * 128 * 256 + 256 + 25 * 256 * 512 + 512 + 2048 + 1
    assert dcgan_d_sn == 4308609
    assert counts["dcgan", "D", "spectral"] == dcgan_d_sn
    assert counts["dcgan", "D", "batch"] == dcgan_d_sn + 256 + 512 + 1024
    # SNDCGAN G (sizes 16, 8, 4): fc 128*4*4*512 + 8192; BN on the 8192 units 2*8192; deconv 4x4 512->256
    # 16*512*256 + 256, BN 512; 256->128 16*256*128 + 128, BN 256; 128->64 16*128*64 + 64, BN 128;
    # deconv 3x3 64->3 9*64*3 + 3.
    sndcgan_g = (128 * 8192 + 8192 + 16384 + 16 * 512 * 256 + 256 + 512 + 16 * 256 * 128 + 128 + 256
                 + 16 * 128 * 64 + 64 + 128 + 9 * 64 * 3 + 3)
    assert sndcgan_g == 3828739 and counts["sndcgan", "G"] == sndcgan_g
    # SNDCGAN D: 9*3*64+64, 16*64*128+128, 9*128*128+128, 16*128*256+256, 9*256*256+256, 16*256*512+512,
    # 9*512*512+512, fc 4*4*512 + 1.
    sndcgan_d = (1792 + 131200 + 147584 + 524544 + 590080 + 2097664 + 2359808 + 8193)
    assert sndcgan_d == 5860865 and counts["sndcgan", "D", "spectral"] == sndcgan_d
    # With BN after conv2..conv7: 2*(128 + 128 + 256 + 256 + 512 + 512).
    assert counts["sndcgan", "D", "batch"] == sndcgan_d + 2 * 1792


def test_gin_binding_changes_width():
    gin.bind_parameter("dcgan.g_width", 8)
    gen, _ = nets.build("dcgan", data_shape=(32, 32, 3), z_dim=4, d_norm="none", g_norm="none", conv=CPU_TUNED)
    params = jax.eval_shape(lambda: gen.init(KEY, jnp.zeros((1, 4)), train=False))["params"]
    assert params["g_fc1"]["kernel"].shape == (4, 8 * 8 * 2 * 2)
    assert params["g_dc1"]["kernel"].shape == (5, 5, 32, 64)  # TF transposed-conv layout [k, k, out, in]


@pytest.mark.parametrize("kwargs,match", [
    ({"name": "vgg"}, "unknown architecture 'vgg'"),
    ({"d_norm": "group"}, "d_norm = 'group'"),
    ({"g_norm": "layer"}, "g_norm = 'layer'"),
    ({"name": "resnet_cifar", "data_shape": (28, 28, 1)}, "needs 32x32"),
    ({"name": "infogan", "data_shape": (30, 30, 1)}, "multiples of 4"),
    ({"name": "dcgan", "data_shape": (2,)}, "needs data_shape"),
    ({"bn_groups": 0}, "bn_groups"),
    ({"conv": "xla"}, "conv = 'xla'; expected a convolution implementation"),
])
def test_build_rejects_bad_arguments(kwargs, match):
    args = {"name": "dcgan", "data_shape": (32, 32, 3), "z_dim": 8, "d_norm": "none", "g_norm": "batch",
            "conv": CPU_TUNED, **kwargs}
    with pytest.raises(ValueError, match=match):
        nets.build(args.pop("name"), **args)


def test_bn_groups_equals_running_each_slice_alone():
    """Per-device statistics: a net with bn_groups=2 on a batch equals the bn_groups=1 net on each half."""
    gin.bind_parameter("mlp.g_width", 8)
    grouped, _ = nets.build("mlp", data_shape=(2,), z_dim=6, d_norm="none", g_norm="batch", bn_groups=2,
                            conv=CPU_TUNED)
    whole, _ = nets.build("mlp", data_shape=(2,), z_dim=6, d_norm="none", g_norm="batch", bn_groups=1,
                          conv=CPU_TUNED)
    z = jnp.asarray(np.random.RandomState(4).randn(8, 6), jnp.float32)
    variables = grouped.init(KEY, z, train=False)
    out = grouped.apply(variables, z, train=True, mutable=["batch_stats"])[0]
    halves = [whole.apply(variables, z[i:i + 4], train=True, mutable=["batch_stats"])[0] for i in (0, 4)]
    np.testing.assert_allclose(np.asarray(out), np.concatenate(halves), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("impl", IMPLS[1:], ids=IMPL_IDS[1:])
@pytest.mark.parametrize("name,d_norm", [("infogan", "layer"), ("dcgan", "spectral"), ("sndcgan", "layer"),
                                         ("resnet_cifar", "weight")])
def test_whole_nets_equal_their_lax_convolution_twins(name, d_norm, impl):
    """Every family built with `trial.conv_impl = 'cpu_tuned'` (solo and population forms) against the same
    family built with XLA's own convolutions (lax.conv_general_dilated / conv_transpose with JAX's gradients):
    G's images, D's logits and the gradients w.r.t. both nets' parameters and D's input, in training mode.
    No batch norm: it makes the gradient of the bias before it exactly zero, which leaves only rounding noise
    to compare."""
    shape = SHAPES[name]
    gen, disc = _tiny(name, d_norm, "none", conv=_impl(*impl))
    lax_gen, lax_disc = _tiny(name, d_norm, "none", conv=nets.conv_impl("xla"))
    z = jnp.asarray(np.random.RandomState(5).randn(4, 6), jnp.float32)
    x = jnp.asarray(np.random.RandomState(6).rand(4, *shape) * 2 - 1, jnp.float32)
    g_vars = _stacked_init(gen, (7,), z)
    d_vars = _stacked_init(disc, (8,), x)
    g_vars, d_vars = (jax.tree_util.tree_map(lambda a: a[0], v) for v in (g_vars, d_vars))

    def outputs(g, d):
        def run(module, variables, params, inputs):
            state = [c for c in variables if c != "params"]
            return module.apply({**variables, "params": params}, inputs, train=True, mutable=state)[0]

        def loss(gp, dp, xx):
            return jnp.sum(jnp.sin(run(g, g_vars, gp, z))) + jnp.sum(jnp.sin(run(d, d_vars, dp, xx)))
        grads = jax.grad(loss, (0, 1, 2))(g_vars["params"], d_vars["params"], x)
        return (run(g, g_vars, g_vars["params"], z), run(d, d_vars, d_vars["params"], x)), grads

    with jax.default_matmul_precision("highest"):
        ours = jax.jit(lambda: outputs(gen, disc))()
        theirs = jax.jit(lambda: outputs(lax_gen, lax_disc))()
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("binding,match", [("dcgan.g_width = 0", "dcgan.g_width = 0"),
                                           ("infogan.fc_width = 2.5", "infogan.fc_width = 2.5"),
                                           ("mlp.d_depth = -1", "mlp.d_depth = -1"),
                                           ("mlp.activation = 'elu'", "mlp.activation = 'elu'")])
def test_family_hyperparameters_are_checked(binding, match):
    gin.parse_config(binding)
    name = binding.split(".")[0]
    shape = (2,) if name == "mlp" else (28, 28, 1)
    with pytest.raises(ValueError, match=match):
        nets.build(name, data_shape=shape, z_dim=4, d_norm="none", g_norm="none", conv=CPU_TUNED)


def test_nets_modules_import_each_other_without_a_cycle():
    """The families import the shared modules (base, layers, conv_*), never the package that imports them."""
    folder = os.path.dirname(nets.__file__)
    modules = {f[:-3] for f in os.listdir(folder) if f.endswith(".py")}
    edges = {}
    for module in modules:
        with open(os.path.join(folder, module + ".py")) as f:
            tree = ast.parse(f.read())
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gan_bench.nets"):
                sub = node.module[len("gan_bench.nets"):].lstrip(".")
                names = {alias.name for alias in node.names}
                targets |= {sub} if sub else (names & modules)
                if not sub and names - modules:  # a name defined by the package itself
                    targets.add("__init__")
        edges[module] = targets & (modules | {"__init__"})
    assert all("__init__" not in targets for module, targets in edges.items() if module != "__init__")

    def reaches(start, goal, seen=()):
        return any(t == goal or (t not in seen and reaches(t, goal, seen + (t,))) for t in edges.get(start, ()))
    assert [m for m in modules if reaches(m, m)] == []
