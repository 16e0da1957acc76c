"""The train step with regularizers and an augmentation, against hand-rolled computations.

Tiny linear nets on 8x8x3 images, two compiled steps in all:
- CR + DiffAugment: D's gradient (read from Adam's first moment, mu = (1 - beta1) g after one update) equals the
  gradient written out by hand for the images as the NumPy DiffAugment oracle augments them with the step's
  draws, the CR transform's draws, and the non-saturating loss;
- ADA + bCR + zCR + LeCam + top-k in one trial: ADA's p climbs by its closed-form amount when D's real logits are
  all positive, top-k's k follows its schedule, every term is logged and finite, and a trial saved with
  gan_bench.checkpoint after 3 steps and restored continues p, LeCam's anchors and everything else exactly.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from augment_oracles import np_diffaugment
from gan_bench import checkpoint
from gan_bench.config import TrialConfig, parse_config
from gan_bench.gan import ada, consistency, diffaugment, lecam, topk
from gan_bench.gan.losses import LOSSES
from gan_bench.gan.state import hparams_of, init_state, make_optimizers
from gan_bench.report.metric_groups import TRAINING_LOG_KEYS
from gan_bench.gan.train_step import _D_AUGMENT, _D_REGULARIZER, GANModel, train_step

B, H, W, C = 8, 8, 8, 3


class ImagesG(nn.Module):
    """A generator whose B samples are its parameters: the test knows the fakes without running it."""

    @nn.compact
    def __call__(self, z, train):
        images = self.param("images", nn.initializers.uniform(2.0), (B, H, W, C)) - 1.0
        return images + 0.0 * z[:, :1, None, None]


class LinearG(nn.Module):
    @nn.compact
    def __call__(self, z, train):
        return nn.Dense(H * W * C)(z).reshape((z.shape[0], H, W, C))


class LinearD(nn.Module):
    @nn.compact
    def __call__(self, x, train):
        return nn.Dense(1)(x.reshape((x.shape[0], -1)))[:, 0]


def _model(generator, cfg, regularizers, augment, n_disc=1):
    g_tx, d_tx = make_optimizers(cfg)
    return GANModel(generator=generator, discriminator=LinearD(), loss_fn=LOSSES.get("non_saturating"),
                    penalty_fn=None, d_projection=None, z_dim=3, z_dist="normal", n_disc=n_disc, pack=1,
                    data_shape=(H, W, C), g_tx=g_tx, d_tx=d_tx, init_batch=B, regularizers=regularizers,
                    augment=augment)


def _key(state, purpose, sub=0):
    return jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(state.key, state.step), purpose), sub)


def test_d_update_with_cr_and_diffaugment_follows_the_hand_gradient():
    cfg = TrialConfig(d_lr=1e-2, g_lr=1e-2, beta1=0.5, beta2=0.999, batch_size=B)
    policy = "color,translation,cutout"
    model = _model(ImagesG(), cfg, (consistency.CR(weight=10.0),), diffaugment.DiffAugment(policy=policy))
    state = init_state(model, 3, hparams_of(cfg))
    real = np.random.default_rng(0).uniform(-1, 1, size=(1, B, H, W, C)).astype(np.float32)
    after, logs = jax.jit(lambda s, r: train_step(model, s, r))(state, jnp.asarray(real))

    # What D saw: [real; fake] augmented with one draw of the step's augmentation key.
    ops = diffaugment.policy_ops(policy)
    both = np.concatenate([real[0], np.asarray(state.g.params["images"]) - 1.0])
    seen = np_diffaugment(both, ops, diffaugment.draw(_key(state, _D_AUGMENT), ops, both.shape))
    x_real, x_fake = seen[:B], seen[B:]
    cr_ops = diffaugment.policy_ops("flip,translation", diffaugment.TRANSFORM_POLICIES)
    cr_key = jax.random.fold_in(_key(state, _D_REGULARIZER), 0)  # the first regularizer's key
    x_moved = np_diffaugment(x_real, cr_ops, diffaugment.draw(cr_key, cr_ops, x_real.shape))
    k = np.asarray(state.d.params["Dense_0"]["kernel"], np.float64)[:, 0]
    b = float(state.d.params["Dense_0"]["bias"][0])
    flat = lambda x: x.reshape(B, -1)
    s_real, s_fake, s_moved = flat(x_real) @ k + b, flat(x_fake) @ k + b, flat(x_moved) @ k + b
    sigmoid = lambda v: 1 / (1 + np.exp(-v))
    # d/dk [mean softplus(-s_real) + mean softplus(s_fake) + 10 mean (s_moved - s_real)^2]
    grad_k = (-(sigmoid(-s_real)[:, None] * flat(x_real)).mean(0) + (sigmoid(s_fake)[:, None] * flat(x_fake)).mean(0)
              + 10 * (2 * (s_moved - s_real)[:, None] * (flat(x_moved) - flat(x_real))).mean(0))
    grad_b = -sigmoid(-s_real).mean() + sigmoid(s_fake).mean()
    mu = after.d.opt_state.inner_state[0].mu["Dense_0"]  # Adam's first moment after one update: (1 - beta1) g
    np.testing.assert_allclose(np.asarray(mu["kernel"])[:, 0], 0.5 * grad_k, rtol=2e-4, atol=1e-7)
    np.testing.assert_allclose(float(mu["bias"][0]), 0.5 * grad_b, rtol=2e-4)
    np.testing.assert_allclose(float(logs["cr"]), np.mean((s_moved - s_real) ** 2), rtol=1e-4)
    assert set(logs) <= set(TRAINING_LOG_KEYS)  # the report tells training logs from scores
    assert np.mean((s_moved - s_real) ** 2) > 1e-6


def _combined_model():
    cfg = TrialConfig(d_lr=1e-5, g_lr=1e-3, batch_size=B, n_disc=2)
    regularizers = (consistency.BalancedCR(), consistency.LatentCR(), lecam.LeCam(start_step=1),
                    topk.TopK(gamma=0.75, train_examples=48))
    augment = ada.ADA(interval=2, kimg=0.128)  # 2 steps x 2 D updates x 8 images = 32 images: p moves 0.25
    return cfg, _model(LinearG(), cfg, regularizers, augment, n_disc=2)


def _confident_d(state):
    """D's real logits all positive whatever the augmentation: a bias of 5 over a tiny kernel."""
    dense = state.d.params["Dense_0"]
    params = {"Dense_0": {"kernel": dense["kernel"] * 1e-3, "bias": jnp.full_like(dense["bias"], 5.0)}}
    return state.replace(d=state.d.replace(params=params))


