"""Regularizer terms against hand computation, and their configuration checks.

Oracles: each term written out in NumPy for a linear D (logits x . k + b) and a linear G (z A + c), on fixed
images and with the regularizer's own fixed draws (its transform through the NumPy DiffAugment oracle, zCR's
latent move from the same key); top-k against sorting by hand and against the loss on the selected fakes.
"""
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from augment_oracles import np_diffaugment
from gan_bench.config import parse_config
from gan_bench.gan import consistency, diffaugment, lecam, objective, topk
from gan_bench.gan.losses import LOSSES
from gan_bench.gan.regularizers import DiscriminatorPass, GeneratorPass

B, H, W, C, Z = 6, 8, 8, 3, 5
RNG = np.random.default_rng(0)
K = RNG.normal(size=H * W * C) * 0.05
BIAS = 0.3
A = RNG.normal(size=(Z, H * W * C)) * 0.2
OFFSET = RNG.normal(size=H * W * C) * 0.1


def np_d(x):
    return np.asarray(x, np.float64).reshape(len(x), -1) @ K + BIAS


def np_g(z):
    return (np.asarray(z, np.float64) @ A + OFFSET).reshape(len(z), H, W, C)


def jnp_d(x):
    return x.reshape(x.shape[0], -1) @ jnp.asarray(K, jnp.float32) + BIAS


def jnp_g(z):
    return (z @ jnp.asarray(A, jnp.float32) + jnp.asarray(OFFSET, jnp.float32)).reshape(z.shape[0], H, W, C)


def _images(seed):
    return np.random.default_rng(seed).uniform(-1, 1, size=(B, H, W, C)).astype(np.float32)


def _d_pass(step=5, key=9):
    real, z = _images(1), np.random.default_rng(2).normal(size=(B, Z)).astype(np.float32)
    fake = np.asarray(jnp_g(jnp.asarray(z)))
    return DiscriminatorPass(real=jnp.asarray(real), fake=jnp.asarray(fake), real_logits=jnp_d(jnp.asarray(real)),
                             fake_logits=jnp_d(jnp.asarray(fake)), discriminate=jnp_d, z=jnp.asarray(z),
                             generate=jnp_g, augment_like_fakes=lambda x: x, key=jax.random.PRNGKey(key),
                             step=jnp.int32(step))


def _transformed(key, images, policy="flip,translation"):
    ops = diffaugment.policy_ops(policy, diffaugment.TRANSFORM_POLICIES)
    return np_diffaugment(images, ops, diffaugment.draw(key, ops, images.shape))


def test_cr_term_is_lambda_times_the_mean_squared_logit_change():
    ctx = _d_pass()
    term, state, logs = consistency.CR().discriminator_term(ctx, {})
    real = np.asarray(ctx.real)
    reg = np.mean((np_d(_transformed(ctx.key, real)) - np_d(real)) ** 2)
    assert reg > 1e-4  # the transform moved D's outputs
    np.testing.assert_allclose(float(logs["cr"]), reg, rtol=1e-4)
    np.testing.assert_allclose(float(term), 10.0 * reg, rtol=1e-4)
    assert state == {}


def test_bcr_adds_the_same_term_on_the_fakes():
    ctx = _d_pass()
    term, _, logs = consistency.BalancedCR(real_weight=10.0, fake_weight=3.0).discriminator_term(ctx, {})
    both = np.concatenate([np.asarray(ctx.real), np.asarray(ctx.fake)])
    moved = np_d(_transformed(ctx.key, both))  # one draw for the concatenated batch
    reg_real = np.mean((moved[:B] - np_d(ctx.real)) ** 2)
    reg_fake = np.mean((moved[B:] - np_d(ctx.fake)) ** 2)
    np.testing.assert_allclose([float(logs["bcr_real"]), float(logs["bcr_fake"])], [reg_real, reg_fake], rtol=1e-4)
    np.testing.assert_allclose(float(term), 10.0 * reg_real + 3.0 * reg_fake, rtol=1e-4)


def test_zcr_terms_move_z_by_sigma_noise():
    ctx = _d_pass()
    z = np.asarray(ctx.z, np.float64)
    moved_z = z + 0.03 * np.asarray(jax.random.normal(ctx.key, z.shape), np.float64)
    reg = consistency.LatentCR()
    term, _, logs = reg.discriminator_term(ctx, {})
    want = np.mean((np_d(np_g(moved_z)) - np_d(np_g(z))) ** 2)
    np.testing.assert_allclose(float(logs["zcr_dis"]), want, rtol=1e-3)
    np.testing.assert_allclose(float(term), 5.0 * want, rtol=1e-3)
    g_ctx = GeneratorPass(z=ctx.z, fake=ctx.fake, real_logits=ctx.real_logits, fake_logits=ctx.fake_logits,
                          generate=jnp_g, key=ctx.key, step=ctx.step)
    g_term, g_logs = reg.generator_term(g_ctx, {})
    want_g = np.mean((np_g(z) - np_g(moved_z)) ** 2)  # over batch and pixels
    np.testing.assert_allclose(float(g_logs["zcr_gen"]), want_g, rtol=1e-3)
    np.testing.assert_allclose(float(g_term), -0.5 * want_g, rtol=1e-3)  # G is pushed to make the move visible


