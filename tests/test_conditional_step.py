"""The conditional train step against NumPy: AC-GAN's and SS-GAN's cross-entropies and their gradients, the
orthogonal regularization, the truncation trick, G's EMA with a late start (and its resume)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_bench import checkpoint
from gan_bench.gan import auxiliary
from gan_bench.gan.orthogonal import Orthogonal, orthogonal_penalty
from gan_bench.gan.state import init_state
from gan_bench.gan.train_step import _D_LABELS, _D_Z, _G_LABELS, _G_Z, train_step

from conditional_nets import LinearD, LinearG, hparams, model as make_model

SHAPE, CLASSES, BATCH = (4, 4, 1), 3, 8


def np_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def np_cross_entropy(logits, labels):
    """-mean log softmax(logits)[label], in float64."""
    logits = np.asarray(logits, np.float64)
    log_norm = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
    return float(np.mean(log_norm - logits[np.arange(len(labels)), labels]))


def np_with_rotations(images):
    n = len(images) // 4
    return np.concatenate([images] + [np.rot90(images[-n:], k, axes=(1, 2)) for k in (1, 2, 3)])


def key_of(state, purpose, sub=0):
    return jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(state.key, state.step), purpose), sub)


def np_generator(params, z, y):
    h = np.concatenate([np.asarray(z, np.float64), np.eye(CLASSES)[np.asarray(y)]], axis=1)
    out = np.tanh(h @ np.asarray(params["out"]["kernel"], np.float64) + np.asarray(params["out"]["bias"]))
    return out.reshape((-1,) + SHAPE)


def np_heads(params, x):
    """(logit, class logits, rotation logits) of LinearD in float64."""
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    phi = np.asarray(x, np.float64).reshape(len(x), -1) @ p["features"]["kernel"]
    return (phi @ p["logit"]["kernel"][:, 0] + p["logit"]["bias"][0],
            phi @ p["class_head"]["kernel"] + p["class_head"]["bias"],
            phi @ p["rotation_head"]["kernel"] + p["rotation_head"]["bias"])


def sgd():
    return optax.inject_hyperparams(optax.sgd)(learning_rate=1.0)


def conditional_model(**fields):
    return make_model(LinearG(SHAPE, CLASSES), LinearD(CLASSES), SHAPE, CLASSES, g_tx=fields.pop("g_tx", sgd()),
                      d_tx=fields.pop("d_tx", sgd()), **fields)


def real_batch(seed=0, n_disc=1):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (n_disc, BATCH) + SHAPE).astype(np.float32)
    return jnp.asarray(images), jnp.asarray(rng.integers(0, CLASSES, (n_disc, BATCH)), jnp.int32)


@pytest.fixture(autouse=True)
def _exact_matmuls():
    with jax.default_matmul_precision("highest"):
        yield


def test_ac_and_rotation_losses_and_d_gradients_match_numpy():
    ac_weight = 0.7
    model = conditional_model(class_head=True, rotation=True, ac_weight=ac_weight)
    state = init_state(model, 0, hparams(g_lr=0.0, d_lr=1.0))
    real, labels = real_batch()
    new, logs = train_step(model, state, real, labels)

    # D's update: fakes of G at its initial weights for z and labels of D's update 0.
    z = jax.random.normal(key_of(state, _D_Z), (BATCH, 4))
    y_fake = np.asarray(jax.random.randint(key_of(state, _D_LABELS), (BATCH,), 0, CLASSES))
    fake = np_generator(state.g.params, z, y_fake)
    y_real = np.asarray(labels[0])
    _, class_real, rot_real = np_heads(state.d.params, np_with_rotations(np.asarray(real[0])))
    _, class_fake, rot_fake = np_heads(state.d.params, np_with_rotations(fake))
    targets = np.repeat(np.arange(4), BATCH // 4)
    assert float(logs["ac_real"]) == pytest.approx(np_cross_entropy(class_real[:BATCH], y_real), rel=1e-5)
    assert float(logs["ac_fake"]) == pytest.approx(np_cross_entropy(class_fake[:BATCH], y_fake), rel=1e-5)
    assert float(logs["rotation_real"]) == pytest.approx(np_cross_entropy(rot_real[-BATCH:], targets), rel=1e-5)
    assert float(logs["rotation_fake"]) == pytest.approx(np_cross_entropy(rot_fake[-BATCH:], targets), rel=1e-5)

    # Only the heads' losses reach the heads' biases: SGD with lr 1 moves each by minus its closed-form gradient,
    # ac_weight * (real + fake) for the class head, 1.0 * (real only) for the rotation head.
    eye = np.eye(CLASSES)
    class_grad = ac_weight * ((np_softmax(class_real[:BATCH]) - eye[y_real]).mean(0)
                              + (np_softmax(class_fake[:BATCH]) - eye[y_fake]).mean(0))
    rot_grad = 1.0 * (np_softmax(rot_real[-BATCH:]) - np.eye(4)[targets]).mean(0)
    np.testing.assert_allclose(new.d.params["class_head"]["bias"],
                               np.asarray(state.d.params["class_head"]["bias"]) - class_grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new.d.params["rotation_head"]["bias"],
                               np.asarray(state.d.params["rotation_head"]["bias"]) - rot_grad, rtol=1e-5, atol=1e-6)

    # G's pass: its own z and labels, D after its update.
    z_g = jax.random.normal(key_of(state, _G_Z), (BATCH, 4))
    y_g = np.asarray(jax.random.randint(key_of(state, _G_LABELS), (BATCH,), 0, CLASSES))
    _, class_g, rot_g = np_heads(new.d.params, np_with_rotations(np_generator(state.g.params, z_g, y_g)))
    assert float(logs["g_ac_fake"]) == pytest.approx(np_cross_entropy(class_g[:BATCH], y_g), rel=1e-5)
    assert float(logs["g_rotation_fake"]) == pytest.approx(np_cross_entropy(rot_g[-BATCH:], targets), rel=1e-5)


def test_g_loss_adds_ac_and_rotation_terms_with_their_weights():
    """G's gradient with the heads equals the gradient of adversarial + ac_weight * CE + 0.2 * rotation CE,
    each written out here on the same pass (a jnp rewrite of the loss, differentiated by jax)."""
    ac_weight = 1.5
    model = conditional_model(class_head=True, rotation=True, ac_weight=ac_weight)
    state = init_state(model, 1, hparams(g_lr=1.0, d_lr=0.0))  # D frozen: G's pass sees D's initial weights
    real, labels = real_batch(1)
    new, _ = train_step(model, state, real, labels)
    z_g = jax.random.normal(key_of(state, _G_Z), (BATCH, 4))
    y_g = jax.random.randint(key_of(state, _G_LABELS), (BATCH,), 0, CLASSES)
    targets = jnp.repeat(jnp.arange(4), BATCH // 4)
    d = state.d.params

    def heads(x):
        phi = x.reshape(len(x), -1) @ d["features"]["kernel"]
        return (phi @ d["logit"]["kernel"][:, 0] + d["logit"]["bias"][0], phi @ d["class_head"]["kernel"]
                + d["class_head"]["bias"], phi @ d["rotation_head"]["kernel"] + d["rotation_head"]["bias"])

    def g_loss(g):
        h = jnp.concatenate([z_g, jax.nn.one_hot(y_g, CLASSES)], axis=1)
        fake = jnp.tanh(h @ g["out"]["kernel"] + g["out"]["bias"]).reshape((-1,) + SHAPE)
        n = BATCH // 4
        rotated = jnp.concatenate([fake] + [jnp.rot90(fake[-n:], k, axes=(1, 2)) for k in (1, 2, 3)])
        logit, class_logits, rot_logits = heads(rotated)
        adversarial = jnp.mean(jax.nn.softplus(-logit[:BATCH]))  # non-saturating
        ce = lambda lg, y: jnp.mean(-jax.nn.log_softmax(lg)[jnp.arange(len(y)), y])
        return adversarial + ac_weight * ce(class_logits[:BATCH], y_g) + 0.2 * ce(rot_logits[-BATCH:], targets)

    grads = jax.grad(g_loss)(state.g.params)
    expected = jax.tree_util.tree_map(lambda p, g: p - g, state.g.params, grads)
    for a, b in zip(jax.tree_util.tree_leaves(new.g.params), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_cross_entropy_matches_numpy():
    rng = np.random.default_rng(3)
    logits, labels = rng.normal(size=(16, 5)) * 4, rng.integers(0, 5, 16)
    assert float(auxiliary.cross_entropy(jnp.asarray(logits, jnp.float32), jnp.asarray(labels))) == \
        pytest.approx(np_cross_entropy(logits, labels), rel=1e-6)


def test_rotations_are_numpy_rot90_of_the_last_quarter():
    x = np.arange(8 * 3 * 3 * 2, dtype=np.float32).reshape(8, 3, 3, 2)
    np.testing.assert_array_equal(auxiliary.with_rotations(jnp.asarray(x)), np_with_rotations(x))
    np.testing.assert_array_equal(auxiliary.labels_with_rotations(jnp.arange(8)),
                                  np.concatenate([np.arange(8)] + [np.arange(6, 8)] * 3))


def test_truncation_redraws_exactly_the_values_beyond_the_threshold():
    model = conditional_model(truncation=0.5)
    key = jax.random.PRNGKey(7)
    plain = np.asarray(jax.random.normal(key, (500, 4)))
    truncated = np.asarray(model.sample_z(key, 500, truncated=True))
    inside = np.abs(plain) <= 0.5
    assert 0.2 < inside.mean() < 0.6  # both kinds of values are present
    np.testing.assert_array_equal(truncated[inside], plain[inside])
    assert np.all(truncated[~inside] != plain[~inside])
    assert np.all(np.abs(truncated) <= 0.5)
    np.testing.assert_array_equal(model.sample_z(key, 500), plain)  # training draws are never truncated


def np_orthogonal(params):
    total = 0.0
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        names = [str(k.key) for k in path]
        if np.ndim(leaf) < 2 or any("embedding" in n for n in names):
            continue
        w = np.asarray(leaf, np.float64).reshape(-1, leaf.shape[-1])
        gram = w.T @ w
        total += float(np.sum((gram * (1 - np.eye(len(gram)))) ** 2))
    return total


def test_orthogonal_regularization_matches_its_formula():
    rng = np.random.default_rng(0)
    params = {"dense": {"kernel": rng.normal(size=(5, 3)), "bias": rng.normal(size=3)},
              "conv": {"kernel": rng.normal(size=(3, 3, 2, 4))},
              "shared": {"embedding": rng.normal(size=(10, 6))},
              "bn": {"scale": rng.normal(size=4)}}
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)
    assert float(orthogonal_penalty(params)) == pytest.approx(np_orthogonal(params), rel=1e-5)
    # An orthogonal matrix's filters are orthogonal: no penalty.
    q = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    assert float(orthogonal_penalty({"k": jnp.asarray(q * 3.0, jnp.float32)})) == pytest.approx(0.0, abs=1e-4)


def test_orthogonal_regularization_in_the_step_is_logged_and_weighted():
    weight = 0.01
    reg = Orthogonal(weight=weight)
    base = conditional_model()
    model = conditional_model(regularizers=(reg,))
    state = init_state(model, 2, hparams(g_lr=1.0, d_lr=0.0))
    real, labels = real_batch(2)
    with_reg, logs = train_step(model, state, real, labels)
    without, _ = train_step(base, init_state(base, 2, hparams(g_lr=1.0, d_lr=0.0)), real, labels)
    assert float(logs["ortho"]) == pytest.approx(np_orthogonal(state.g.params), rel=1e-5)
    # SGD lr 1: the difference of G's kernels is the penalty's gradient, 4 w (W^T W (1 - I)) times the weight.
    w = np.asarray(state.g.params["out"]["kernel"], np.float64)
    gram = w.T @ w
    grad = 4.0 * w @ (gram * (1 - np.eye(len(gram))))
    np.testing.assert_allclose(np.asarray(without.g.params["out"]["kernel"]) - np.asarray(with_reg.g.params["out"]["kernel"]),
                               weight * grad, rtol=1e-4, atol=1e-6)


def _run(model, state, steps, real, labels):
    params = []
    for _ in range(steps):
        state, _ = train_step(model, state, real, labels)
        params.append(np.asarray(state.g.params["out"]["kernel"], np.float64))
    return state, params


def test_ema_with_late_start_is_the_closed_form_recursion_and_resumes_exactly(tmp_path):
    decay, start = 0.8, 3
    model = conditional_model(ema_start=start, g_tx=optax.inject_hyperparams(optax.adam)(learning_rate=1e-2),
                              d_tx=optax.inject_hyperparams(optax.adam)(learning_rate=1e-2))
    hp = hparams(g_lr=1e-2, d_lr=1e-2, ema_decay=decay)
    real, labels = real_batch(4)
    state0 = init_state(model, 4, hp)
    final, params = _run(model, state0, 6, real, labels)
    # BigGAN's recursion, update k = 1, 2, ...: a copy of G before update `start`, then the running average.
    ema = None
    for k, p in enumerate(params, start=1):
        ema = p if k < start else decay * ema + (1 - decay) * p
    np.testing.assert_allclose(final.ema_params["out"]["kernel"], ema, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(_run(model, state0, 2, real, labels)[0].ema_params["out"]["kernel"], params[1])

    middle, _ = _run(model, state0, 3, real, labels)
    checkpoint.save(str(tmp_path), 3, middle, keep=2)
    step, (restored,) = checkpoint.restore_newest([str(tmp_path)], [init_state(model, 4, hp)])
    assert step == 3
    resumed, _ = _run(model, restored, 3, real, labels)
    for a, b in zip(jax.tree_util.tree_leaves(resumed.ema_params), jax.tree_util.tree_leaves(final.ema_params)):
        np.testing.assert_array_equal(a, b)


def test_labels_are_required_exactly_when_the_model_is_conditional():
    model = conditional_model()
    state = init_state(model, 0, hparams())
    real, labels = real_batch()
    with pytest.raises(ValueError, match="labels must be given"):
        train_step(model, state, real)
    with pytest.raises(ValueError, match="labels have shape"):
        train_step(model, state, real, labels[:, :4])
