"""Discriminator penalties: `fn(d_apply, d_params, real, fake, key) -> scalar` (unweighted).

`d_apply(params, x) -> logits [B]` runs the discriminator in training mode, as compare_gan does (its
normalization state is closed over; updates from this pass are dropped). The trainer adds
`trial.penalty_weight * penalty` to the discriminator loss. Formulas follow compare_gan's `penalty_lib`
(including its 1e-4 inside the slope's square root), with images in [-1, 1] instead of [0, 1]. To add a
penalty: one function decorated with `@PENALTIES.register("name")`.

A constraint that is not a loss term is registered as a `Projection` instead: the trainer applies it to
D's parameters after each of D's updates. `weight_clipping` is one (Arjovsky et al. 2017: every weight
clipped to [-c, c], c = `trial.clip_value`). `d_regularizer(name)` tells the two kinds apart.
"""
import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp

from gan_bench.registry import Registry

# Selected by `trial.penalty`: loss-term functions and `Projection`s.
PENALTIES = Registry("penalty")

PenaltyFn = Callable[..., jnp.ndarray]  # (d_apply, d_params, real, fake, key) -> unweighted scalar
ProjectionFn = Callable[[Any, Dict[str, jnp.ndarray]], Any]  # (d_params, hparams) -> projected d_params


@dataclasses.dataclass(frozen=True)
class Projection:
    """A constraint on D's parameters enforced by projecting them after each of D's updates.

    `project(d_params, hparams)` reads its traced hyperparameters (e.g. `clip_value`) from `hparams`, so
    members of a population may use different values.
    """

    project: ProjectionFn


def d_regularizer(name: str) -> Tuple[Optional[PenaltyFn], Optional[ProjectionFn]]:
    """(loss term, projection) that `trial.penalty = name` adds to D's training; one of them is None."""
    entry = PENALTIES.get(name)
    if isinstance(entry, Projection):
        return None, entry.project
    return entry, None

# compare_gan adds this inside sqrt(sum g^2) so the slope's gradient stays finite at g = 0.
SLOPE_EPS = 1e-4


def _input_gradients(d_apply, d_params, x):
    """d(sum_i D(x_i)) / dx, per sample: compare_gan's tf.gradients(logits, x)."""
    return jax.grad(lambda inputs: jnp.sum(d_apply(d_params, inputs)))(x)


def _per_sample_sq_norm(g):
    return jnp.sum(jnp.square(g), axis=tuple(range(1, g.ndim)))


def _unit_slope_penalty(d_apply, d_params, x):
    slopes = jnp.sqrt(SLOPE_EPS + _per_sample_sq_norm(_input_gradients(d_apply, d_params, x)))
    return jnp.mean(jnp.square(slopes - 1.0))


@PENALTIES.register("none")
def no_penalty(d_apply, d_params, real, fake, key):
    del d_apply, d_params, real, fake, key
    return jnp.zeros((), jnp.float32)


def clip_weights(d_params, hparams):
    """WGAN's projection (Arjovsky et al. 2017, Algorithm 1): every parameter of D clipped to [-c, c]."""
    c = hparams["clip_value"]
    return jax.tree_util.tree_map(lambda w: jnp.clip(w, -c, c), d_params)


PENALTIES.register("weight_clipping")(Projection(clip_weights))


@PENALTIES.register("wgan_gp")
def wgan_gp(d_apply, d_params, real, fake, key):
    """Gulrajani et al. 2017: E[(||∇D(x̂)|| - 1)^2] at x̂ = x + α(G(z) - x), α ~ U[0, 1] per sample."""
    alpha = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
    interpolates = real + alpha * (fake - real)
    return _unit_slope_penalty(d_apply, d_params, interpolates)


@PENALTIES.register("dragan")
def dragan(d_apply, d_params, real, fake, key):
    """Kodali et al. 2017 as compare_gan: unit-slope penalty at x + std(x)·(U[0,1) - 0.5), clipped to range."""
    del fake
    std = jnp.std(real)
    noisy = real + std * (jax.random.uniform(key, real.shape, real.dtype) - 0.5)
    noisy = jnp.clip(noisy, -1.0, 1.0) if real.ndim == 4 else noisy  # images live in [-1, 1]
    return _unit_slope_penalty(d_apply, d_params, noisy)


@PENALTIES.register("r1")
def r1(d_apply, d_params, real, fake, key):
    """Mescheder et al. 2018, eq. 9: (1/2) E_real[||∇D(x)||^2]; penalty_weight is their γ."""
    del fake, key
    return 0.5 * jnp.mean(_per_sample_sq_norm(_input_gradients(d_apply, d_params, real)))


@PENALTIES.register("r2")
def r2(d_apply, d_params, real, fake, key):
    """Mescheder et al. 2018, eq. 10: (1/2) E_fake[||∇D(x)||^2]."""
    del real, key
    return 0.5 * jnp.mean(_per_sample_sq_norm(_input_gradients(d_apply, d_params, fake)))


@PENALTIES.register("l2")
def l2(d_apply, d_params, real, fake, key):
    """compare_gan's l2_penalty: mean over D's weight matrices/kernels of l2_loss(w) = sum(w^2) / 2.

    Biases, normalization scales and spectral-norm vectors are excluded: only leaves named `kernel`.
    """
    del d_apply, real, fake, key
    kernels = [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(d_params)
               if getattr(path[-1], "key", None) == "kernel"]
    if not kernels:
        raise ValueError("l2 penalty: the discriminator has no parameters named 'kernel'")
    return jnp.mean(jnp.stack([0.5 * jnp.sum(jnp.square(k)) for k in kernels]))