@pytest.mark.parametrize("step,active,decay", [(3, False, 0.0), (10, False, 0.99), (11, True, 0.99)])
def test_lecam_anchors_and_term(step, active, decay):
    ctx = _d_pass(step=step)
    state = {"real": jnp.float32(0.4), "fake": jnp.float32(-0.2)}
    term, anchors, logs = lecam.LeCam(weight=0.3, decay=0.99, start_step=10).discriminator_term(ctx, state)
    real_logits, fake_logits = np_d(ctx.real), np_d(ctx.fake)
    anchor_real = decay * 0.4 + (1 - decay) * real_logits.mean()
    anchor_fake = decay * -0.2 + (1 - decay) * fake_logits.mean()
    np.testing.assert_allclose([float(anchors["real"]), float(anchors["fake"])], [anchor_real, anchor_fake], rtol=1e-5)
    reg = (np.mean(np.maximum(real_logits - anchor_fake, 0) ** 2) + np.mean(np.maximum(anchor_real - fake_logits, 0) ** 2))
    assert reg > 0
    np.testing.assert_allclose(float(logs["lecam"]), reg, rtol=1e-4)
    np.testing.assert_allclose(float(term), 0.3 * reg if active else 0.0, rtol=1e-4)


def test_lecam_gradient_reaches_d_through_both_terms_only():
    """The anchors are constants: the gradient of R_LC in D's logits is 2 relu(.) / n on each side."""
    ctx = _d_pass(step=20)
    reg = lecam.LeCam(start_step=0)
    state = reg.init_state()

    def term_of(real_logits, fake_logits):
        c = DiscriminatorPass(**{**ctx.__dict__, "real_logits": real_logits, "fake_logits": fake_logits})
        return reg.discriminator_term(c, state)[0]

    g_real, g_fake = jax.grad(term_of, argnums=(0, 1))(ctx.real_logits, ctx.fake_logits)
    _, anchors, _ = reg.discriminator_term(ctx, state)
    want_real = 0.3 * 2 * np.maximum(np_d(ctx.real) - float(anchors["fake"]), 0) / B
    want_fake = -0.3 * 2 * np.maximum(float(anchors["real"]) - np_d(ctx.fake), 0) / B
    np.testing.assert_allclose(np.asarray(g_real), want_real, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(np.asarray(g_fake), want_fake, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("loss", ["non_saturating", "hinge", "least_squares", "wasserstein", "minimax"])
def test_topk_loss_is_the_loss_of_the_k_highest_scoring_fakes(loss):
    rng = np.random.default_rng(5)
    real_logits = jnp.asarray(rng.normal(size=8), jnp.float32)
    fake_logits = jnp.asarray(rng.normal(size=8) * 2, jnp.float32)
    loss_fn = LOSSES.get(loss)
    reg = topk.TopK(gamma=0.75, min_fraction=0.5, train_examples=48)
    # 16 real images per step over 48 examples: epoch = step // 3; k = int(max(0.75^e, 0.5) * 8).
    for step, k in ((0, 8), (2, 8), (3, 6), (6, 4), (9, 4), (60, 4)):
        got, logs = reg.generator_loss(loss_fn, real_logits, fake_logits, step, 16)
        assert int(logs["topk_k"]) == k
        best = np.sort(np.asarray(fake_logits))[::-1][:k]
        np.testing.assert_allclose(float(got), float(loss_fn(real_logits, jnp.asarray(best))[1]), rtol=1e-5)
    # The unselected fakes get no gradient.
    grad = jax.grad(lambda f: reg.generator_loss(loss_fn, real_logits, f, 6, 16)[0])(fake_logits)
    chosen = np.argsort(-np.asarray(fake_logits))[:4]
    assert set(np.flatnonzero(np.asarray(grad))) <= set(chosen)


def test_topk_k_follows_the_papers_schedule():
    reg = topk.TopK(train_examples=50_000)  # gamma 0.99, nu 0.5
    per_step = 64 * 5  # batch 64, n_disc 5
    for epoch in (0, 1, 10, 68, 69, 200):
        step = -(-epoch * 50_000 // per_step)  # first step of the epoch
        assert int(reg.k(step, 64, per_step)) == max(int(max(0.99 ** epoch, 0.5) * 64), 1), epoch


def test_topk_refuses_a_loss_whose_fakes_interact():
    assert all(topk.generator_loss_is_per_fake(LOSSES.get(n))
               for n in ("non_saturating", "minimax", "hinge", "least_squares", "wasserstein"))
    assert not topk.generator_loss_is_per_fake(LOSSES.get("relativistic_average"))


# --- configuration: names, gin keys, pairs ----------------------------------------------------------------------

def test_a_trial_holds_regularizers_and_an_augmentation_with_their_gin_keys():
    cfg = parse_config([], ["trial.dataset = 'cifar10'", "trial.regularizers = ['cr', 'lecam', 'zcr']",
                            "trial.augment = 'diffaugment'", "lecam.weight = 0.5", "lecam.decay = 0.9",
                            "diffaugment.policy = 'translation'", "cr.weight = 2.0"])
    assert cfg.regularizers == ("cr", "lecam", "zcr") and cfg.augment == "diffaugment"
    built = objective.configured_regularizers()
    assert [r.name for r in built] == ["cr", "lecam", "zcr"]
    assert built[1] == lecam.LeCam(weight=0.5, decay=0.9, start_step=1000)
    assert built[0].weight == 2.0 and built[2] == consistency.LatentCR()  # paper defaults where unbound
    assert objective.configured_augmentation().ops == ("translation",)


def test_defaults_are_no_regularizer_and_no_augmentation():
    cfg = parse_config([], [])
    assert cfg.regularizers == () and cfg.augment == "none" and cfg.train_fraction == 1.0
    assert objective.configured_regularizers() == () and objective.configured_augmentation() is None


@pytest.mark.parametrize("bindings,message", [
    (["trial.regularizers = ['lecan']"], "unknown regularizer 'lecan'.*did you mean 'lecam'"),
    (["trial.regularizers = 'cr'"], r"trial.regularizers = 'cr' is not a list of names like \['cr', 'lecam'\]"),
    (["trial.augment = 'adaa'"], "unknown augmentation 'adaa'.*did you mean 'ada'"),
    (["trial.regularizers = ['cr', 'bcr']"], "'bcr' already contains 'cr'"),
    (["trial.regularizers = ['lecam', 'lecam']"], "names lecam more than once"),
    (["trial.regularizers = ['lecam']", "lecam.decay = 1.0"], r"lecam.decay = 1.0 is not a number in \[0, 1\)"),
    (["trial.regularizers = ['cr']", "cr.transform = 'flip,shift'"], "cr.transform = 'flip,shift': unknown"),
    (["trial.augment = 'diffaugment'", "diffaugment.policy = 'colour'"], "diffaugment.policy = 'colour'"),
    (["trial.augment = 'ada'", "ada.interval = 0"], "ada.interval = 0 is not an integer >= 1"),
    (["trial.regularizers = ['topk']", "trial.loss = 'relativistic_average'"], "'topk'.*relativistic_average"),
    (["trial.regularizers = ['topk']", "topk.gamma = 1.5"], r"topk.gamma = 1.5 is not a number in \(0, 1\]"),
    (["trial.train_fraction = 0.0"], r"trial.train_fraction must be in \(0, 1\]"),
    (["lecam.wieght = 1.0"], "lecam.*wieght"),
])
def test_bad_regularizer_settings_fail_in_one_line_before_compute(bindings, message):
    with pytest.raises(ValueError, match=message) as err:
        parse_config([], bindings)
    assert "\n" not in str(err.value)


def test_the_model_refuses_image_methods_on_points_and_unsupported_steps():
    def model(**fields):
        base = dict(regularizers=(), augment=None, update_order="alternating", data_shape=(8, 8, 3),
                    loss_fn=LOSSES.get("hinge"), g_bn_per_pack_slot=False, pack=1)
        return types.SimpleNamespace(**{**base, **fields})

    assert objective.model_problems(model(regularizers=(consistency.CR(),))) == []
    assert "transforms images" in objective.model_problems(model(regularizers=(consistency.CR(),), data_shape=(2,)))[0]
    assert objective.model_problems(model(augment=objective.build_augmentation("ada"), data_shape=(2,)))
    assert objective.model_problems(model(regularizers=(lecam.LeCam(),), update_order="simultaneous"))
    assert objective.model_problems(model(regularizers=(consistency.LatentCR(),), g_bn_per_pack_slot=True, pack=2))
    assert objective.model_problems(model(regularizers=(lecam.LeCam(),), data_shape=(2,))) == []  # not image-only
