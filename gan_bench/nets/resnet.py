"""ResNet-CIFAR (32x32) of google/compare_gan `architectures/resnet_cifar.py` and `resnet_ops.py`
(Kurach et al. 2019, table 7; after Gulrajani et al. 2017 and Miyato et al. 2018).

Block (both nets): shortcut = conv 3x3 of the (up-sampled) input, average-pooled when going down;
main = norm, ReLU, conv 3x3 (after up-sampling in G), norm, ReLU, conv 3x3 (then 2x2 average pooling in D);
out = main + shortcut. Up-sampling is compare_gan's `unpool` (each pixel goes to the top-left of a 2x2 cell,
zeros elsewhere), not nearest neighbour; the conv that follows it is computed without those zeros
(`conv_ops.conv_after_unpool`, a quarter of the FLOPs). `unpool` itself is kept as the reference definition.
G: z -> linear to 4x4x256 -> 3 up blocks (256) -> norm, ReLU -> conv 3x3 to C -> tanh.
D: blocks (128, down), (128, down), (128), (128) -> ReLU -> mean over H, W -> linear to one logit.
"""
import gin
import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets import ARCHITECTURES
from gan_bench.nets.layers import Conv, Dense, Normalization, check_image_shape, split_d_norm, weight_init


def unpool(x):
    """[B, H, W, C] -> [B, 2H, 2W, C] with x at even positions and zeros elsewhere (compare_gan `unpool`)."""
    b, h, w, c = x.shape
    out = jnp.zeros((b, h, 2, w, 2, c), x.dtype).at[:, :, 0, :, 0, :].set(x)
    return out.reshape(b, 2 * h, 2 * w, c)


def avg_pool(x):
    """2x2 average pooling, stride 2 ('SAME' on even sizes is exactly the 2x2 mean)."""
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class ResNetBlock(nn.Module):
    """x [B, H, W, C] -> [B, H', W', features]; scale 'up' (G, H' = 2H), 'down' (D, H' = H/2) or 'none'."""

    features: int
    scale: str
    norm: str
    weight_norm: str
    bn_groups: int
    kernel_init: object

    def _conv(self, x, scale, name, train):
        # "up": the conv of unpool(x), computed without the unpooled map's zeros (`conv_ops.conv_after_unpool`).
        x = Conv(self.features, 3, 1, self.weight_norm, self.kernel_init, unpool_input=scale == "up",
                 name=f"{scale}_{name}")(x, train)
        return avg_pool(x) if scale == "down" else x

    @nn.compact
    def __call__(self, x, train: bool):
        is_gen = self.scale == "up"
        shortcut = self._conv(x, self.scale, "conv_shortcut", train)
        x = nn.relu(Normalization(self.norm, self.bn_groups, name="norm1")(x, train))
        x = self._conv(x, self.scale if is_gen else "none", "conv1", train)
        x = nn.relu(Normalization(self.norm, self.bn_groups, name="norm2")(x, train))
        x = self._conv(x, "none" if is_gen else self.scale, "conv2", train)
        return x + shortcut


class ResNetGenerator(nn.Module):
    """z [B, z_dim] -> images [B, 32, 32, C] in [-1, 1]."""

    channels: int
    width: int
    norm: str
    bn_groups: int
    kernel_init: object

    @nn.compact
    def __call__(self, z, train: bool):
        x = Dense(4 * 4 * self.width, kernel_init=self.kernel_init, name="fc_noise")(z)
        x = x.reshape(z.shape[0], 4, 4, self.width)
        for i in range(3):
            x = ResNetBlock(self.width, "up", self.norm, "none", self.bn_groups, self.kernel_init, name=f"B{i + 1}")(x, train)
        x = nn.relu(Normalization(self.norm, self.bn_groups, name="final_norm")(x, train))
        return jnp.tanh(Conv(self.channels, 3, 1, kernel_init=self.kernel_init, name="final_conv")(x))


class ResNetDiscriminator(nn.Module):
    """images [B, 32, 32, C'] -> logits [B]."""

    width: int
    d_norm: str
    bn_groups: int
    kernel_init: object

    @nn.compact
    def __call__(self, x, train: bool):
        norm, wn = split_d_norm(self.d_norm)
        for i, scale in enumerate(("down", "down", "none", "none")):
            x = ResNetBlock(self.width, scale, norm, wn, self.bn_groups, self.kernel_init, name=f"B{i + 1}")(x, train)
        h = jnp.mean(nn.relu(x), axis=(1, 2))
        return Dense(1, wn, self.kernel_init, name="disc_final_fc")(h, train)[:, 0].astype(jnp.float32)


@ARCHITECTURES.register("resnet_cifar")
@gin.configurable("resnet_cifar")
def resnet_cifar(*, data_shape, z_dim, d_norm, g_norm, bn_groups=1, g_width=256, d_width=128):
    """The (G, D) pair for 32x32 images; channel widths (G 256, D 128) are gin-configurable."""
    del z_dim
    h, w, c = check_image_shape("resnet_cifar", data_shape)
    if (h, w) != (32, 32):
        raise ValueError(f"architecture 'resnet_cifar' needs 32x32 images; got data_shape {tuple(data_shape)}")
    init = weight_init()
    return (ResNetGenerator(c, g_width, g_norm, bn_groups, init),
            ResNetDiscriminator(d_width, d_norm, bn_groups, init))
