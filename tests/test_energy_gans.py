"""BEGAN and EBGAN with autoencoder discriminators, against NumPy and hand computation.

Oracles: BEGAN's k_t recursion and convergence measure written out in NumPy over a scripted sequence of
energies (clipping at both ends included); the losses' formulas evaluated by hand; the pulling-away term as the
double sum of eq. 6 of Zhao et al.; each autoencoder's energy recomputed in NumPy from the reconstruction it sows;
one train step whose logged k, M and f_PT are recomputed from its own pass; a checkpoint of step 2 that continues
k_t (and every other leaf) exactly as the uninterrupted run; and 2 steps of each preset on small data.
"""
import logging
import os
import types

import flax.serialization
import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_bench import checkpoint, nets
from gan_bench.config import TrialConfig, parse_config
from gan_bench.gan import energy, objective
from gan_bench.gan.losses import LOSSES
from gan_bench.gan.state import hparams_of, init_state, make_optimizers
from gan_bench.gan.train_step import _G_Z, GANModel, train_step
from gan_bench.nets.autoencoder import reconstruction_energy
from gan_bench.report.metric_groups import TRAINING_LOG_KEYS
from gan_bench.train import run_trial
from numpy_init import numpy_variables
from shared_data import requires_shared, shared_path


def _pass(real, fake):
    """What the terms read of one of D's passes: the energies of the real and fake halves."""
    return types.SimpleNamespace(real_logits=jnp.asarray(real, jnp.float32), fake_logits=jnp.asarray(fake, jnp.float32))


