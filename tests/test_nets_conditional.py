"""Class conditioning of the nets against NumPy oracles: projection D from its parameters, conditional batch
norms (per-class tables, BigGAN's linear form, self-modulation) from theirs, 'concat' as the unconditional net
on an input concatenated in NumPy, the auxiliary heads' shapes and values, and the refusals."""
import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_bench import nets
from gan_bench.nets import conditioning
from numpy_init import numpy_variables

KEY = jax.random.PRNGKey(0)
CONV = nets.conv_impl("xla")
EPS = 1e-3  # batch_norm.epsilon's default (compare_gan)
TINY = ["dcgan.g_width = 4", "dcgan.d_width = 4", "sndcgan.g_width = 4", "sndcgan.d_width = 4",
        "resnet_cifar.g_width = 8", "resnet_cifar.d_width = 8", "infogan.g_width = 4", "infogan.d_width = 4",
        "infogan.fc_width = 8", "mlp.g_width = 8", "mlp.d_width = 8", "biggan.g_ch = 8", "biggan.d_ch = 8",
        "sagan.g_ch = 8", "sagan.d_ch = 8"]
SHAPES = {"mlp": (2,), "infogan": (28, 28, 1), "dcgan": (16, 16, 3), "sndcgan": (16, 16, 3),
          "resnet_cifar": (32, 32, 3), "biggan": (32, 32, 3), "sagan": (32, 32, 3)}


@pytest.fixture(autouse=True)
def _tiny_widths():
    gin.clear_config()
    gin.parse_config(TINY)
    yield
    gin.clear_config()


def _build(name, **kwargs):
    args = dict(data_shape=SHAPES[name], z_dim=6, d_norm="spectral", g_norm="batch", conv=CONV, num_classes=5)
    args.update(kwargs)
    return nets.build(name, **args)


def _np(tree):
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), tree)


def _spectral(kernel, u):
    """Oracle: one power iteration from u on the kernel viewed as [prod(shape[:-1]), C_out], kernel / sigma."""
    w = kernel.reshape(-1, kernel.shape[-1])
    v = w.T @ u
    v = v / np.sqrt(max(v @ v, 1e-12))
    u_new = w @ v
    u_new = u_new / np.sqrt(max(u_new @ u_new, 1e-12))
    return kernel / (u_new @ w @ v)


def _labels(batch, classes, seed=0):
    return jnp.asarray(np.random.RandomState(seed).randint(0, classes, size=batch), jnp.int32)


# ---- D: projection and heads -------------------------------------------------------------------------------

def test_projection_logit_equals_linear_plus_inner_product_with_the_class_embedding():
    """Miyato & Koyama 2018: logit = psi(phi(x)) + <E[y], phi(x)>, every kernel and E spectrally normalised
    (one power iteration from the stored u), computed in NumPy from the MLP D's parameters."""
    _, disc = _build("mlp", d_conditioning="projection")
    x = jnp.asarray(np.random.RandomState(1).randn(7, 2), jnp.float32)
    y = _labels(7, 5)
    variables = disc.init(KEY, x, train=False, y=y)
    got = np.asarray(disc.apply(variables, x, train=False, y=y))
    p, u = _np(variables["params"]), _np(variables["spectral"])
    assert p["embed_y"]["embedding"].shape == (5, 8)
    h = np.asarray(x, np.float64)
    for layer in ("fc1", "fc2"):
        h = np.tanh(h @ _spectral(p[layer]["kernel"], u[layer]["u"]) + p[layer]["bias"])
    psi = h @ _spectral(p["out"]["kernel"], u["out"]["u"])[:, 0] + p["out"]["bias"][0]
    embed = _spectral(p["embed_y"]["embedding"], u["embed_y"]["u"])[np.asarray(y)]
    np.testing.assert_allclose(got, psi + np.sum(embed * h, axis=1), rtol=1e-5, atol=1e-6)


