"""Autoencoder discriminators for the energy-based objectives (gan/energy.py: `trial.loss = 'began' | 'ebgan'`).

D(x) = the reconstruction error of x, one float32 energy per example: encoder -> code h (written with
`self.sow('heads', 'embedding', h)`, EBGAN's pulling-away term reads it) -> decoder -> reconstruction r,
energy 'l1' = mean over pixels of |x - r| (BEGAN, Berthelot et al. 2017, eq. 1 with eta = 1) or 'mse' = mean of
(x - r)^2 (EBGAN, Zhao et al. 2017). The reconstruction is also sown into "intermediates" (`reconstruction`),
so its energy can be checked from outside. Packed inputs (PacGAN) are reconstructed with all their channels.

Families (each factory's `energy` and `code_dim` are gin keys):
- `began_autoencoder`: BEGAN's nets (paper, figure 1; carpedm20/BEGAN-tensorflow models.py, which the paper
  links): G = decoder = FC to 8x8xn, then per scale two 3x3 convs with ELU and a nearest-neighbour 2x up-sampling
  (none after the last scale), then a 3x3 conv to C with no output activation. Encoder: a 3x3 conv to n, then per
  scale i two 3x3 convs to (i + 1) n with ELU and a stride-2 3x3 conv sub-sampling (none after the last scale),
  then FC to h. Square images of 8 x 2^k; h = `code_dim` (N_h = N_z = 64 in the paper), n = `width` (128 as the
  implementation's default). The paper's nets have no batch norm (trial.d_norm / g_norm 'none', as its preset);
  for a study's normalization axis, d_norm batch/layer normalizes after every conv of D but the encoder's first
  and the output conv, g_norm after every conv of G's blocks (before the ELU). The paper's ELU is used where carpedm20's
  slim layers add their default ReLU.
- `ebgan_autoencoder`: the EBGAN MNIST nets of hwalsuklee/tensorflow-generative-model-collections (EBGAN.py):
  D = conv 4x4 stride 2 to 64, ReLU -> FC to 32 (the embedding) -> FC to 64 (H/2)(W/2), norm, ReLU ->
  transposed conv 4x4 stride 2 to C; G = the InfoGAN-style G of Lucic et al. (`infogan`, whose leaky ReLUs
  stand where the reference's InfoGAN G has ReLUs). Outputs pass tanh (images in [-1, 1]; the reference's
  sigmoid is for [0, 1]). Its energy is per example (the reference takes |r - x| over the whole batch / B).
- `dcgan_autoencoder`: encoder = the DCGAN D's conv stack (`dcgan`: 5x5 stride 2, w, 2w, 4w, 8w), FC to the
  code, decoder = a DCGAN G of width w from the code; G = the DCGAN G.
- `resnet_cifar_autoencoder`: encoder = the ResNet-CIFAR D's blocks, ReLU and spatial mean, FC to the code,
  decoder = a ResNet-CIFAR G of width w from the code; G = the ResNet-CIFAR G (32x32).
The decoders of the last two mirror their G, so a study can swap a family's classifier D for its autoencoder
while G stays the same. Autoencoder discriminators are unconditional: class conditioning is refused.
"""
import dataclasses
import math

import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets.base import BuildArgs, Discriminator, Generator, Net, architecture, check_positive
from gan_bench.nets.dcgan import DCGANGenerator
from gan_bench.nets.infogan import InfoGANGenerator
from gan_bench.nets.layers import lrelu, weight_init
from gan_bench.nets.resnet import ResNetBlock, ResNetGenerator

ENERGIES = ("l1", "mse")


def reconstruction_energy(x, reconstruction, energy: str):
    """Per-example reconstruction error [B] float32: mean over all other axes of |x - r| ('l1') or (x - r)^2
    ('mse')."""
    diff = (x.astype(jnp.float32) - reconstruction.astype(jnp.float32)).reshape(x.shape[0], -1)
    if energy == "l1":
        return jnp.mean(jnp.abs(diff), axis=1)
    if energy == "mse":
        return jnp.mean(jnp.square(diff), axis=1)
    raise ValueError(f"energy = {energy!r}; expected one of {', '.join(ENERGIES)}")