def test_began_k_follows_its_recursion_over_a_scripted_sequence_of_energies():
    term = energy.BEGANEquilibrium(gamma=0.7, lambda_k=0.05, k_init=0.1)
    rng = np.random.default_rng(0)
    # Per-step mean energies chosen so that k climbs to the clip at 1, then falls to the clip at 0.
    means = [(1.0, 0.2)] * 40 + [(0.2, 1.5)] * 20 + [(0.5, 0.3), (0.4, 0.6)]
    state, k = term.init_state(), 0.1
    seen_top = seen_bottom = False
    for real_mean, fake_mean in means:
        real = real_mean + rng.normal(scale=0.05, size=6)
        fake = fake_mean + rng.normal(scale=0.05, size=6)
        value, state, logs = term.discriminator_term(_pass(real, fake), state)
        lx, lg = real.mean(), fake.mean()
        np.testing.assert_allclose(float(value), -k * lg, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(float(logs["began_k"]), k, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(float(logs["began_m"]), lx + abs(0.7 * lx - lg), rtol=1e-5)
        k = min(max(k + 0.05 * (0.7 * lx - lg), 0.0), 1.0)
        np.testing.assert_allclose(float(state["k"]), k, rtol=1e-5, atol=1e-6)
        seen_top |= k == 1.0
        seen_bottom |= k == 0.0
    assert seen_top and seen_bottom


def test_began_and_ebgan_losses_against_hand_computation():
    real, fake = np.array([0.3, 0.1, 0.5]), np.array([0.9, 1.4, 0.2, 0.6])
    lx, lg = real.mean(), fake.mean()
    # BEGAN: L_D = L(x) - k L(G(z)) (the loss's part plus the term's), L_G = L(G(z)).
    d_part, g_loss = LOSSES.get("began")(jnp.asarray(real), jnp.asarray(fake))
    term, _, _ = energy.BEGANEquilibrium(k_init=0.25).discriminator_term(_pass(real, fake), {"k": jnp.float32(0.25)})
    np.testing.assert_allclose(float(d_part + term), lx - 0.25 * lg, rtol=1e-6)
    np.testing.assert_allclose(float(g_loss), lg, rtol=1e-6)
    # EBGAN: L_D = D(x) + [m - D(G(z))]^+ with m = 1: hinge terms 0.1, 0, 0.8, 0.4.
    d_part, g_loss = LOSSES.get("ebgan")(jnp.asarray(real), jnp.asarray(fake))
    hinge, _, logs = energy.EBGANTerms(margin=1.0).discriminator_term(_pass(real, fake), {})
    np.testing.assert_allclose(float(d_part + hinge), lx + (0.1 + 0.0 + 0.8 + 0.4) / 4, rtol=1e-6)
    np.testing.assert_allclose(float(logs["ebgan_hinge"]), 1.3 / 4, rtol=1e-6)
    np.testing.assert_allclose(float(g_loss), lg, rtol=1e-6)


def test_pulling_away_term_is_the_mean_squared_cosine_of_distinct_pairs():
    s = np.random.default_rng(1).normal(size=(5, 7))
    total = 0.0
    for i in range(5):
        for j in range(5):
            if i != j:
                total += (s[i] @ s[j] / (np.linalg.norm(s[i]) * np.linalg.norm(s[j]))) ** 2
    np.testing.assert_allclose(float(energy.pulling_away(jnp.asarray(s, jnp.float32))), total / 20, rtol=1e-5)
    # Orthogonal embeddings: 0; identical directions: 1.
    assert float(energy.pulling_away(jnp.eye(4))) == 0.0
    np.testing.assert_allclose(float(energy.pulling_away(jnp.ones((3, 2)) * jnp.array([[1.0], [2.0], [3.0]]))), 1.0,
                               rtol=1e-6)


AUTOENCODER_CASES = [
    ("began_autoencoder", (16, 16, 3), "none", "none", {"width": 4, "code_dim": 8}),
    ("began_autoencoder", (32, 32, 3), "batch", "batch", {"width": 4, "code_dim": 8}),
    ("ebgan_autoencoder", (28, 28, 1), "batch", "batch", {"g_width": 4, "fc_width": 8, "d_width": 4, "code_dim": 5}),
    ("dcgan_autoencoder", (32, 32, 3), "spectral", "batch", {"g_width": 4, "d_width": 4, "code_dim": 6}),
    ("resnet_cifar_autoencoder", (32, 32, 3), "batch", "batch", {"g_width": 4, "d_width": 4, "code_dim": 6}),
]
ENERGY_KINDS = ("l1", "mse")


def _energy_cases():
    """Every (autoencoder, energy) case; the default suite takes the kinds alternately (each net once, each kind
    at least twice), `pytest -m slow` the rest."""
    cases = []
    for i, case in enumerate(AUTOENCODER_CASES):
        for j, kind in enumerate(ENERGY_KINDS):
            marks = () if j == i % len(ENERGY_KINDS) else (pytest.mark.slow,)
            cases.append(pytest.param(*case, kind, marks=marks))
    return cases


@pytest.mark.parametrize("family,shape,d_norm,g_norm,widths,kind", _energy_cases())
def test_autoencoder_energy_is_the_reconstruction_error_of_its_output(family, shape, d_norm, g_norm, widths, kind):
    gin.bind_parameter(f"{family}.energy", kind)
    for key, value in widths.items():
        gin.bind_parameter(f"{family}.{key}", value)
    generator, discriminator = nets.build(family, data_shape=shape, z_dim=3, d_norm=d_norm, g_norm=g_norm,
                                          conv=nets.conv_impl("xla"))
    x = np.random.default_rng(2).uniform(-1, 1, size=(4,) + shape).astype(np.float32)
    variables = numpy_variables(lambda: discriminator.init(jax.random.PRNGKey(0), x, train=False))
    with jax.default_matmul_precision("highest"):
        energies, sown = jax.jit(lambda v: discriminator.apply(
            v, x, train=True, mutable=["heads", "intermediates", "batch_stats", "spectral"]))(variables)
    r = np.asarray(sown["intermediates"]["reconstruction"][0], np.float64)
    diff = (x - r).reshape(4, -1)
    want = np.abs(diff).mean(1) if kind == "l1" else (diff ** 2).mean(1)
    assert energies.shape == (4,) and energies.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(energies), want, rtol=1e-5)
    assert sown["heads"]["embedding"][0].shape == (4, widths["code_dim"])
    g_out = jax.eval_shape(lambda: generator.apply(
        generator.init(jax.random.PRNGKey(1), jnp.zeros((2, 3)), train=False), jnp.zeros((2, 3)), train=False))
    assert g_out.shape == (2,) + shape


def test_reconstruction_energy_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="energy = 'l2'"):
        reconstruction_energy(jnp.zeros((1, 2)), jnp.zeros((1, 2)), "l2")


def _model(loss, terms, shape=(16, 16, 3), cfg=None):
    cfg = cfg or TrialConfig(batch_size=4, g_lr=1e-3, d_lr=1e-3)
    family = "began_autoencoder" if loss == "began" else "ebgan_autoencoder"
    sizes = {"width": 4, "code_dim": 6} if loss == "began" else {"g_width": 4, "fc_width": 8, "d_width": 4,
                                                                  "code_dim": 5}
    for key, value in sizes.items():
        gin.bind_parameter(f"{family}.{key}", value)
    generator, discriminator = nets.build(family, data_shape=shape, z_dim=3, d_norm="none",
                                          g_norm="none" if loss == "began" else "batch", conv=nets.conv_impl("xla"))
    g_tx, d_tx = make_optimizers(cfg)
    return cfg, GANModel(generator=generator, discriminator=discriminator, loss_fn=LOSSES.get(loss), penalty_fn=None,
                         d_projection=None, z_dim=3, z_dist="uniform", n_disc=1, pack=1, data_shape=shape,
                         g_tx=g_tx, d_tx=d_tx, init_batch=4, regularizers=terms)


