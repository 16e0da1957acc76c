"""Fully connected G and D for the 2-D mixtures (ring, grid) of the mode-collapse papers.

Unrolled GAN (Metz et al. 2017, appendix A) and its reference notebook (poolio/unrolled_gan), reused by
VEEGAN (Srivastava et al. 2017): G and D each have `depth` = 2 hidden layers of `width` = 128 units (tanh in
the notebook), then a linear layer to the data dimension (G) or to one logit (D); TF-slim `fully_connected`
weights (Glorot uniform, zero biases). Image-shaped data is flattened for D and G ends with tanh (images
live in [-1, 1]).

PacGAN (Lin et al. 2018, fjxmlzn/PacGAN, after ALI's Blocks code) needs more choices, each a gin key of
`mlp` whose default keeps the nets above: per-network activations (`g_activation`, `d_activation`, falling
back to the shared `activation`), per-network initialization (`g_init`, `d_init`: 'glorot_uniform' or
'normal_<std>', e.g. 'normal_0.02'), G's hidden layers without bias (`g_hidden_bias = False`, as Blocks'
`MLP(use_bias=False)` before batch norm) and maxout hidden layers in D (`d_layer = 'maxout'`,
`maxout_pieces`): PacGAN's D is 3 maxout layers of 200 units with 5 pieces each.
"""
import math
import re

import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets.base import BuildArgs, Discriminator, Generator, architecture, check_positive
from gan_bench.nets.layers import Dense, LinearMaxout, lrelu

ACTIVATIONS = {"tanh": jnp.tanh, "relu": nn.relu, "lrelu": lrelu}
D_LAYERS = ("dense", "maxout")


def initializer(key: str, value: str):
    """Kernel initializer from its name: 'glorot_uniform' or 'normal_<std>' (N(0, std^2), Blocks'
    IsotropicGaussian(std)); ValueError naming `mlp.<key>` otherwise."""
    if value == "glorot_uniform":
        return nn.initializers.glorot_uniform()
    match = re.fullmatch(r"normal_(\d+(?:\.\d*)?(?:e-?\d+)?)", value) if isinstance(value, str) else None
    if match and float(match.group(1)) > 0:
        return nn.initializers.normal(float(match.group(1)))
    raise ValueError(f"mlp.{key} = {value!r}; expected 'glorot_uniform' or 'normal_<std>' with std > 0 "
                     f"(e.g. 'normal_0.02')")


class MLPGenerator(Generator):
    """z [B, z_dim] -> [B, *data_shape]; `norm` (none|batch) after every hidden layer, before the activation.
    The output layer always has a bias; the hidden ones only with `hidden_bias`."""

    depth: int
    activation: str
    hidden_bias: bool = True

    @nn.compact
    def __call__(self, z, train: bool, y=None):
        h, cond = self.inputs(z, y)
        for i in range(self.depth):
            h = Dense(self.width, self.weight_norm, self.kernel_init, use_bias=self.hidden_bias,
                      name=f"fc{i + 1}")(h)
            h = self.normalize(h, train, f"norm{i + 1}", cond)
            h = ACTIVATIONS[self.activation](h)
        x = self.dense(math.prod(self.data_shape), "out")(h)
        if len(self.data_shape) > 1:
            x = jnp.tanh(x)
        return x.reshape((z.shape[0],) + tuple(self.data_shape))


class MLPDiscriminator(Discriminator):
    """x [B, ...] -> logits [B]; activation normalization after every hidden layer, kernel norm on all layers.

    `layer = 'maxout'`: each hidden layer is a `LinearMaxout` of `pieces` pieces and no activation follows it
    (the maximum is the nonlinearity)."""

    depth: int
    activation: str
    layer: str = "dense"
    pieces: int = 1

    @nn.compact
    def __call__(self, x, train: bool, y=None):
        h = self.inputs(x.reshape(x.shape[0], -1), y)
        for i in range(self.depth):
            if self.layer == "maxout":
                h = LinearMaxout(self.width, self.pieces, self.weight_norm, self.kernel_init,
                                 name=f"fc{i + 1}")(h, train)
                h = self.normalization(f"norm{i + 1}")(h, train)
            else:
                h = self.dense(self.width, f"fc{i + 1}")(h, train)
                h = self.normalization(f"norm{i + 1}")(h, train)
                h = ACTIVATIONS[self.activation](h)
        return self.logits(h, train, "out", y)


def _check_activation(key: str, value) -> None:
    if value not in ACTIVATIONS:
        raise ValueError(f"mlp.{key} = {value!r}; expected one of {sorted(ACTIVATIONS)}")


@architecture("mlp")
def mlp(args: BuildArgs, g_width=128, g_depth=2, d_width=128, d_depth=2, activation="tanh", g_activation=None,
        d_activation=None, g_init="glorot_uniform", d_init="glorot_uniform", g_hidden_bias=True, d_layer="dense",
        maxout_pieces=5):
    """The (G, D) pair. `activation` (tanh | relu | lrelu) is the default of `g_activation` and `d_activation`;
    see the module docstring for the other keys. Every key is checked before anything is built."""
    _check_activation("activation", activation)
    g_activation = activation if g_activation is None else g_activation
    d_activation = activation if d_activation is None else d_activation
    _check_activation("g_activation", g_activation)
    _check_activation("d_activation", d_activation)
    check_positive("mlp", g_width=g_width, g_depth=g_depth, d_width=d_width, d_depth=d_depth,
                   maxout_pieces=maxout_pieces)
    if d_layer not in D_LAYERS:
        raise ValueError(f"mlp.d_layer = {d_layer!r}; expected one of {', '.join(D_LAYERS)}")
    if not isinstance(g_hidden_bias, bool):
        raise ValueError(f"mlp.g_hidden_bias = {g_hidden_bias!r}; expected True or False")
    g_kernel_init, d_kernel_init = initializer("g_init", g_init), initializer("d_init", d_init)
    return (args.generator(MLPGenerator, width=g_width, depth=g_depth, activation=g_activation,
                           hidden_bias=g_hidden_bias, kernel_init=g_kernel_init),
            args.discriminator(MLPDiscriminator, width=d_width, depth=d_depth, activation=d_activation,
                               layer=d_layer, pieces=maxout_pieces if d_layer == "maxout" else 1,
                               kernel_init=d_kernel_init))
