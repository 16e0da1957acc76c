"""What every architecture family shares: the registry, the decorator that declares a family, the base modules
of its generator and discriminator (fields, layer helpers, the logit head), and `build`.

A family module defines its G and D as subclasses of `Generator` and `Discriminator` and one factory:

    @architecture("dcgan", images=True)
    def dcgan(args: BuildArgs, g_width=64, d_width=64):
        init = weight_init()
        return (args.generator(DCGANGenerator, width=g_width, kernel_init=init),
                args.discriminator(DCGANDiscriminator, width=d_width, kernel_init=init))

The decorator makes the factory `@gin.configurable` under the family's name (`dcgan.g_width = 32`), registers
it in `ARCHITECTURES`, and checks the data shape the family needs before the factory runs.
"""
import dataclasses
from typing import Callable, Optional, Tuple

import gin
import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets.conv_impl import ConvImpl
from gan_bench.nets.layers import (D_NORMS, G_NORMS, Conv, ConvTranspose, Dense, Normalization,
                                   split_d_norm)
from gan_bench.registry import Registry

ARCHITECTURES = Registry("architecture")


class Net(nn.Module):
    """Fields of every generator, discriminator and block, and helpers that build their layers from them.

    `norm` is the activation normalization (`NORMALIZATIONS`), `weight_norm` the kernel normalization
    (`WEIGHT_NORMS`), `conv` the convolution implementation. Modules are built by keyword.
    """

    width: int
    kernel_init: Callable
    norm: str
    weight_norm: str
    bn_groups: int
    conv: ConvImpl

    def normalization(self, name: str) -> Normalization:
        return Normalization(kind=self.norm, groups=self.bn_groups, name=name)

    def dense(self, features: int, name: str) -> Dense:
        return Dense(features=features, weight_norm=self.weight_norm, kernel_init=self.kernel_init, name=name)

    def conv2d(self, features: int, kernel_size: int, strides: int, name: str, unpool_input: bool = False) -> Conv:
        return Conv(features=features, kernel_size=kernel_size, strides=strides, weight_norm=self.weight_norm,
                    kernel_init=self.kernel_init, unpool_input=unpool_input, conv=self.conv, name=name)

    def conv_transpose(self, features: int, kernel_size: int, strides: int, output_size, name: str) -> ConvTranspose:
        return ConvTranspose(features=features, kernel_size=kernel_size, strides=strides,
                             output_size=tuple(output_size), kernel_init=self.kernel_init, conv=self.conv, name=name)

    def part(self, cls, name: str, **fields):
        """A sub-network of class `cls` (a `Net`) with this one's fields, `fields` replacing some of them."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(Net) if f.name not in ("parent", "name")}
        return cls(**{**shared, **fields}, name=name)


class Generator(Net):
    """z [B, z_dim] -> [B, *data_shape] (`__call__(z, train)`)."""

    data_shape: Tuple[int, ...]


class Discriminator(Net):
    """x [B, ...] -> logits [B] float32 (`__call__(x, train)`)."""

    def logits(self, h, train: bool, name: str):
        """The head every family ends with: a linear map of the flattened features to one logit per example."""
        return self.dense(1, name)(h.reshape(h.shape[0], -1), train)[:, 0].astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class BuildArgs:
    """What `build` hands every family: the data shape and the trial's choices for both nets."""

    data_shape: Tuple[int, ...]
    d_norm: str
    g_norm: str
    bn_groups: int
    conv: ConvImpl

    def generator(self, cls, **fields) -> Generator:
        """`cls(**fields)` with the shared fields filled in: G normalizes activations by g_norm, kernels never."""
        return cls(data_shape=self.data_shape, norm=self.g_norm, weight_norm="none", bn_groups=self.bn_groups,
                   conv=self.conv, **fields)

    def discriminator(self, cls, **fields) -> Discriminator:
        """`cls(**fields)` with the shared fields filled in: d_norm is an activation or a kernel normalization."""
        norm, weight_norm = split_d_norm(self.d_norm)
        return cls(norm=norm, weight_norm=weight_norm, bn_groups=self.bn_groups, conv=self.conv, **fields)


def check_positive(family: str, **values) -> None:
    """ValueError naming `family.key` for the first value that is not a positive integer."""
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{family}.{key} = {value!r}; expected a positive integer")


def _check_data_shape(family: str, data_shape, images: bool, multiple_of: int, image_size) -> None:
    if not images:
        return
    if len(data_shape) != 3 or data_shape[0] % multiple_of or data_shape[1] % multiple_of:
        need = f" with H and W multiples of {multiple_of}" if multiple_of > 1 else ""
        raise ValueError(f"architecture {family!r} needs data_shape (H, W, C){need}; got {tuple(data_shape)}")
    if image_size is not None and tuple(data_shape[:2]) != tuple(image_size):
        raise ValueError(f"architecture {family!r} needs {image_size[0]}x{image_size[1]} images; "
                         f"got data_shape {tuple(data_shape)}")


def architecture(name: str, *, images: bool = False, multiple_of: int = 1,
                 image_size: Optional[Tuple[int, int]] = None):
    """Declare family `name` (see the module docstring): gin, registry entry and data-shape check in one.

    `images`: data_shape must be (H, W, C), with H and W multiples of `multiple_of` and equal to `image_size`
    when given; otherwise any shape (the nets flatten it).
    """
    def decorator(factory):
        configurable = gin.configurable(name, denylist=["args"])(factory)

        def make(args: BuildArgs):
            _check_data_shape(name, args.data_shape, images, multiple_of, image_size)
            return configurable(args)

        ARCHITECTURES.register(name)(make)
        return configurable

    return decorator


def build(name: str, *, data_shape, z_dim: int, d_norm: str, g_norm: str, conv: ConvImpl,
          bn_groups: int = 1) -> Tuple[Generator, Discriminator]:
    """The (G, D) flax modules of family `name`; ValueError for any bad argument, before compute.

    `conv`: the convolution implementation every layer uses (`conv_impl.conv_impl(name, population)`).
    z_dim is checked here; G infers it from its input.
    """
    make = ARCHITECTURES.get(name)
    if d_norm not in D_NORMS:
        raise ValueError(f"d_norm = {d_norm!r}; expected one of {', '.join(D_NORMS)}")
    if g_norm not in G_NORMS:
        raise ValueError(f"g_norm = {g_norm!r}; expected one of {', '.join(G_NORMS)}")
    data_shape = tuple(data_shape)
    if not data_shape or not all(isinstance(d, int) and d > 0 for d in data_shape):
        raise ValueError(f"data_shape = {data_shape!r}; expected positive integers, (2,) or (H, W, C)")
    if not isinstance(z_dim, int) or z_dim < 1:
        raise ValueError(f"z_dim = {z_dim!r}; expected a positive integer")
    if not isinstance(bn_groups, int) or bn_groups < 1:
        raise ValueError(f"bn_groups = {bn_groups!r}; expected a positive integer")
    if not isinstance(conv, ConvImpl):
        raise ValueError(f"conv = {conv!r}; expected a convolution implementation (nets.conv_impl('xla' | "
                         f"'cpu_tuned'))")
    return make(BuildArgs(data_shape, d_norm, g_norm, bn_groups, conv))