def test_combined_trial_adapts_p_anneals_k_and_resumes_exactly(tmp_path):
    cfg, model = _combined_model()
    step = jax.jit(lambda s, r: train_step(model, s, r))
    real = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, size=(9, 2, B, H, W, C)), jnp.float32)
    start = _confident_d(init_state(model, 0, hparams_of(cfg)))
    assert set(start.objective_state) == {"ada", "lecam"}

    state, ps, ks = start, [], []
    for t in range(9):
        state, logs = step(state, real[t])
        ps.append(float(logs["ada_p"]))
        ks.append(int(logs["topk_k"]))
        for name in ("bcr_real", "bcr_fake", "zcr_dis", "zcr_gen", "lecam", "ada_rt"):
            assert np.isfinite(float(logs[name])), name
        if t == 2:
            checkpoint.save(str(tmp_path / "ckpt"), 3, state, keep=2)
    # r_t = 1 > 0.6 at every adjustment (after steps 1, 3, 5, 7): p += 0.25 each time.
    np.testing.assert_allclose(ps, [0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0, 1.0], atol=1e-6)
    assert float(logs["ada_rt"]) == 1.0
    assert set(logs) <= set(TRAINING_LOG_KEYS)  # the report tells training logs from scores
    # 16 real images per step over 48 examples: epoch = step // 3, k = int(max(0.75^epoch, 0.5) * 8).
    assert ks == [8, 8, 8, 6, 6, 6, 4, 4, 4]
    assert int(state.step) == 9 and int(state.nonfinite_step) == -1

    template = init_state(model, 0, hparams_of(cfg))
    resumed = checkpoint.restore(str(tmp_path / "ckpt"), 3, template)
    assert float(resumed.objective_state["ada"]["p"]) == 0.25
    assert float(resumed.objective_state["lecam"]["real"]) != 0.0
    for t in range(3, 9):
        resumed, _ = step(resumed, real[t])
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(state), jax.tree_util.tree_leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=jax.tree_util.keystr(path))


def test_a_model_built_without_naming_them_takes_the_parsed_configuration():
    parse_config([], ["trial.dataset = 'cifar10'", "trial.regularizers = ['lecam', 'cr']", "lecam.weight = 0.7",
                      "trial.augment = 'ada'", "ada.target = 0.5"])
    cfg = TrialConfig()
    g_tx, d_tx = make_optimizers(cfg)
    model = GANModel(generator=LinearG(), discriminator=LinearD(), loss_fn=LOSSES.get("hinge"), penalty_fn=None,
                     d_projection=None, z_dim=3, z_dist="normal", n_disc=1, pack=1, data_shape=(H, W, C),
                     g_tx=g_tx, d_tx=d_tx)
    assert model.regularizers == (lecam.LeCam(weight=0.7), consistency.CR())
    assert model.augment == ada.ADA(target=0.5)
    with pytest.raises(ValueError, match="transforms images"):
        GANModel(generator=LinearG(), discriminator=LinearD(), loss_fn=LOSSES.get("hinge"), penalty_fn=None,
                 d_projection=None, z_dim=3, z_dist="normal", n_disc=1, pack=1, data_shape=(2,),
                 g_tx=g_tx, d_tx=d_tx)