def test_ac_and_rotation_heads_are_linear_maps_of_phi_sown_into_heads():
    _, disc = _build("mlp", d_norm="none", d_conditioning="ac", rotation_head=True)
    x = jnp.asarray(np.random.RandomState(2).randn(6, 2), jnp.float32)
    y = _labels(6, 5)
    variables = disc.init(KEY, x, train=False, y=y)
    assert "heads" not in variables
    logits, updated = disc.apply(variables, x, train=False, y=y, mutable=["heads"])
    p = _np(variables["params"])
    h = np.asarray(x, np.float64)
    for layer in ("fc1", "fc2"):
        h = np.tanh(h @ p[layer]["kernel"] + p[layer]["bias"])
    class_logits = updated["heads"]["class_logits"][0]
    rotation_logits = updated["heads"]["rotation_logits"][0]
    assert class_logits.shape == (6, 5) and class_logits.dtype == jnp.float32
    assert rotation_logits.shape == (6, 4) and logits.shape == (6,)
    np.testing.assert_allclose(class_logits, h @ p["class_head"]["kernel"] + p["class_head"]["bias"], rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(rotation_logits, h @ p["rotation_head"]["kernel"] + p["rotation_head"]["bias"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, h @ p["out"]["kernel"][:, 0] + p["out"]["bias"][0], rtol=1e-5, atol=1e-6)
    # Without "heads" mutable the sow is a no-op and D returns its logit alone.
    np.testing.assert_array_equal(disc.apply(variables, x, train=False, y=y), logits)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_heads_shapes_of_every_family(name):
    gen, disc = _build(name, d_conditioning="ac", rotation_head=True, g_conditioning="cbn")
    z, y = jnp.zeros((4, 6)), _labels(4, 5)
    g_vars = jax.eval_shape(lambda: gen.init(KEY, z, train=False, y=y))
    x, _ = jax.eval_shape(lambda v: gen.apply(v, z, train=True, y=y, mutable=["batch_stats", "spectral"]), g_vars)
    assert x.shape == (4,) + SHAPES[name]
    d_vars = jax.eval_shape(lambda: disc.init(KEY, jnp.zeros(x.shape), train=False, y=y))
    logits, updated = jax.eval_shape(
        lambda v: disc.apply(v, jnp.zeros(x.shape), train=True, y=y, mutable=["spectral", "batch_stats", "heads"]),
        d_vars)
    assert logits.shape == (4,) and logits.dtype == jnp.float32
    assert updated["heads"]["class_logits"][0].shape == (4, 5)
    assert updated["heads"]["rotation_logits"][0].shape == (4, 4)


# ---- G: conditional batch norms ----------------------------------------------------------------------------

def _bn_numpy(x):
    axes = tuple(range(x.ndim - 1))
    return (x - x.mean(axis=axes)) / np.sqrt(x.var(axis=axes) + EPS)


def test_class_conditional_batch_norm_equals_bn_with_gathered_per_class_gains_and_biases():
    rng = np.random.RandomState(3)
    x = rng.randn(6, 3, 3, 4).astype(np.float32)
    y = np.array([0, 2, 2, 1, 0, 2])
    layer = conditioning.ClassConditionalBatchNorm(num_classes=3)
    variables = layer.init(KEY, jnp.asarray(x), train=False, y=jnp.asarray(y))
    init = variables["params"]
    np.testing.assert_array_equal(init["gain"], np.ones((3, 4)))  # gains start at 1, biases at 0
    np.testing.assert_array_equal(init["bias"], np.zeros((3, 4)))
    gain, bias = rng.randn(3, 4), rng.randn(3, 4)
    variables = {"params": {"gain": jnp.asarray(gain, jnp.float32), "bias": jnp.asarray(bias, jnp.float32)},
                 "batch_stats": variables["batch_stats"]}
    got, _ = layer.apply(variables, jnp.asarray(x), train=True, y=jnp.asarray(y), mutable=["batch_stats"])
    expect = _bn_numpy(x.astype(np.float64)) * gain[y][:, None, None, :] + bias[y][:, None, None, :]
    np.testing.assert_allclose(np.asarray(got), expect, rtol=1e-4, atol=1e-5)


def test_linear_conditional_batch_norm_is_biggan_ccbn():
    """BigGAN-PyTorch ccbn: BN(x) * (1 + c W_g) + c W_b."""
    rng = np.random.RandomState(4)
    x, c = rng.randn(5, 2, 2, 3).astype(np.float32), rng.randn(5, 7).astype(np.float32)
    layer = conditioning.LinearConditionalBatchNorm()
    variables = layer.init(KEY, jnp.asarray(x), train=False, c=jnp.asarray(c))
    assert set(variables["params"]) == {"gain", "bias"}
    assert variables["params"]["gain"]["kernel"].shape == (7, 3) and "bias" not in variables["params"]["gain"]
    got, _ = layer.apply(variables, jnp.asarray(x), train=True, c=jnp.asarray(c), mutable=["batch_stats"])
    p = _np(variables["params"])
    gain = 1.0 + c @ p["gain"]["kernel"]
    bias = c @ p["bias"]["kernel"]
    expect = _bn_numpy(x.astype(np.float64)) * gain[:, None, None, :] + bias[:, None, None, :]
    np.testing.assert_allclose(np.asarray(got), expect, rtol=1e-4, atol=1e-5)


def test_self_modulated_batch_norm_follows_compare_gan():
    """compare_gan self_modulated_batch_norm: h = ReLU(z W + b) (32 units), gamma = h W_g + b_g (b_g from 1),
    beta = h W_b + b_b; BN(x) * gamma + beta."""
    rng = np.random.RandomState(5)
    x, z = rng.randn(6, 4).astype(np.float32), rng.randn(6, 3).astype(np.float32)
    layer = conditioning.SelfModulatedBatchNorm()
    variables = layer.init(KEY, jnp.asarray(x), train=False, z=jnp.asarray(z))
    p = _np(variables["params"])
    assert p["hidden"]["kernel"].shape == (3, 32)
    np.testing.assert_array_equal(p["gamma"]["bias"], np.ones(4))
    got, _ = layer.apply(variables, jnp.asarray(x), train=True, z=jnp.asarray(z), mutable=["batch_stats"])
    h = np.maximum(z @ p["hidden"]["kernel"] + p["hidden"]["bias"], 0.0)
    gamma = h @ p["gamma"]["kernel"] + p["gamma"]["bias"]
    beta = h @ p["beta"]["kernel"] + p["beta"]["bias"]
    np.testing.assert_allclose(np.asarray(got), _bn_numpy(x.astype(np.float64)) * gamma + beta, rtol=1e-4,
                               atol=1e-5)


def test_cbn_generator_equals_per_class_tables_gathered_in_numpy():
    """The MLP G under 'cbn' (G in training mode) from its parameters: each hidden layer's BN output scaled and
    shifted by the rows of its tables picked by y."""
    gen, _ = _build("mlp", g_conditioning="cbn", d_conditioning="none")
    rng = np.random.RandomState(6)
    z, y = jnp.asarray(rng.randn(8, 6), jnp.float32), _labels(8, 5, seed=6)
    variables = gen.init(KEY, z, train=False, y=y)
    params = jax.tree_util.tree_map(lambda a: a + 0.3 * rng.randn(*a.shape).astype(np.float32),
                                    variables["params"])  # tables away from their 1 / 0 start
    got, _ = gen.apply({**variables, "params": params}, z, train=True, y=y, mutable=["batch_stats"])
    p, yy = _np(params), np.asarray(y)
    assert p["norm1"]["gain"].shape == (5, 8) and p["norm1"]["bias"].shape == (5, 8)
    h = np.asarray(z, np.float64)
    for i in (1, 2):
        h = h @ p[f"fc{i}"]["kernel"] + p[f"fc{i}"]["bias"]
        h = np.tanh(_bn_numpy(h) * p[f"norm{i}"]["gain"][yy] + p[f"norm{i}"]["bias"][yy])
    np.testing.assert_allclose(np.asarray(got), h @ p["out"]["kernel"] + p["out"]["bias"], rtol=1e-4, atol=1e-5)


# ---- 'concat' ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mlp", "dcgan", "resnet_cifar"])
def test_concat_equals_the_unconditional_net_on_the_concatenated_input(name):
    gen_c, disc_c = _build(name, g_conditioning="concat", d_conditioning="concat", d_norm="batch")
    gen_u, disc_u = _build(name, num_classes=0, d_norm="batch")
    rng = np.random.RandomState(7)
    z, y = rng.randn(4, 6).astype(np.float32), np.array([4, 0, 1, 4])
    one_hot = np.eye(5, dtype=np.float32)[y]
    g_vars = numpy_variables(lambda: gen_c.init(KEY, jnp.asarray(z), train=False, y=jnp.asarray(y)))
    got, _ = gen_c.apply(g_vars, jnp.asarray(z), train=True, y=jnp.asarray(y), mutable=["batch_stats"])
    expect, _ = gen_u.apply(g_vars, jnp.asarray(np.concatenate([z, one_hot], 1)), train=True,
                            mutable=["batch_stats"])
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expect))

    x = rng.randn(4, *SHAPES[name]).astype(np.float32)
    labels = np.broadcast_to(one_hot.reshape((4,) + (1,) * (x.ndim - 2) + (5,)), x.shape[:-1] + (5,))
    d_vars = numpy_variables(lambda: disc_c.init(KEY, jnp.asarray(x), train=False, y=jnp.asarray(y)), seed=1)
    got = disc_c.apply(d_vars, jnp.asarray(x), train=True, y=jnp.asarray(y), mutable=["batch_stats"])[0]
    expect = disc_u.apply(d_vars, jnp.asarray(np.concatenate([x, labels], -1)), train=True,
                          mutable=["batch_stats"])[0]
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expect))


