"""GAN losses: `fn(d_real_logits [B], d_fake_logits [B]) -> (d_loss, g_loss)`.

All take the discriminator's raw logits and return two scalars to be minimized. Formulas follow
compare_gan's `loss_lib` (the implementation behind Lucic et al. 2018 and Kurach et al. 2019), so results
are comparable with those studies. To add a loss: write one function here and decorate it with
`@LOSSES.register("name")`; select it with the gin line `trial.loss = 'name'`.
"""
import jax
import jax.numpy as jnp

from gan_bench.registry import Registry

LOSSES = Registry("loss")


def _softplus(x):
    # -log(sigmoid(x)) == softplus(-x); written with logaddexp for stability at large |x|.
    return jnp.logaddexp(0.0, x)


@LOSSES.register("minimax")
def minimax(d_real_logits, d_fake_logits):
    """Goodfellow et al. 2014 (MM GAN): G minimizes log(1 - D(G(z))) = -softplus(fake)."""
    d_loss = jnp.mean(_softplus(-d_real_logits)) + jnp.mean(_softplus(d_fake_logits))
    g_loss = -jnp.mean(_softplus(d_fake_logits))
    return d_loss, g_loss


@LOSSES.register("non_saturating")
def non_saturating(d_real_logits, d_fake_logits):
    """Goodfellow et al. 2014 (NS GAN): G maximizes log D(G(z)), i.e. minimizes softplus(-fake)."""
    d_loss = jnp.mean(_softplus(-d_real_logits)) + jnp.mean(_softplus(d_fake_logits))
    g_loss = jnp.mean(_softplus(-d_fake_logits))
    return d_loss, g_loss


@LOSSES.register("least_squares")
def least_squares(d_real_logits, d_fake_logits):
    """Mao et al. 2017 (LSGAN) as compare_gan: squared error on sigmoid(logits), targets 1 (real) / 0 (fake).

    compare_gan applies the squares to D's sigmoid output, not to the raw logits; we do the same so that
    study numbers stay comparable.
    """
    d_real, d_fake = jax.nn.sigmoid(d_real_logits), jax.nn.sigmoid(d_fake_logits)
    d_loss = 0.5 * (jnp.mean(jnp.square(d_real - 1.0)) + jnp.mean(jnp.square(d_fake)))
    g_loss = 0.5 * jnp.mean(jnp.square(d_fake - 1.0))
    return d_loss, g_loss


@LOSSES.register("wasserstein")
def wasserstein(d_real_logits, d_fake_logits):
    """Arjovsky et al. 2017 (WGAN): D maximizes E[D(x)] - E[D(G(z))]; needs clipping or a penalty."""
    d_loss = -jnp.mean(d_real_logits) + jnp.mean(d_fake_logits)
    g_loss = -jnp.mean(d_fake_logits)
    return d_loss, g_loss


@LOSSES.register("hinge")
def hinge(d_real_logits, d_fake_logits):
    """Lim & Ye 2017 / Miyato et al. 2018: D uses the hinge, G the Wasserstein-style linear loss."""
    d_loss = jnp.mean(jax.nn.relu(1.0 - d_real_logits)) + jnp.mean(jax.nn.relu(1.0 + d_fake_logits))
    g_loss = -jnp.mean(d_fake_logits)
    return d_loss, g_loss


@LOSSES.register("relativistic_average")
def relativistic_average(d_real_logits, d_fake_logits):
    """Jolicoeur-Martineau 2019 (RaSGAN), eqs. for the standard-GAN relativistic average discriminator.

    D: -E[log σ(C(x_r) - E C(x_f))] - E[log(1 - σ(C(x_f) - E C(x_r)))]; G swaps the roles of real and fake.
    """
    real_rel = d_real_logits - jnp.mean(d_fake_logits)
    fake_rel = d_fake_logits - jnp.mean(d_real_logits)
    d_loss = jnp.mean(_softplus(-real_rel)) + jnp.mean(_softplus(fake_rel))
    g_loss = jnp.mean(_softplus(real_rel)) + jnp.mean(_softplus(-fake_rel))
    return d_loss, g_loss