class AutoencoderDiscriminator(Discriminator):
    """x [B, H, W, C'] -> energies [B] float32. A subclass defines `encode(x, train)` -> features and
    `decode(code, shape, train)` -> a reconstruction of shape [B, *shape]."""

    code_dim: int
    energy: str
    outputs_energy = True  # the energy losses (gan/energy.py) read D's outputs as energies

    def encode(self, x, train: bool):
        raise NotImplementedError

    def decode(self, code, shape, train: bool):
        raise NotImplementedError

    def decoder(self, cls, shape, **fields):
        """A generator class of a family used as the decoder: this net's fields, data_shape = `shape`,
        unconditional."""
        names = {f.name for f in dataclasses.fields(cls)}
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(Net) if f.name not in ("parent", "name")}
        unconditional = {k: v for k, v in (("num_classes", 0), ("conditioning", "none")) if k in names}
        return cls(**{**shared, **unconditional, "data_shape": tuple(shape), **fields}, name="decoder")

    @nn.compact
    def __call__(self, x, train: bool, y=None):
        del y  # unconditional (conditioning is refused when the nets are built)
        h = self.encode(x, train)
        code = self.dense(self.code_dim, "code")(h.reshape(h.shape[0], -1), train)
        self.sow("heads", "embedding", code.astype(jnp.float32))
        reconstruction = self.decode(code, x.shape[1:], train)
        self.sow("intermediates", "reconstruction", reconstruction)
        return reconstruction_energy(x, reconstruction, self.energy)


# --- BEGAN ----------------------------------------------------------------------------------------------------