# ---- refusals ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("g_conditioning,d_conditioning", [("cbn", "none"), ("concat", "none"),
                                                           ("none", "projection"), ("none", "ac"),
                                                           ("none", "concat")])
def test_a_conditional_net_called_without_labels_raises(g_conditioning, d_conditioning):
    gen, disc = _build("dcgan", g_conditioning=g_conditioning, d_conditioning=d_conditioning)
    net, inputs = (gen, jnp.zeros((2, 6))) if g_conditioning != "none" else (disc, jnp.zeros((2, 16, 16, 3)))
    with pytest.raises(ValueError, match="needs labels y"):
        jax.eval_shape(lambda: net.init(KEY, inputs, train=False))


def test_self_modulation_needs_no_labels_and_unconditional_nets_ignore_them():
    gen, disc = _build("dcgan", g_conditioning="self_mod", num_classes=0)
    z = jnp.zeros((2, 6))
    g_vars = jax.eval_shape(lambda: gen.init(KEY, z, train=False))
    assert g_vars["params"]["g_bn1"]["hidden"]["kernel"].shape == (6, 32)
    d_vars = jax.eval_shape(lambda: disc.init(KEY, jnp.zeros((2, 16, 16, 3)), train=False, y=jnp.zeros(2, int)))
    assert "embed_y" not in d_vars["params"]


