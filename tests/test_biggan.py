"""BigGAN and SAGAN: the self-attention block against NumPy attention from its parameters, parameter counts
against the published ones and against counts taken by hand from BigGAN-PyTorch's layer lists, hierarchical z,
a residual block against NumPy, and the refusals of bad keys."""
import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_bench import nets
from gan_bench.nets import big_resnet
from gan_bench.nets.attention import SelfAttention
from numpy_init import numpy_variables

KEY = jax.random.PRNGKey(0)
CONV = nets.conv_impl("xla")


def _count(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree["params"]))


def _counts(name, size, z_dim, classes, bindings=()):
    """(G, D) parameter counts of the conditional nets (cBN G, projection D), traced with eval_shape."""
    gin.clear_config()
    gin.parse_config(list(bindings))
    gen, disc = nets.build(name, data_shape=(size, size, 3), z_dim=z_dim, d_norm="spectral", g_norm="batch",
                           conv=CONV, num_classes=classes, g_conditioning="cbn", d_conditioning="projection")
    z, y = jnp.zeros((2, z_dim)), jnp.zeros((2,), jnp.int32)
    g_vars = jax.eval_shape(lambda: gen.init(KEY, z, train=False, y=y))
    d_vars = jax.eval_shape(lambda: disc.init(KEY, jnp.zeros((2, size, size, 3)), train=False, y=y))
    return _count(g_vars), _count(d_vars)


# ---- parameter counts, by hand from BigGAN-PyTorch BigGAN.py (G_arch, D_arch) and layers.py ----------------

