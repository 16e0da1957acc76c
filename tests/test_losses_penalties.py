"""Losses and penalties against values computed by hand (math in the comments)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_bench.gan.losses import LOSSES
from gan_bench.gan.penalties import PENALTIES, SLOPE_EPS, Projection, d_regularizer

REAL = np.array([2.0, -1.0, 0.5], np.float32)
FAKE = np.array([-3.0, 0.0, 1.0], np.float32)


def sp(x):  # softplus(x) = log(1 + e^x)
    return math.log1p(math.exp(x))


def sig(x):
    return 1 / (1 + math.exp(-x))


def mean(xs):
    return sum(xs) / len(xs)


# Expected (d_loss, g_loss) written out per loss from the papers' definitions.
EXPECTED = {
    # D: -log σ(r) - log(1-σ(f)) = softplus(-r) + softplus(f)
    "non_saturating": (mean([sp(-r) for r in REAL]) + mean([sp(f) for f in FAKE]), mean([sp(-f) for f in FAKE])),
    # G minimizes log(1 - σ(f)) = -softplus(f)
    "minimax": (mean([sp(-r) for r in REAL]) + mean([sp(f) for f in FAKE]), -mean([sp(f) for f in FAKE])),
    "least_squares": (0.5 * (mean([(sig(r) - 1) ** 2 for r in REAL]) + mean([sig(f) ** 2 for f in FAKE])),
                      0.5 * mean([(sig(f) - 1) ** 2 for f in FAKE])),
    "wasserstein": (-mean(REAL) + mean(FAKE), -mean(FAKE)),
    "hinge": (mean([max(0, 1 - r) for r in REAL]) + mean([max(0, 1 + f) for f in FAKE]), -mean(FAKE)),
    "relativistic_average": (
        mean([sp(-(r - mean(FAKE))) for r in REAL]) + mean([sp(f - mean(REAL)) for f in FAKE]),
        mean([sp(r - mean(FAKE)) for r in REAL]) + mean([sp(-(f - mean(REAL))) for f in FAKE])),
    # The energy losses' own parts, E[D(x)] and E[D(G(z))] (their k_t / margin terms: tests/test_energy_gans.py).
    "began": (mean(REAL), mean(FAKE)),
    "ebgan": (mean(REAL), mean(FAKE)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loss_values(name):
    d_loss, g_loss = LOSSES.get(name)(jnp.asarray(REAL), jnp.asarray(FAKE))
    np.testing.assert_allclose([float(d_loss), float(g_loss)], EXPECTED[name], rtol=1e-5)


def test_every_registered_loss_is_checked():
    assert set(LOSSES.names()) == set(EXPECTED)


def test_unknown_loss_names_choices():
    with pytest.raises(ValueError, match="unknown loss 'hing'.*hinge"):
        LOSSES.get("hing")


# A linear discriminator D(x) = <w, x> + b has gradient w everywhere, so ||∇D|| = ||w|| exactly.
W = np.arange(1.0, 13.0, dtype=np.float32).reshape(2, 2, 3) / 20.0  # ||w||^2 = sum(k^2)/400 = 650/400


def linear_d(params, x):
    return jnp.sum(x * params["kernel"], axis=(1, 2, 3)) + params["bias"]


PARAMS = {"kernel": jnp.asarray(W), "bias": jnp.asarray(0.3)}
REAL_X = jax.random.uniform(jax.random.PRNGKey(0), (5, 2, 2, 3), minval=-1, maxval=1)
FAKE_X = jax.random.uniform(jax.random.PRNGKey(1), (5, 2, 2, 3), minval=-1, maxval=1)
W_SQ = 650.0 / 400.0


@pytest.mark.parametrize("name", ["wgan_gp", "dragan"])
def test_unit_slope_penalties_on_linear_d(name):
    # slope = sqrt(1e-4 + ||w||^2) at every point, so the penalty is (slope - 1)^2 whatever the samples.
    got = PENALTIES.get(name)(linear_d, PARAMS, REAL_X, FAKE_X, jax.random.PRNGKey(2))
    assert float(got) == pytest.approx((math.sqrt(SLOPE_EPS + W_SQ) - 1) ** 2, rel=1e-5)


@pytest.mark.parametrize("name", ["r1", "r2"])
def test_r1_r2_on_linear_d(name):
    # (1/2) E ||∇D||^2 = ||w||^2 / 2
    got = PENALTIES.get(name)(linear_d, PARAMS, REAL_X, FAKE_X, jax.random.PRNGKey(2))
    assert float(got) == pytest.approx(W_SQ / 2, rel=1e-5)


def test_wgan_gp_on_quadratic_d_uses_interpolates():
    # D(x) = 0.5 * sum(x^2) has ∇D(x) = x; with real = 0 and fake = f, x̂ = α f, slope = sqrt(1e-4 + α²||f||²).
    d = lambda p, x: 0.5 * jnp.sum(x ** 2, axis=(1, 2, 3))
    real = jnp.zeros((4, 1, 1, 2))
    fake = jnp.array([[3.0, 4.0]] * 4).reshape(4, 1, 1, 2)  # ||f|| = 5
    key = jax.random.PRNGKey(7)
    alpha = np.asarray(jax.random.uniform(key, (4, 1, 1, 1))).ravel()
    expected = np.mean((np.sqrt(SLOPE_EPS + (5 * alpha) ** 2) - 1) ** 2)
    assert float(PENALTIES.get("wgan_gp")(d, {}, real, fake, key)) == pytest.approx(expected, rel=1e-5)


def test_l2_penalty_is_mean_of_half_squared_kernels():
    params = {"a": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)}, "b": {"kernel": 2 * jnp.ones((4,))}}
    # l2_loss = sum(w^2)/2: layer a -> 3, layer b -> 8; mean = 5.5; biases excluded.
    assert float(PENALTIES.get("l2")(None, params, None, None, None)) == pytest.approx(5.5)


def test_no_penalty_is_zero():
    assert float(PENALTIES.get("none")(linear_d, PARAMS, REAL_X, FAKE_X, None)) == 0.0


def test_weight_clipping_projects_every_parameter_onto_the_box():
    # WGAN (Arjovsky et al. 2017, Algorithm 1): w <- clip(w, -c, c) for every parameter, biases included.
    rng = np.random.default_rng(0)
    params = {"fc": {"kernel": rng.normal(0, 0.2, (3, 4)).astype(np.float32),
                     "bias": np.array([0.5, -0.05, 0.0, -2.0], np.float32)},
              "norm": {"scale": np.ones(4, np.float32)}}
    term, project = d_regularizer("weight_clipping")
    assert term is None
    got = project(jax.tree_util.tree_map(jnp.asarray, params), {"clip_value": jnp.float32(0.1)})
    for x, y in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(got)):
        np.testing.assert_array_equal(np.asarray(y), np.clip(x, np.float32(-0.1), np.float32(0.1)))


def test_every_penalty_is_either_a_loss_term_or_a_projection():
    for name in PENALTIES.names():
        term, projection = d_regularizer(name)
        assert (term is None) != (projection is None), name
        assert isinstance(PENALTIES.get(name), Projection) == (projection is not None), name
