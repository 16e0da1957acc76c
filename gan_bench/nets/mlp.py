"""Fully connected G and D for the 2-D mixtures (ring, grid) of the mode-collapse papers.

Unrolled GAN (Metz et al. 2017, appendix A) and its reference notebook (poolio/unrolled_gan), reused by
VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018) for the 2-D rings/grids: G and D each have
`depth` = 2 hidden layers of `width` = 128 units (tanh in the notebook), then a linear layer to the data
dimension (G) or to one logit (D); TF-slim `fully_connected` weights (Glorot uniform, zero biases).
Image-shaped data is flattened for D and G ends with tanh (images live in [-1, 1]).
"""
import math
from typing import Callable, Tuple

import gin
import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets.layers import Dense, Normalization, split_d_norm
from gan_bench.nets import ARCHITECTURES

ACTIVATIONS = {"tanh": jnp.tanh, "relu": nn.relu, "lrelu": lambda x: jnp.maximum(x, 0.2 * x)}


class MLPGenerator(nn.Module):
    """z [B, z_dim] -> [B, *data_shape]; `norm` (none|batch) after every hidden layer, before the activation."""

    data_shape: Tuple[int, ...]
    width: int
    depth: int
    activation: str
    norm: str
    bn_groups: int
    kernel_init: Callable

    @nn.compact
    def __call__(self, z, train: bool):
        h = z
        for i in range(self.depth):
            h = Dense(self.width, kernel_init=self.kernel_init, name=f"fc{i + 1}")(h)
            h = Normalization(self.norm, self.bn_groups, name=f"norm{i + 1}")(h, train)
            h = ACTIVATIONS[self.activation](h)
        x = Dense(math.prod(self.data_shape), kernel_init=self.kernel_init, name="out")(h)
        if len(self.data_shape) > 1:
            x = jnp.tanh(x)
        return x.reshape((z.shape[0],) + tuple(self.data_shape))


class MLPDiscriminator(nn.Module):
    """x [B, ...] -> logits [B]; activation normalization after every hidden layer, kernel norm on all layers."""

    width: int
    depth: int
    activation: str
    d_norm: str
    bn_groups: int
    kernel_init: Callable

    @nn.compact
    def __call__(self, x, train: bool):
        norm, weight_norm = split_d_norm(self.d_norm)
        h = x.reshape(x.shape[0], -1)
        for i in range(self.depth):
            h = Dense(self.width, weight_norm, self.kernel_init, name=f"fc{i + 1}")(h, train)
            h = Normalization(norm, self.bn_groups, name=f"norm{i + 1}")(h, train)
            h = ACTIVATIONS[self.activation](h)
        return Dense(1, weight_norm, self.kernel_init, name="out")(h, train)[:, 0].astype(jnp.float32)


@ARCHITECTURES.register("mlp")
@gin.configurable("mlp")
def mlp(*, data_shape, z_dim, d_norm, g_norm, bn_groups=1, g_width=128, g_depth=2, d_width=128, d_depth=2,
        activation="tanh"):
    """The (G, D) pair; widths, depths and the hidden activation (tanh | relu | lrelu) are gin-configurable."""
    del z_dim
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp.activation = {activation!r}; expected one of {sorted(ACTIVATIONS)}")
    for key, value in (("g_width", g_width), ("g_depth", g_depth), ("d_width", d_width), ("d_depth", d_depth)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"mlp.{key} = {value!r}; expected a positive integer")
    init = nn.initializers.glorot_uniform()
    generator = MLPGenerator(tuple(data_shape), g_width, g_depth, activation, g_norm, bn_groups, init)
    discriminator = MLPDiscriminator(d_width, d_depth, activation, d_norm, bn_groups, init)
    return generator, discriminator
