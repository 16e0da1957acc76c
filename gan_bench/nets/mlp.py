"""Fully connected G and D for the 2-D mixtures (ring, grid) of the mode-collapse papers.

Unrolled GAN (Metz et al. 2017, appendix A) and its reference notebook (poolio/unrolled_gan), reused by
VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018) for the 2-D rings/grids: G and D each have
`depth` = 2 hidden layers of `width` = 128 units (tanh in the notebook), then a linear layer to the data
dimension (G) or to one logit (D); TF-slim `fully_connected` weights (Glorot uniform, zero biases).
Image-shaped data is flattened for D and G ends with tanh (images live in [-1, 1]).
"""
import math

import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets.base import BuildArgs, Discriminator, Generator, architecture, check_positive
from gan_bench.nets.layers import lrelu

ACTIVATIONS = {"tanh": jnp.tanh, "relu": nn.relu, "lrelu": lrelu}


class MLPGenerator(Generator):
    """z [B, z_dim] -> [B, *data_shape]; `norm` (none|batch) after every hidden layer, before the activation."""

    depth: int
    activation: str

    @nn.compact
    def __call__(self, z, train: bool):
        h = z
        for i in range(self.depth):
            h = self.dense(self.width, f"fc{i + 1}")(h)
            h = self.normalization(f"norm{i + 1}")(h, train)
            h = ACTIVATIONS[self.activation](h)
        x = self.dense(math.prod(self.data_shape), "out")(h)
        if len(self.data_shape) > 1:
            x = jnp.tanh(x)
        return x.reshape((z.shape[0],) + tuple(self.data_shape))


class MLPDiscriminator(Discriminator):
    """x [B, ...] -> logits [B]; activation normalization after every hidden layer, kernel norm on all layers."""

    depth: int
    activation: str

    @nn.compact
    def __call__(self, x, train: bool):
        h = x.reshape(x.shape[0], -1)
        for i in range(self.depth):
            h = self.dense(self.width, f"fc{i + 1}")(h, train)
            h = self.normalization(f"norm{i + 1}")(h, train)
            h = ACTIVATIONS[self.activation](h)
        return self.logits(h, train, "out")


@architecture("mlp")
def mlp(args: BuildArgs, g_width=128, g_depth=2, d_width=128, d_depth=2, activation="tanh"):
    """The (G, D) pair; widths, depths and the hidden activation (tanh | relu | lrelu) are gin-configurable."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp.activation = {activation!r}; expected one of {sorted(ACTIVATIONS)}")
    check_positive("mlp", g_width=g_width, g_depth=g_depth, d_width=d_width, d_depth=d_depth)
    init = nn.initializers.glorot_uniform()
    return (args.generator(MLPGenerator, width=g_width, depth=g_depth, activation=activation, kernel_init=init),
            args.discriminator(MLPDiscriminator, width=d_width, depth=d_depth, activation=activation,
                               kernel_init=init))