def _attention(c):
    """layers.Attention(c): theta, phi (c -> c/8), g (c -> c/2), o (c/2 -> c), 1x1 without bias; gamma."""
    return 2 * c * (c // 8) + 2 * c * (c // 2) + 1


def _g_count(ch, z_dim, classes, multipliers, shared_dim, hier, attention_at, image_channels=3):
    """Generator(G_ch=ch, dim_z, n_classes, G_shared, shared_dim, hier, G_attn): shared embedding; linear
    z0 -> 4*4*in[0]; per GBlock conv1 3x3, conv2 3x3, conv_sc 1x1 (all with bias) and two ccbn of two linear
    maps without bias from shared_dim + z_chunk (G_shared) or two embeddings of n_classes rows (not shared);
    attention after the block of output size `attention_at`; output BN (gain, bias) and conv 3x3 with bias."""
    ins, outs = [ch * m for m in multipliers[:-1]], [ch * m for m in multipliers[1:]]
    chunk = z_dim // (len(ins) + 1) if hier else 0
    count = classes * shared_dim if shared_dim else 0
    count += (chunk if hier else z_dim) * 16 * ins[0] + 16 * ins[0]
    size = 4
    for cin, cout in zip(ins, outs):
        size *= 2
        count += 9 * cin * cout + cout + 9 * cout * cout + cout + cin * cout + cout
        count += 2 * (cin + cout) * (shared_dim + chunk if shared_dim else classes)
        count += _attention(cout) if size == attention_at else 0
    return count + 2 * outs[-1] + 9 * outs[-1] * image_channels + image_channels


def _d_count(ch, classes, multipliers, downsample, attention_at, size, image_channels=3):
    """Discriminator(D_ch=ch, D_wide=True, D_attn): per DBlock conv1 3x3 in -> out, conv2 3x3 (with bias) and
    conv_sc 1x1 where in != out or the block goes down; attention after the first block of output size
    `attention_at`; linear out[-1] -> 1 and the projection embedding [n_classes, out[-1]]."""
    outs = [ch * m for m in multipliers]
    ins = [image_channels] + outs[:-1]
    count, attended = 0, False
    for cin, cout, down in zip(ins, outs, downsample):
        size = size // 2 if down else size
        count += 9 * cin * cout + cout + 9 * cout * cout + cout
        count += cin * cout + cout if (cin != cout or down) else 0
        if size == attention_at and not attended:
            count, attended = count + _attention(cout), True
    return count + outs[-1] + 1 + classes * outs[-1]


def test_biggan_128_parameter_counts_are_the_published_ones():
    """compare_gan architectures/resnet_biggan.py docstring, 128x128 (z_dim 120, ch 96, attention in G's B4
    and D's B1 = 64x64, 1000 classes): "Number of parameters: (D) 87,982,370 (G) 70,433,988" (Brock et al.
    2019: 70.4M and 88.0M). The same counts from BigGAN-PyTorch's layer list (launch_BigGAN_bs256x8.sh:
    --G_ch 96 --D_ch 96 --hier --dim_z 120 --shared_dim 128 --G_attn 64 --D_attn 64)."""
    g, d = _counts("biggan", 128, 120, 1000)
    assert (g, d) == (70433988, 87982370)
    assert g == _g_count(96, 120, 1000, (16, 16, 8, 4, 2, 1), 128, True, 64)
    assert d == _d_count(96, 1000, (1, 2, 4, 8, 16, 16), (True,) * 5 + (False,), 64, 128)


def test_biggan_32_parameter_counts_match_the_cifar_configuration():
    """BigGAN-PyTorch's CIFAR-10 configuration (defaults G_ch = D_ch = 64, dim_z 128, no G_shared, no hier;
    --G_attn 0 --D_attn 0 in mit-han-lab/data-efficient-gans DiffAugment-biggan-cifar/scripts/biggan-cifar10.sh):
    G_arch[32] in [256]*3, out [256]*3; D_arch[32] in [3, 256, 256, 256], out [256]*4, downsample [T, T, F, F]."""
    g, d = _counts("biggan", 32, 128, 10)
    assert g == _g_count(64, 128, 10, (4, 4, 4, 4), 0, False, 0) == 4304387
    assert d == _d_count(64, 10, (4, 4, 4, 4), (True, True, False, False), 0, 32) == 4207361


def test_sagan_parameter_counts():
    """128x128: the SA-GAN baseline of Brock et al. 2019, table 1 (ch 64, no shared embedding): 81.5M
    parameters in G and D together (1000 classes, z_dim 128, attention at 64x64 in both). 32x32: the SNGAN
    ResNet (G 256 channels, D 128) with attention at 16x16 after G's second and D's first block."""
    g, d = _counts("sagan", 128, 128, 1000)
    assert round((g + d) / 1e5) == 815
    assert g == _g_count(64, 128, 1000, (16, 16, 8, 4, 2, 1), 0, False, 64)
    assert d == _d_count(64, 1000, (1, 2, 4, 8, 16, 16), (True,) * 5 + (False,), 64, 128)
    g, d = _counts("sagan", 32, 128, 10)
    assert g == _g_count(64, 128, 10, (4, 4, 4, 4), 0, False, 16)
    assert d == _d_count(32, 10, (4, 4, 4, 4), (True, True, False, False), 16, 32)


# ---- self-attention ------------------------------------------------------------------------------------------

def _attention_numpy(x, p, gamma):
    b, h, w, c = x.shape

    def pool(t):
        return t.reshape(b, h // 2, 2, w // 2, 2, -1).max(axis=(2, 4)).reshape(b, h * w // 4, -1)

    theta = (x @ p["theta"]["kernel"]).reshape(b, h * w, -1)
    phi, g = pool(x @ p["phi"]["kernel"]), pool(x @ p["g"]["kernel"])
    scores = np.einsum("bqc,bkc->bqk", theta, phi)
    beta = np.exp(scores - scores.max(-1, keepdims=True))
    beta /= beta.sum(-1, keepdims=True)
    o = np.einsum("bqk,bkc->bqc", beta, g).reshape(b, h, w, c // 2) @ p["o"]["kernel"]
    return x + gamma * o


def test_self_attention_equals_numpy_attention_from_its_parameters():
    rng = np.random.RandomState(0)
    x = rng.randn(2, 6, 4, 16).astype(np.float32)
    block = SelfAttention()
    variables = block.init(KEY, jnp.asarray(x), train=False)
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), variables["params"])
    assert {k: p[k]["kernel"].shape for k in ("theta", "phi", "g", "o")} == {
        "theta": (16, 2), "phi": (16, 2), "g": (16, 8), "o": (8, 16)}
    assert float(p["gamma"]) == 0.0
    np.testing.assert_array_equal(np.asarray(block.apply(variables, jnp.asarray(x), train=False)), x)  # identity
    params = {k: {"kernel": jnp.asarray(rng.randn(*p[k]["kernel"].shape), jnp.float32)}
              for k in ("theta", "phi", "g", "o")}
    params["gamma"] = jnp.asarray(0.7, jnp.float32)
    got = block.apply({"params": params}, jnp.asarray(x), train=False)
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    np.testing.assert_allclose(np.asarray(got), _attention_numpy(x.astype(np.float64), p, 0.7), rtol=1e-4,
                               atol=1e-4)


def test_self_attention_refuses_odd_sizes():
    with pytest.raises(ValueError, match="channels divisible by 8"):
        SelfAttention().init(KEY, jnp.zeros((1, 4, 4, 12)), train=False)


# ---- blocks and hierarchical z -------------------------------------------------------------------------------

def test_generator_block_equals_numpy():
    """GBlock with plain BN (G unconditional, no kernel norm): relu(BN(x)), nearest up-sampling, conv 3x3,
    relu(BN), conv 3x3, plus the 1x1 conv of the up-sampled x; convolutions as NumPy sums of shifted maps."""
    block = big_resnet.GeneratorBlock(width=3, kernel_init=jax.nn.initializers.normal(0.5), norm="batch",
                                      weight_norm="none", bn_groups=1, conv=CONV, conditioning="none",
                                      num_classes=0)
    rng = np.random.RandomState(1)
    x = rng.randn(2, 3, 3, 2).astype(np.float32)
    cond = nets.conditioning.Condition(z=jnp.zeros((2, 1)), y=None)
    variables = block.init(KEY, jnp.asarray(x), train=False, cond=cond)
    got, _ = block.apply(variables, jnp.asarray(x), train=True, cond=cond, mutable=["batch_stats"])
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), variables["params"])

    def bn(t, q):
        return (t - t.mean((0, 1, 2))) / np.sqrt(t.var((0, 1, 2)) + 1e-3) * q["bn"]["scale"] + q["bn"]["bias"]

    def conv(t, q):
        k = q["kernel"]
        pad = k.shape[0] // 2
        tp = np.pad(t, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        out = sum(tp[:, i:i + t.shape[1], j:j + t.shape[2], :] @ k[i, j]
                  for i in range(k.shape[0]) for j in range(k.shape[1]))
        return out + q["bias"]

    def up(t):
        return t.repeat(2, axis=1).repeat(2, axis=2)

    x64 = x.astype(np.float64)
    h = conv(up(np.maximum(bn(x64, p["bn1"]), 0)), p["conv1"])
    h = conv(np.maximum(bn(h, p["bn2"]), 0), p["conv2"])
    np.testing.assert_allclose(np.asarray(got), h + conv(up(x64), p["conv_sc"]), rtol=1e-4, atol=1e-4)


def test_hierarchical_z_feeds_one_chunk_per_block_with_the_shared_embedding():
    gin.parse_config(["biggan.g_ch = 8", "biggan.d_ch = 8", "biggan.shared_dim = 5", "biggan.hierarchical_z = True"])
    gen, _ = nets.build("biggan", data_shape=(32, 32, 3), z_dim=8, d_norm="spectral", g_norm="batch", conv=CONV,
                        num_classes=3, g_conditioning="cbn", d_conditioning="projection")
    z, y = jnp.asarray(np.random.RandomState(2).randn(4, 8), jnp.float32), jnp.asarray([0, 1, 2, 1])
    variables = numpy_variables(lambda: gen.init(KEY, z, train=False, y=y))
    params = variables["params"]
    assert params["shared"]["embedding"].shape == (3, 5)
    assert params["fc_noise"]["kernel"].shape == (2, 16 * 32)  # z0: the first of 4 chunks of 2
    for block in ("B1", "B2", "B3"):
        assert params[block]["bn1"]["gain"]["kernel"].shape == (5 + 2, 32)
    # Block 2's chunk (z[:, 4:6]) reaches G's output only through block 2's cBN: changing it changes the image,
    # and G with the z rows of B2's cBN maps zeroed does not see it.
    apply = jax.jit(lambda v, zz: gen.apply(v, zz, train=True, y=y, mutable=["batch_stats", "spectral"])[0])
    z2 = z.at[:, 4:6].add(1.0)
    assert not np.allclose(apply(variables, z), apply(variables, z2))
    blind = {**params, "B2": {**params["B2"]}}
    for bn in ("bn1", "bn2"):
        blind["B2"][bn] = {k: {"kernel": params["B2"][bn][k]["kernel"].at[5:].set(0.0)} for k in ("gain", "bias")}
    blind_vars = {**variables, "params": blind}
    np.testing.assert_allclose(apply(blind_vars, z), apply(blind_vars, z2), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family,bindings,shape,z_dim,match", [
    ("biggan", ["biggan.attention_resolution = 12"], (32, 32, 3), 128, "biggan.attention_resolution = 12"),
    ("biggan", [], (48, 48, 3), 128, "square images of size 32, 64, 128, 256"),
    ("biggan", [], (128, 128, 3), 128, "z_dim = 128 is not a multiple of 6"),
    ("sagan", ["sagan.g_ch = 0"], (32, 32, 3), 128, "sagan.g_ch = 0"),
    ("sagan", ["sagan.d_ch = 3"], (32, 32, 3), 128, "sagan.d_ch = 3 gives 12 channels"),
    ("biggan", ["biggan.hierarchical_z = 1"], (32, 32, 3), 128, "biggan.hierarchical_z = 1"),
])
def test_bad_keys_are_refused_before_compute(family, bindings, shape, z_dim, match):
    gin.parse_config(bindings)
    with pytest.raises(ValueError, match=match):
        nets.build(family, data_shape=shape, z_dim=z_dim, d_norm="spectral", g_norm="batch", conv=CONV,
                   num_classes=10, g_conditioning="cbn", d_conditioning="projection")


