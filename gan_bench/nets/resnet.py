"""ResNet-CIFAR (32x32) of google/compare_gan `architectures/resnet_cifar.py` and `resnet_ops.py`
(Kurach et al. 2019, table 7; after Gulrajani et al. 2017 and Miyato et al. 2018).

Block (both nets): shortcut = conv 3x3 of the (up-sampled) input, average-pooled when going down;
main = norm, ReLU, conv 3x3 (after up-sampling in G), norm, ReLU, conv 3x3 (then 2x2 average pooling in D);
out = main + shortcut. Up-sampling is compare_gan's `unpool` (each pixel goes to the top-left of a 2x2 cell,
zeros elsewhere), not nearest neighbour; the conv that follows it is computed without those zeros
(`ConvImpl.conv_after_unpool`, a quarter of the FLOPs). `unpool` itself is kept as the reference definition.
G: z -> linear to 4x4x256 -> 3 up blocks (256) -> norm, ReLU -> conv 3x3 to C -> tanh.
D: blocks (128, down), (128, down), (128), (128) -> ReLU -> mean over H, W -> linear to one logit.
"""
import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets.base import BuildArgs, Discriminator, Generator, Net, architecture, check_positive
from gan_bench.nets.conditioning import conditional_normalization
from gan_bench.nets.layers import weight_init


def unpool(x):
    """[B, H, W, C] -> [B, 2H, 2W, C] with x at even positions and zeros elsewhere (compare_gan `unpool`)."""
    b, h, w, c = x.shape
    out = jnp.zeros((b, h, 2, w, 2, c), x.dtype).at[:, :, 0, :, 0, :].set(x)
    return out.reshape(b, 2 * h, 2 * w, c)


def avg_pool(x):
    """2x2 average pooling, stride 2 ('SAME' on even sizes is exactly the 2x2 mean)."""
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class ResNetBlock(Net):
    """x [B, H, W, C] -> [B, H', W', width]; scale 'up' (G, H' = 2H), 'down' (D, H' = H/2) or 'none'.
    G's blocks normalize under G's `conditioning` (from `cond`), D's unconditionally."""

    scale: str
    conditioning: str = "none"
    num_classes: int = 0

    def _conv(self, x, scale, name, train):
        # "up": the conv of unpool(x), computed without the unpooled map's zeros.
        x = self.conv2d(self.width, 3, 1, f"{scale}_{name}", unpool_input=scale == "up")(x, train)
        return avg_pool(x) if scale == "down" else x

    @nn.compact
    def __call__(self, x, train: bool, cond=None):
        is_gen = self.scale == "up"
        shortcut = self._conv(x, self.scale, "conv_shortcut", train)
        x = nn.relu(conditional_normalization(self, x, train, "norm1", cond))
        x = self._conv(x, self.scale if is_gen else "none", "conv1", train)
        x = nn.relu(conditional_normalization(self, x, train, "norm2", cond))
        x = self._conv(x, "none" if is_gen else self.scale, "conv2", train)
        return x + shortcut


class ResNetGenerator(Generator):
    """z [B, z_dim] -> images [B, 32, 32, C] in [-1, 1]."""

    @nn.compact
    def __call__(self, z, train: bool, y=None):
        z_in, cond = self.inputs(z, y)
        x = self.dense(4 * 4 * self.width, "fc_noise")(z_in)
        x = x.reshape(z.shape[0], 4, 4, self.width)
        for i in range(3):
            x = self.part(ResNetBlock, f"B{i + 1}", scale="up", conditioning=self.conditioning,
                          num_classes=self.num_classes)(x, train, cond)
        x = nn.relu(self.normalize(x, train, "final_norm", cond))
        return jnp.tanh(self.conv2d(self.data_shape[-1], 3, 1, "final_conv")(x))


class ResNetDiscriminator(Discriminator):
    """images [B, 32, 32, C'] -> logits [B]."""

    @nn.compact
    def __call__(self, x, train: bool, y=None):
        x = self.inputs(x, y)
        for i, scale in enumerate(("down", "down", "none", "none")):
            x = self.part(ResNetBlock, f"B{i + 1}", scale=scale)(x, train)
        return self.logits(jnp.mean(nn.relu(x), axis=(1, 2)), train, "disc_final_fc", y)


@architecture("resnet_cifar", images=True, image_size=(32, 32))
def resnet_cifar(args: BuildArgs, g_width=256, d_width=128):
    """The (G, D) pair for 32x32 images; channel widths (G 256, D 128) are gin-configurable."""
    check_positive("resnet_cifar", g_width=g_width, d_width=d_width)
    init = weight_init()
    return (args.generator(ResNetGenerator, width=g_width, kernel_init=init),
            args.discriminator(ResNetDiscriminator, width=d_width, kernel_init=init))