def test_a_model_with_an_energy_loss_but_without_its_term_or_an_autoencoder_is_refused():
    with pytest.raises(ValueError, match="'began' loss needs its term BEGANEquilibrium"):
        _model("began", ())
    cfg = TrialConfig()
    generator, discriminator = nets.build("dcgan", data_shape=(16, 16, 3), z_dim=3, d_norm="none", g_norm="batch",
                                          conv=nets.conv_impl("xla"))
    g_tx, d_tx = make_optimizers(cfg)
    with pytest.raises(ValueError, match="trial.loss = 'ebgan' reads D's outputs as reconstruction energies.*"
                                         "got DCGANDiscriminator"):
        GANModel(generator=generator, discriminator=discriminator, loss_fn=LOSSES.get("ebgan"), penalty_fn=None,
                 d_projection=None, z_dim=3, z_dist="uniform", n_disc=1, pack=1, data_shape=(16, 16, 3),
                 g_tx=g_tx, d_tx=d_tx, regularizers=(energy.EBGANTerms(),))


def test_the_parsed_configuration_adds_the_term_and_checks_its_keys():
    parse_config([], ["trial.dataset = 'cifar10'", "trial.loss = 'began'", "began.gamma = 0.4"])
    assert objective.configured_regularizers() == (energy.BEGANEquilibrium(gamma=0.4),)
    with pytest.raises(ValueError, match=r"ebgan.margin = -1.0 is not a number > 0"):
        parse_config([], ["trial.dataset = 'cifar10'", "trial.loss = 'ebgan'", "ebgan.margin = -1.0"])


def test_one_began_step_moves_k_by_the_energies_of_its_d_pass():
    cfg, model = _model("began", (energy.BEGANEquilibrium(gamma=1.0, lambda_k=0.3, k_init=0.5),))
    state = init_state(model, 0, hparams_of(cfg))
    real = jnp.asarray(np.random.default_rng(3).uniform(-1, 1, size=(1, 4, 16, 16, 3)), jnp.float32)
    after, logs = jax.jit(lambda s, r: train_step(model, s, r))(state, real)
    lx, lg = float(logs["d_real"]), float(logs["d_fake"])  # mean energies of D's pass
    assert float(logs["began_k"]) == 0.5 and float(logs["d_loss"]) == pytest.approx(lx, rel=1e-6)
    np.testing.assert_allclose(float(after.objective_state["began"]["k"]), np.clip(0.5 + 0.3 * (lx - lg), 0, 1),
                               rtol=1e-5)
    np.testing.assert_allclose(float(logs["began_m"]), lx + abs(lx - lg), rtol=1e-5)
    assert set(logs) <= set(TRAINING_LOG_KEYS)


def test_one_ebgan_step_logs_the_pulling_away_term_of_gs_samples():
    cfg, model = _model("ebgan", (energy.EBGANTerms(),), shape=(8, 8, 1))
    state = init_state(model, 0, hparams_of(cfg))
    real = jnp.asarray(np.random.default_rng(4).uniform(-1, 1, size=(1, 4, 8, 8, 1)), jnp.float32)
    with jax.default_matmul_precision("highest"):
        after, logs = jax.jit(lambda s, r: train_step(model, s, r))(state, real)
        # G's update: z from the step's G key, G's samples judged by D after its update (no norm state in D).
        z = model.sample_z(jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(state.key, 0), _G_Z), 0), 4)
        fake, _ = model.generate(state.g.params, state.g.norm_collections, z, train=True)
        _, sown = model.discriminator.apply({"params": after.d.params}, fake, train=True, mutable=["heads"])
    s = np.asarray(sown["heads"]["embedding"][0], np.float64)
    unit = s / np.linalg.norm(s, axis=1, keepdims=True)
    cosine_sq = (unit @ unit.T) ** 2
    np.testing.assert_allclose(float(logs["ebgan_pt"]), (cosine_sq.sum() - np.trace(cosine_sq)) / 12, rtol=1e-4)
    np.testing.assert_allclose(float(logs["ebgan_hinge"]), max(0.0, 1.0 - float(logs["d_fake"])), rtol=1e-5)


def test_a_resumed_began_trial_continues_k_exactly(tmp_path):
    cfg, model = _model("began", (energy.BEGANEquilibrium(gamma=1.0, lambda_k=0.3, k_init=0.5),))
    step = jax.jit(lambda s, r: train_step(model, s, r))
    real = jnp.asarray(np.random.default_rng(5).uniform(-1, 1, size=(4, 1, 4, 16, 16, 3)), jnp.float32)
    state, ks = init_state(model, 0, hparams_of(cfg)), []
    for t in range(4):
        state, _ = step(state, real[t])
        ks.append(float(state.objective_state["began"]["k"]))
        if t == 1:
            checkpoint.save(str(tmp_path / "ckpt"), 2, state, keep=2)
    assert len(set(ks)) == 4  # k moved at every step
    resumed = checkpoint.restore(str(tmp_path / "ckpt"), 2, init_state(model, 0, hparams_of(cfg)))
    assert float(resumed.objective_state["began"]["k"]) == ks[1]
    for t in range(2, 4):
        resumed, _ = step(resumed, real[t])
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(state), jax.tree_util.tree_leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=jax.tree_util.keystr(path))


