"""Consistency regularizers: D should not change its mind under a transform that keeps an image real.

- `cr` (Zhang et al. 2020, "Consistency Regularization for Generative Adversarial Networks"):
  L_D += lambda ||D(x) - D(T(x))||^2 on real images, lambda = 10.
- `bcr` (Zhao et al. 2021, "Improved Consistency Regularization for GANs", balanced CR):
  L_D += lambda_real ||D(x) - D(T(x))||^2 + lambda_fake ||D(G(z)) - D(T(G(z)))||^2, lambda_real = lambda_fake = 10.
- `zcr` (same paper, latent CR): with T(z) = z + dz, dz ~ N(0, sigma_noise^2 I), sigma_noise = 0.03,
  L_D += lambda_dis ||D(G(z)) - D(G(T(z)))||^2 (lambda_dis = 5) and L_G -= lambda_gen ||G(z) - G(T(z))||^2
  (lambda_gen = 0.5): D is made insensitive to small latent moves while G is pushed to make them visible.

||.||^2 of D's outputs is the mean over the batch of the squared difference of logits (D's output before its
activation, as in both papers); for zCR's image term it is the mean over batch and pixels, the scale at which
lambda_gen = 0.5 is used by public reimplementations. D(x) is D's output on the images it judged in its update
(augmented when an augmentation is on), and D(T(x)) is one more pass of D on their transform, its gradient
flowing through both. T (`<name>.transform`) is a flip with probability 1/2 followed by DiffAugment's
translation by up to 1/8 of the size with a zero border: the authors' BigGAN code for DiffAugment runs CR so
(`--CR_augment flip,translation`); Zhang et al. describe T as a horizontal flip and a shift by a few pixels.
"""
import dataclasses

import gin
import jax
import jax.numpy as jnp

from gan_bench.gan import diffaugment
from gan_bench.gan.regularizers import REGULARIZERS, Regularizer, mean_square, number_problems, with_labels

DEFAULT_TRANSFORM = "flip,translation"


def apply_transform(key, policy: str, images):
    """T(images): the operations of `policy` (see diffaugment.TRANSFORM_POLICIES) with fresh draws."""
    ops = diffaugment.policy_ops(policy, diffaugment.TRANSFORM_POLICIES)
    return diffaugment.apply(images, ops, diffaugment.draw(key, ops, images.shape))


def _transform_problems(owner: str, policy) -> list:
    return diffaugment.policy_problems(f"{owner}.transform", policy, diffaugment.TRANSFORM_POLICIES)


def _non_negative(owner, **weights):
    return number_problems(owner, [(k, v, lambda x: x >= 0, "a number >= 0") for k, v in weights.items()])


@REGULARIZERS.register("cr", gin_configurables=("cr",))
@gin.configurable("cr")
@dataclasses.dataclass(frozen=True)
class CR(Regularizer):
    """Zhang et al. 2020: weight * mean((D(T(x)) - D(x))^2) on the real images of each D update."""

    weight: float = 10.0
    transform: str = DEFAULT_TRANSFORM
    name = "cr"
    image_only = True

    def discriminator_term(self, ctx, state):
        transformed = apply_transform(ctx.key, self.transform, ctx.real)
        reg = mean_square(with_labels(ctx.discriminate, transformed, ctx.real_labels), ctx.real_logits)
        return self.weight * reg, state, {"cr": reg}

    def problems(self):
        return _non_negative("cr", weight=self.weight) + _transform_problems("cr", self.transform)


@REGULARIZERS.register("bcr", gin_configurables=("bcr",))
@gin.configurable("bcr")
@dataclasses.dataclass(frozen=True)
class BalancedCR(Regularizer):
    """Zhao et al. 2021, bCR: CR's term on the real images plus the same on the fakes, in one pass of D."""

    real_weight: float = 10.0
    fake_weight: float = 10.0
    transform: str = DEFAULT_TRANSFORM
    name = "bcr"
    image_only = True

    def discriminator_term(self, ctx, state):
        both = apply_transform(ctx.key, self.transform, jnp.concatenate([ctx.real, ctx.fake]))
        labels = None if ctx.real_labels is None else jnp.concatenate([ctx.real_labels, ctx.fake_labels])
        real_t, fake_t = jnp.split(with_labels(ctx.discriminate, both, labels), 2)
        reg_real, reg_fake = mean_square(real_t, ctx.real_logits), mean_square(fake_t, ctx.fake_logits)
        term = self.real_weight * reg_real + self.fake_weight * reg_fake
        return term, state, {"bcr_real": reg_real, "bcr_fake": reg_fake}

    def problems(self):
        return (_non_negative("bcr", real_weight=self.real_weight, fake_weight=self.fake_weight)
                + _transform_problems("bcr", self.transform))


@REGULARIZERS.register("zcr", gin_configurables=("zcr",))
@gin.configurable("zcr")
@dataclasses.dataclass(frozen=True)
class LatentCR(Regularizer):
    """Zhao et al. 2021, zCR: D's outputs close for z and z + dz; G's images apart for them."""

    sigma: float = 0.03
    dis_weight: float = 5.0
    gen_weight: float = 0.5
    name = "zcr"

    def _moved(self, key, z):
        return z + self.sigma * jax.random.normal(key, z.shape, z.dtype)

    def discriminator_term(self, ctx, state):
        moved = ctx.augment_like_fakes(with_labels(ctx.generate, self._moved(ctx.key, ctx.z), ctx.fake_labels))
        reg = mean_square(with_labels(ctx.discriminate, moved, ctx.fake_labels), ctx.fake_logits)
        return self.dis_weight * reg, state, {"zcr_dis": reg}

    def generator_term(self, ctx, state):
        del state
        reg = mean_square(ctx.fake, with_labels(ctx.generate, self._moved(ctx.key, ctx.z), ctx.labels))
        return -self.gen_weight * reg, {"zcr_gen": reg}

    def problems(self):
        return (number_problems("zcr", [("sigma", self.sigma, lambda x: x > 0, "a number > 0")])
                + _non_negative("zcr", dis_weight=self.dis_weight, gen_weight=self.gen_weight))
