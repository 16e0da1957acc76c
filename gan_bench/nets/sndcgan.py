"""SNDCGAN: the CNN of Miyato et al. 2018 (table 3), as in google/compare_gan `architectures/sndcgan.py`
(Kurach et al. 2019).

G: z -> linear to (H/8)(W/8)*8w, norm, ReLU (normalized before the reshape, per unit, as compare_gan) ->
transposed convs 4x4 stride 2 to 4w, 2w, w, each with norm and ReLU -> transposed conv 3x3 stride 1 to C -> tanh.
D: convs (w, 3x3 s1), (2w, 4x4 s2), (2w, 3x3 s1), (4w, 4x4 s2), (4w, 3x3 s1), (8w, 4x4 s2), (8w, 3x3 s1), each
with leaky ReLU 0.1 -> linear to one logit. w = 64. compare_gan's SNDCGAN D has no activation normalization;
for d_norm batch/layer (the normalization axis of Kurach et al.) it is applied after every conv but the first,
the placement of the DCGAN D.
"""
import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets.base import BuildArgs, Discriminator, Generator, architecture, check_positive
from gan_bench.nets.layers import lrelu, same_size_chain, weight_init

D_LAYERS = ((1, 3, 1), (2, 4, 2), (2, 3, 1), (4, 4, 2), (4, 3, 1), (8, 4, 2), (8, 3, 1))  # (width x, kernel, stride)


class SNDCGANGenerator(Generator):
    """z [B, z_dim] -> images [B, H, W, C] in [-1, 1]."""

    @nn.compact
    def __call__(self, z, train: bool, y=None):
        h, w, c = self.data_shape
        hs, ws = same_size_chain(h, 3), same_size_chain(w, 3)
        z_in, cond = self.inputs(z, y)
        x = self.dense(hs[3] * ws[3] * 8 * self.width, "g_fc1")(z_in)
        x = nn.relu(self.normalize(x, train, "g_bn1", cond))
        x = x.reshape(z.shape[0], hs[3], ws[3], 8 * self.width)
        for i, mult in enumerate((4, 2, 1)):
            x = self.conv_transpose(mult * self.width, 4, 2, (hs[2 - i], ws[2 - i]), f"g_dc{i + 2}")(x)
            x = nn.relu(self.normalize(x, train, f"g_bn{i + 2}", cond))
        return jnp.tanh(self.conv_transpose(c, 3, 1, (h, w), "g_dc5")(x))


class SNDCGANDiscriminator(Discriminator):
    """images [B, H, W, C'] -> logits [B]."""

    @nn.compact
    def __call__(self, x, train: bool, y=None):
        x = self.inputs(x, y)
        for i, (mult, k, s) in enumerate(D_LAYERS):
            x = self.conv2d(mult * self.width, k, s, f"d_conv{i + 1}")(x, train)
            if i > 0:
                x = self.normalization(f"d_bn{i + 1}")(x, train)
            x = lrelu(x, 0.1)
        return self.logits(x, train, "d_fc1", y)


@architecture("sndcgan", images=True)
def sndcgan(args: BuildArgs, g_width=64, d_width=64):
    """The (G, D) pair; base widths (64; layers use 1x-8x) are gin-configurable."""
    check_positive("sndcgan", g_width=g_width, d_width=d_width)
    init = weight_init()
    return (args.generator(SNDCGANGenerator, width=g_width, kernel_init=init),
            args.discriminator(SNDCGANDiscriminator, width=d_width, kernel_init=init))
