"""The PyTorch baseline of `benchmarks/bench_train_step.py` (`benchmarks/torch_nets.py`) for BigGAN's 32x32
CIFAR-10 configuration: parameter counts against the ones taken from BigGAN-PyTorch's layer lists, the layers
against gan_bench's biggan, the class-conditional batch norm and the losses against NumPy, one conditional
hinge-loss step; and the benchmark's BigGAN settings against BigGAN-PyTorch's CIFAR-10 script. The PyTorch
tests skip when torch is not installed (the CI environment)."""
import collections
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_bench import nets

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

# BigGAN-PyTorch Generator / Discriminator (BigGAN.py G_arch[32], D_arch[32], layers.py) with G_ch = D_ch = 64,
# dim_z 128, 10 classes, no shared embedding, no attention. G: linear 128 -> 4*4*256 (528,384), three GBlocks
# of two 3x3 convs, a 1x1 shortcut and two ccbn embedding pairs (3 x 1,256,192), output bn (512) and 3x3 conv
# to 3 channels (6,915). D: DBlocks 3 -> 256 down (598,272), 256 -> 256 down (1,245,952), two 256 -> 256
# without shortcut conv (2 x 1,180,160), linear 256 -> 1 (257), projection embedding 10 x 256 (2,560).
BIGGAN_CIFAR_G_PARAMS = 4304387
BIGGAN_CIFAR_D_PARAMS = 4207361


@pytest.fixture
def torch_nets():
    pytest.importorskip("torch")
    import torch_nets as module  # pylint: disable=import-outside-toplevel
    return module


@pytest.fixture
def biggan(torch_nets):
    import torch  # pylint: disable=import-outside-toplevel
    torch.manual_seed(0)
    return torch_nets.build("biggan", z_dim=128, d_norm="spectral", g_norm="batch", num_classes=10)


def _gan_bench_biggan_variables():
    """gan_bench's 32x32 biggan (cBN G, projection D, 10 classes): G's and D's variables, traced by eval_shape."""
    gen, disc = nets.build("biggan", data_shape=(32, 32, 3), z_dim=128, d_norm="spectral", g_norm="batch",
                           conv=nets.conv_impl("xla"), num_classes=10, g_conditioning="cbn",
                           d_conditioning="projection")
    z, y = jnp.zeros((2, 128)), jnp.zeros((2,), jnp.int32)
    key = jax.random.PRNGKey(0)
    return (jax.eval_shape(lambda: gen.init(key, z, train=False, y=y)),
            jax.eval_shape(lambda: disc.init(key, jnp.zeros((2, 32, 32, 3)), train=False, y=y)))