def _newest_checkpoint(workdir):
    """The state dict of the newest checkpoint the trial wrote."""
    ckpts = sorted(f for f in os.listdir(os.path.join(workdir, "ckpt")) if f.endswith(".msgpack"))
    with open(os.path.join(workdir, "ckpt", ckpts[-1]), "rb") as f:
        return flax.serialization.msgpack_restore(f.read())


def _run_preset(tmp_path, preset, bindings):
    """Run in the repository root (the `at_repository_root` fixture): presets include fragments by
    repository-relative paths."""
    workdir = str(tmp_path / "trial")
    status = run_trial(workdir, [os.path.join("gin_configs", "presets", preset + ".gin")],
                       bindings + ["trial.train_steps = 2", "trial.metrics = []", "trial.log_every = 1",
                                   "trial.ckpt_every = 2", "trial.conv_impl = 'xla'"])
    return workdir, status


@requires_shared("mnist")
@pytest.mark.usefixtures("at_repository_root")
def test_ebgan_mnist_preset_trains_two_steps(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    workdir, status = _run_preset(tmp_path, "ebgan_mnist", [
        f"trial.data_dir = {shared_path('mnist')!r}", "trial.batch_size = 8", "trial.eval_num_samples = 8",
        "ebgan_autoencoder.g_width = 4", "ebgan_autoencoder.fc_width = 8", "ebgan_autoencoder.d_width = 4"])
    assert status["state"] == "done" and status["step"] == 2
    assert "ebgan_pt=" in caplog.text and "ebgan_hinge=" in caplog.text  # the log lines


@pytest.mark.usefixtures("at_repository_root")
def test_began_celeba_preset_trains_two_steps_on_a_small_64x64_set(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    rng = np.random.default_rng(6)
    data = tmp_path / "faces"
    data.mkdir()
    for split in ("train", "test"):
        np.savez(data / f"{split}.npz", images=rng.integers(0, 256, size=(8, 64, 64, 3), dtype=np.uint8))
    workdir, status = _run_preset(tmp_path, "began_celeba", [
        "trial.dataset = 'npz'", f"trial.data_dir = {str(data)!r}", "trial.batch_size = 4",
        "trial.eval_num_samples = 4", "began_autoencoder.width = 4", "began_autoencoder.code_dim = 8"])
    assert status["state"] == "done" and status["step"] == 2
    saved = _newest_checkpoint(workdir)
    assert 0.0 <= float(saved["objective_state"]["began"]["k"]) <= 1.0  # k_t is checkpointed
    assert "began_k=" in caplog.text and "began_m=" in caplog.text  # the log lines


@pytest.mark.usefixtures("at_repository_root")
def test_presets_bind_the_cited_settings():
    cfg = parse_config([os.path.join("gin_configs", "presets", "began_celeba.gin")])
    assert (cfg.dataset, cfg.architecture, cfg.loss, cfg.z_dim, cfg.z_dist, cfg.batch_size) == (
        "celeb_a", "began_autoencoder", "began", 64, "uniform", 16)
    assert (cfg.g_lr, cfg.d_lr, cfg.beta1, cfg.beta2, cfg.d_norm, cfg.g_norm) == (1e-4, 1e-4, 0.5, 0.999, "none",
                                                                                   "none")
    assert objective.configured_regularizers() == (energy.BEGANEquilibrium(gamma=0.5, lambda_k=0.001, k_init=0.0),)
    assert gin.query_parameter("began_autoencoder.width") == 128
    assert gin.query_parameter("began_autoencoder.code_dim") == 64
    cfg = parse_config([os.path.join("gin_configs", "presets", "ebgan_mnist.gin")])
    assert (cfg.dataset, cfg.architecture, cfg.loss, cfg.z_dim, cfg.z_dist, cfg.batch_size) == (
        "mnist", "ebgan_autoencoder", "ebgan", 62, "uniform", 64)
    assert (cfg.d_lr, cfg.g_lr, cfg.beta1, cfg.train_steps) == (2e-4, 1e-3, 0.5, 20 * 60000 // 64)
    assert objective.configured_regularizers() == (energy.EBGANTerms(margin=1.0, pt_weight=0.1),)
    assert gin.query_parameter("ebgan_autoencoder.code_dim") == 32