@pytest.mark.slow
def test_tiny_biggan_trains_in_spectral_g_and_d():
    """One gradient of a tiny conditional BigGAN: finite, images in [-1, 1], G's spectral vectors move.
    With `-m slow`: the default suite trains the tiny biggan_cifar10 preset two steps (test_conditional_presets)."""
    gin.parse_config(["biggan.g_ch = 8", "biggan.d_ch = 8", "biggan.attention_resolution = 16"])
    gen, disc = nets.build("biggan", data_shape=(32, 32, 3), z_dim=16, d_norm="spectral", g_norm="batch",
                           conv=CONV, num_classes=4, g_conditioning="cbn", d_conditioning="projection")
    z, y = jnp.asarray(np.random.RandomState(3).randn(4, 16), jnp.float32), jnp.asarray([0, 1, 2, 3])
    g_vars = gen.init(KEY, z, train=False, y=y)
    d_vars = disc.init(KEY, jnp.zeros((4, 32, 32, 3)), train=False, y=y)
    assert "attention" in g_vars["params"] and "attention" in d_vars["params"]

    def loss(g_params):
        x, g_state = gen.apply({**g_vars, "params": g_params}, z, train=True, y=y,
                               mutable=["batch_stats", "spectral"])
        logits = disc.apply(d_vars, x, train=True, y=y, mutable=["spectral"])[0]
        return jnp.mean(jax.nn.softplus(-logits)), (x, g_state)

    grads, (x, g_state) = jax.grad(loss, has_aux=True)(g_vars["params"])
    assert np.all(np.abs(np.asarray(x)) <= 1.0)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree_util.tree_leaves(grads))
    assert not np.allclose(g_state["spectral"]["fc_noise"]["u"], g_vars["spectral"]["fc_noise"]["u"])