def _leaves(tree):
    return {jax.tree_util.keystr(path): leaf.shape for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def test_biggan_parameter_counts_are_biggan_pytorchs(torch_nets, biggan):
    g, d = biggan
    assert torch_nets.count_params(g) == BIGGAN_CIFAR_G_PARAMS
    assert torch_nets.count_params(d) == BIGGAN_CIFAR_D_PARAMS


def test_biggan_layers_match_gan_bench_layer_for_layer(biggan):
    """The same multiset of parameter tensors (dimensions sorted: conv kernels are OIHW in PyTorch, HWIO in
    gan_bench) and the same spectrally normalized matrices (rows x columns, either orientation) as gan_bench's
    nets: SN on G's linear and convs, none on its cBN tables, SN on all of D including the projection table."""
    from torch.nn.utils import parametrize  # pylint: disable=import-outside-toplevel
    for torch_net, variables in zip(biggan, _gan_bench_biggan_variables()):
        ours = collections.Counter(tuple(sorted(p.shape)) for p in torch_net.parameters())
        theirs = collections.Counter(tuple(sorted(s)) for s in _leaves(variables["params"]).values())
        assert ours == theirs
        ours_sn = collections.Counter()
        for module in torch_net.modules():
            if parametrize.is_parametrized(module, "weight"):
                w = module.parametrizations.weight.original
                ours_sn[tuple(sorted((w.shape[0], w.numel() // w.shape[0])))] += 1
        params = _leaves(variables["params"])
        theirs_sn = collections.Counter()
        for path, (u_size,) in _leaves(variables["spectral"]).items():
            owner = path[:-len("['u']")]
            size = int(np.prod(params.get(owner + "['kernel']") or params[owner + "['embedding']"]))
            theirs_sn[tuple(sorted((u_size, size // u_size)))] += 1
        assert ours_sn == theirs_sn and sum(ours_sn.values()) > 0


def test_class_conditional_batch_norm_against_numpy(torch_nets):
    """Training-mode BN over (B, H, W) with epsilon 1e-3, then the label's gain and bias rows."""
    import torch  # pylint: disable=import-outside-toplevel
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 4, 3, 3)).astype(np.float32), np.array([0, 2, 1, 2, 0, 1])
    gain, bias = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32)
    bn = torch_nets.ClassConditionalBatchNorm(4, 3).train()
    with torch.no_grad():
        bn.gain.weight.copy_(torch.from_numpy(gain))
        bn.bias.weight.copy_(torch.from_numpy(bias))
        out = bn(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-3) * gain[y][:, :, None, None] + bias[y][:, :, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_losses_against_numpy(torch_nets):
    """Hinge (Lim & Ye 2017) and non-saturating (Goodfellow et al. 2014) losses from their formulas."""
    import torch  # pylint: disable=import-outside-toplevel
    real, fake = np.array([2.0, 0.5, -1.5, 0.0]), np.array([-2.0, 0.3, 1.2, -0.9])
    d, g = torch_nets.hinge_loss(torch.tensor(real), torch.tensor(fake))
    assert float(d) == pytest.approx(np.maximum(0, 1 - real).mean() + np.maximum(0, 1 + fake).mean())
    assert float(g) == pytest.approx(-fake.mean())
    d, g = torch_nets.non_saturating_loss(torch.tensor(real), torch.tensor(fake))
    assert float(d) == pytest.approx(np.mean(np.log1p(np.exp(-real))) + np.mean(np.log1p(np.exp(fake))))
    assert float(g) == pytest.approx(np.mean(np.log1p(np.exp(-fake))))


def test_conditional_hinge_step_runs_with_finite_losses(torch_nets, biggan):
    """Two D updates and one G update of the 32x32 BigGAN on a batch of 3 with labels; the losses are finite,
    D's first hinge loss is that of its logits before the step, and G's EMA (decay 0.25) is
    0.25 * G before + 0.75 * G after."""
    import torch  # pylint: disable=import-outside-toplevel
    g, d = biggan
    torch.manual_seed(1)
    real = torch.rand(2, 3, 3, 32, 32) * 2 - 1
    labels = torch.randint(0, 10, (2, 3))
    step = torch_nets.TorchGANStep(g, d, 128, lr=2e-4, betas=(0.0, 0.999), ema_decay=0.25, loss="hinge",
                                   num_classes=10)
    before = [p.detach().clone() for p in g.parameters()]
    d_losses = []
    update = step._d_update  # pylint: disable=protected-access

    def recorded(real_i, y_i):
        loss = update(real_i, y_i)
        d_losses.append(float(loss.detach()))
        return loss
    step._d_update = recorded  # pylint: disable=protected-access
    d_loss, g_loss = step.step(real, labels)
    assert np.isfinite(d_loss) and np.isfinite(g_loss)
    assert d_loss == pytest.approx(np.mean(d_losses), rel=1e-6)
    for ema, old, new in zip(step.ema, before, g.parameters()):
        torch.testing.assert_close(ema, 0.25 * old + 0.75 * new.detach(), rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(old, new) for old, new in zip(before, g.parameters()))


def test_conditional_step_refuses_missing_labels(torch_nets, biggan):
    g, d = biggan
    import torch  # pylint: disable=import-outside-toplevel
    step = torch_nets.TorchGANStep(g, d, 128, loss="hinge", num_classes=10)
    with pytest.raises(ValueError, match="labels"):
        step.step(torch.zeros(1, 2, 3, 32, 32))
    with pytest.raises(ValueError, match="num_classes"):
        torch_nets.build("biggan", z_dim=128, d_norm="spectral")
    with pytest.raises(ValueError, match="num_classes"):
        torch_nets.build("dcgan", z_dim=128, num_classes=10)


@pytest.mark.usefixtures("restored_dataset_registry")  # the benchmark registers its noise datasets
def test_benchmark_runs_biggan_under_its_preset():
    """BigGAN-PyTorch's CIFAR-10 run (mit-han-lab/data-efficient-gans DiffAugment-biggan-cifar/scripts/
    biggan-cifar10.sh on BigGAN-PyTorch's defaults): batch 50, 4 D steps, hinge loss, Adam (0, 0.999) at 2e-4,
    EMA 0.9999, z 128; on labelled noise with CIFAR-10's 10 classes. Given values replace the defaults."""
    import bench_train_step as bench  # pylint: disable=import-outside-toplevel
    from gan_bench import data  # pylint: disable=import-outside-toplevel
    assert bench.net_plan("biggan", None, None) == (50, [4])
    assert bench.net_plan("dcgan", None, None) == (64, [1])
    assert bench.net_plan("biggan", 8, "1,2") == (8, [1, 2])
    with pytest.raises(ValueError, match="n_disc"):
        bench.net_plan("biggan", None, "0")
    cfg = bench.trial_config("biggan", (32, 32, 3), 50, 4)
    assert (cfg.architecture, cfg.g_conditioning, cfg.d_conditioning, cfg.d_norm, cfg.g_norm) == (
        "biggan", "cbn", "projection", "spectral", "batch")
    assert (cfg.loss, cfg.z_dim, cfg.batch_size, cfg.n_disc) == ("hinge", 128, 50, 4)
    assert (cfg.beta1, cfg.beta2, cfg.g_lr, cfg.d_lr, cfg.ema_decay) == (0.0, 0.999, 2e-4, 2e-4, 0.9999)
    dataset = data.load(cfg.dataset)
    assert dataset.num_classes == 10 and dataset.shape == (32, 32, 3)
    assert set(np.unique(dataset.labels(np.arange(dataset.num_examples)))) == set(range(10))