def _began_scales(size: int) -> int:
    return int(math.log2(size // 8)) + 1


def _upsample(x):
    """Nearest-neighbour 2x up-sampling [B, H, W, C] -> [B, 2H, 2W, C]."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _began_conv(net: Net, x, features: int, strides: int, name: str, train: bool):
    """A 3x3 conv of BEGAN's nets, the net's activation normalization (none in the paper's nets), ELU."""
    x = net.conv2d(features, 3, strides, name)(x, train)
    return nn.elu(net.normalization(f"{name}_norm")(x, train))


def began_decode(net: Net, code, shape, prefix: str, train: bool):
    """BEGAN's decoder (and generator) from `code` to [B, *shape], layers named `<prefix>_*`."""
    h, w, c = shape
    scales = _began_scales(h)
    x = net.dense(8 * 8 * net.width, f"{prefix}_fc")(code, train).reshape(code.shape[0], 8, 8, net.width)
    for i in range(scales):
        x = _began_conv(net, x, net.width, 1, f"{prefix}_conv{i}a", train)
        x = _began_conv(net, x, net.width, 1, f"{prefix}_conv{i}b", train)
        if i < scales - 1:
            x = _upsample(x)
    return net.conv2d(c, 3, 1, f"{prefix}_out")(x, train)


class BEGANGenerator(Generator):
    """z [B, z_dim] -> images [B, H, W, C] (no output activation, as BEGAN's)."""

    @nn.compact
    def __call__(self, z, train: bool, y=None):
        del y
        return began_decode(self, z, self.data_shape, "g", train)


class BEGANDiscriminator(AutoencoderDiscriminator):
    def encode(self, x, train: bool):
        scales = _began_scales(x.shape[1])
        x = nn.elu(self.conv2d(self.width, 3, 1, "enc_conv_in")(x, train))
        for i in range(scales):
            channels = (i + 1) * self.width
            x = _began_conv(self, x, channels, 1, f"enc_conv{i}a", train)
            x = _began_conv(self, x, channels, 1, f"enc_conv{i}b", train)
            if i < scales - 1:
                x = _began_conv(self, x, channels, 2, f"enc_down{i}", train)
        return x

    def decode(self, code, shape, train: bool):
        return began_decode(self, code, shape, "dec", train)


# --- EBGAN (MNIST) --------------------------------------------------------------------------------------------

class EBGANDiscriminator(AutoencoderDiscriminator):
    def encode(self, x, train: bool):
        return nn.relu(self.conv2d(self.width, 4, 2, "enc_conv1")(x, train))

    def decode(self, code, shape, train: bool):
        h, w, c = shape
        x = self.dense(self.width * (h // 2) * (w // 2), "dec_fc")(code, train)
        x = nn.relu(self.normalization("dec_bn")(x, train)).reshape(code.shape[0], h // 2, w // 2, self.width)
        return jnp.tanh(self.conv_transpose(c, 4, 2, (h, w), "dec_dc")(x))


# --- autoencoders of the DCGAN and ResNet-CIFAR families ------------------------------------------------------

class DCGANAutoencoder(AutoencoderDiscriminator):
    def encode(self, x, train: bool):
        x = lrelu(self.conv2d(self.width, 5, 2, "d_conv1")(x, train))
        for i, mult in enumerate((2, 4, 8)):
            x = self.conv2d(mult * self.width, 5, 2, f"d_conv{i + 2}")(x, train)
            x = lrelu(self.normalization(f"d_bn{i + 1}")(x, train))
        return x

    def decode(self, code, shape, train: bool):
        return self.decoder(DCGANGenerator, shape)(code, train)


class ResNetAutoencoder(AutoencoderDiscriminator):
    def encode(self, x, train: bool):
        for i, scale in enumerate(("down", "down", "none", "none")):
            x = self.part(ResNetBlock, f"B{i + 1}", scale=scale)(x, train)
        return jnp.mean(nn.relu(x), axis=(1, 2))

    def decode(self, code, shape, train: bool):
        return self.decoder(ResNetGenerator, shape)(code, train)


# --- families ---------------------------------------------------------------------------------------------------

def _check(family: str, args: BuildArgs, energy, **positive) -> None:
    check_positive(family, **positive)
    if energy not in ENERGIES:
        raise ValueError(f"{family}.energy = {energy!r}; expected one of {', '.join(ENERGIES)}")
    conditional = [f"{key} = {getattr(args, key)!r}" for key, off in
                   (("g_conditioning", "none"), ("d_conditioning", "none"), ("rotation_head", False))
                   if getattr(args, key, off) != off]
    if conditional:
        raise ValueError(f"architecture {family!r} has an unconditional autoencoder discriminator; got "
                         f"{', '.join(conditional)}")


@architecture("began_autoencoder", images=True, multiple_of=8)
def began_autoencoder(args: BuildArgs, width=128, code_dim=64, energy="l1"):
    """BEGAN's G and autoencoder D (module docstring); n = `width`, h = `code_dim`."""
    _check("began_autoencoder", args, energy, width=width, code_dim=code_dim)
    h, w = args.data_shape[:2]
    if h != w or (h // 8) & (h // 8 - 1):
        raise ValueError(f"architecture 'began_autoencoder' needs square images of 8 x 2^k pixels; got data_shape "
                         f"{tuple(args.data_shape)}")
    init = weight_init()
    return (args.generator(BEGANGenerator, width=width, kernel_init=init),
            args.discriminator(BEGANDiscriminator, width=width, code_dim=code_dim, energy=energy, kernel_init=init))


@architecture("ebgan_autoencoder", images=True, multiple_of=4)
def ebgan_autoencoder(args: BuildArgs, g_width=64, fc_width=1024, d_width=64, code_dim=32, energy="mse"):
    """The InfoGAN-style G and EBGAN's MNIST autoencoder D (module docstring)."""
    _check("ebgan_autoencoder", args, energy, g_width=g_width, fc_width=fc_width, d_width=d_width,
           code_dim=code_dim)
    init = weight_init()
    return (args.generator(InfoGANGenerator, width=g_width, fc_width=fc_width, kernel_init=init),
            args.discriminator(EBGANDiscriminator, width=d_width, code_dim=code_dim, energy=energy,
                               kernel_init=init))


@architecture("dcgan_autoencoder", images=True)
def dcgan_autoencoder(args: BuildArgs, g_width=64, d_width=64, code_dim=64, energy="l1"):
    """The DCGAN G and an autoencoder D of DCGAN's encoder and a DCGAN G as decoder."""
    _check("dcgan_autoencoder", args, energy, g_width=g_width, d_width=d_width, code_dim=code_dim)
    init = weight_init()
    return (args.generator(DCGANGenerator, width=g_width, kernel_init=init),
            args.discriminator(DCGANAutoencoder, width=d_width, code_dim=code_dim, energy=energy, kernel_init=init))


@architecture("resnet_cifar_autoencoder", images=True, image_size=(32, 32))
def resnet_cifar_autoencoder(args: BuildArgs, g_width=256, d_width=128, code_dim=128, energy="l1"):
    """The ResNet-CIFAR G and an autoencoder D of ResNet-CIFAR's D blocks and a ResNet-CIFAR G as decoder."""
    _check("resnet_cifar_autoencoder", args, energy, g_width=g_width, d_width=d_width, code_dim=code_dim)
    init = weight_init()
    return (args.generator(ResNetGenerator, width=g_width, kernel_init=init),
            args.discriminator(ResNetAutoencoder, width=d_width, code_dim=code_dim, energy=energy,
                               kernel_init=init))