@pytest.mark.parametrize("family", ["biggan", "sagan"])
def test_cpu_tuned_convolutions_give_xla_numbers(family):
    """The nets under the CPU-tuned convolution implementation (im2col for small maps, 1x1 shortcuts) against
    the same parameters under XLA's own convolutions, G and D in training mode."""
    gin.parse_config([f"{family}.g_ch = 8", f"{family}.d_ch = 8"])
    z, y = jnp.asarray(np.random.RandomState(4).randn(4, 8), jnp.float32), jnp.asarray([0, 1, 2, 0])
    outputs, variables = [], None
    for conv in (CONV, nets.conv_impl("cpu_tuned")):
        gen, disc = nets.build(family, data_shape=(32, 32, 3), z_dim=8, d_norm="spectral", g_norm="batch",
                               conv=conv, num_classes=3, g_conditioning="cbn", d_conditioning="projection")
        if variables is None:  # the same parameters for both implementations
            variables = (numpy_variables(lambda: gen.init(KEY, z, train=False, y=y), seed=1),
                         numpy_variables(lambda: disc.init(KEY, jnp.zeros((4, 32, 32, 3)), train=False, y=y),
                                         seed=2))

        def forward(g_vars, d_vars, gen=gen, disc=disc):
            x = gen.apply(g_vars, z, train=True, y=y, mutable=["batch_stats", "spectral"])[0]
            return x, disc.apply(d_vars, x, train=True, y=y, mutable=["spectral"])[0]
        outputs.append(jax.jit(forward)(*variables))
    for xla, tuned in zip(*outputs):
        np.testing.assert_allclose(np.asarray(tuned), np.asarray(xla), rtol=1e-4, atol=1e-5)