@pytest.mark.parametrize("kwargs,match", [
    (dict(g_conditioning="cbn", num_classes=0), "needs num_classes >= 2"),
    (dict(d_conditioning="projection", num_classes=1), "needs num_classes >= 2"),
    (dict(g_conditioning="film"), "g_conditioning = 'film'"),
    (dict(d_conditioning="cbn"), "d_conditioning = 'cbn'"),
    (dict(g_conditioning="cbn", g_norm="none"), "needs g_norm = 'batch'"),
    (dict(num_classes=-1), "num_classes = -1"),
    (dict(rotation_head=1), "rotation_head = 1"),
])
def test_build_rejects_bad_conditioning(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _build("dcgan", **kwargs)


def test_labels_of_the_wrong_shape_are_refused():
    _, disc = _build("mlp", d_conditioning="projection")
    with pytest.raises(ValueError, match=r"expected integers of shape \(3,\)"):
        disc.init(KEY, jnp.zeros((3, 2)), train=False, y=jnp.zeros((3, 1), jnp.int32))


def test_conditioning_choices_are_exported():
    assert nets.G_CONDITIONINGS == ("none", "concat", "cbn", "self_mod")
    assert nets.D_CONDITIONINGS == ("none", "concat", "projection", "ac")


def test_standing_statistics_of_a_conditional_spectral_generator_average_its_passes():
    """nets.bn_eval with labels and G's spectral vectors: each batch norm's mean and var are the NumPy means over
    the passes of the moments of separate training-mode calls, each with its own labels."""
    from gan_bench.nets import bn_eval  # pylint: disable=import-outside-toplevel
    gen, _ = _build("biggan", g_conditioning="cbn", d_conditioning="projection", num_classes=3, z_dim=8)
    rng = np.random.RandomState(8)
    z_passes = jnp.asarray(rng.randn(3, 4, 8), jnp.float32)
    y_passes = jnp.asarray(rng.randint(0, 3, size=(3, 4)), jnp.int32)
    variables = numpy_variables(lambda: gen.init(KEY, z_passes[0], train=False, y=y_passes[0]))
    stats = bn_eval.standing_batch_stats(gen, variables["params"], variables["batch_stats"], z_passes, y_passes,
                                         spectral=variables["spectral"])
    moments = jax.jit(lambda zz, yy: gen.apply(variables, zz, train=True, y=yy,
                                               mutable=["batch_stats", "batch_moments", "spectral"])[1]["batch_moments"])
    per_pass = [moments(z_passes[i], y_passes[i]) for i in range(3)]
    expect = jax.tree_util.tree_map(lambda *m: np.mean([np.asarray(v[0]) for v in m], axis=0), *per_pass,
                                    is_leaf=lambda v: isinstance(v, tuple))
    assert jax.tree_util.tree_structure(stats) == jax.tree_util.tree_structure(variables["batch_stats"])
    for got, want in zip(jax.tree_util.tree_leaves(stats), jax.tree_util.tree_leaves(expect)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
    images = bn_eval.sample(gen, variables["params"], {"batch_stats": stats, "spectral": variables["spectral"]},
                            z_passes[0], "standing", standing_stats=stats, y=y_passes[0])
    assert images.shape == (4, 32, 32, 3)
