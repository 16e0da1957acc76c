"""What every architecture family shares: the registry, the decorator that declares a family, the base modules
of its generator and discriminator (fields, layer helpers, the logit head), and `build`.

A family module defines its G and D as subclasses of `Generator` and `Discriminator` and one factory:

    @architecture("dcgan", images=True)
    def dcgan(args: BuildArgs, g_width=64, d_width=64):
        init = weight_init()
        return (args.generator(DCGANGenerator, width=g_width, kernel_init=init),
                args.discriminator(DCGANDiscriminator, width=d_width, kernel_init=init))

G and D take labels (`G(z, train, y=None)`, `D(x, train, y=None)`) under the conditioning `build` was given:
G's `inputs` and `normalize`, D's `inputs` and `logits` apply it, so a family threads y through those four
calls only (`conditioning.py` holds the pieces).

The decorator makes the factory `@gin.configurable` under the family's name (`dcgan.g_width = 32`), registers
it in `ARCHITECTURES`, and checks the data shape the family needs before the factory runs.
"""
import dataclasses
from typing import Callable, Optional, Tuple

import gin
import jax.numpy as jnp
from flax import linen as nn

from gan_bench.checks import is_whole
from gan_bench.nets.conditioning import (D_CONDITIONINGS, D_LABEL_CONDITIONINGS, G_CONDITIONINGS,
                                         G_LABEL_CONDITIONINGS, ClassEmbedding, Condition, check_labels,
                                         concat_one_hot, conditional_normalization)
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
    """z [B, z_dim] -> [B, *data_shape] (`__call__(z, train, y=None)`).

    `conditioning` (one of `G_CONDITIONINGS`) over `num_classes` classes: a family's `__call__` starts with
    `z_in, cond = self.inputs(z, y)` and normalizes with `self.normalize(x, train, name, cond)`.
    """

    data_shape: Tuple[int, ...]
    num_classes: int
    conditioning: str

    def inputs(self, z, y):
        """(the input of G's first layer, the `Condition` its normalizations read): z, with one-hot(y)
        appended under 'concat'. ValueError when G reads labels and y is None; y is ignored when G does not."""
        y = check_labels("G", self.conditioning, self.conditioning in G_LABEL_CONDITIONINGS, y, z.shape[0])
        z_in = concat_one_hot(z, y, self.num_classes) if self.conditioning == "concat" else z
        return z_in, Condition(z=z, y=y)

    def normalize(self, x, train: bool, name: str, cond: Condition):
        """Normalization `name` under G's conditioning (`conditioning.conditional_normalization`)."""
        return conditional_normalization(self, x, train, name, cond)


class Discriminator(Net):
    """x [B, ...] -> logits [B] float32 (`__call__(x, train, y=None)`).

    A family's `__call__` starts with `x = self.inputs(x, y)` and ends with `self.logits(phi, train, name, y)`,
    the one head of every family: the logit, the projection term and the auxiliary heads.
    """

    num_classes: int
    conditioning: str
    rotation_head: bool

    def inputs(self, x, y):
        """x, with one-hot(y) appended to its last axis under 'concat'. ValueError when D is conditional and y
        is None; y is ignored by an unconditional D."""
        y = self.labels(x, y)
        return concat_one_hot(x, y, self.num_classes) if self.conditioning == "concat" else x

    def labels(self, x, y):
        """y checked against x's batch (None for an unconditional D, which ignores labels)."""
        return check_labels("D", self.conditioning, self.conditioning in D_LABEL_CONDITIONINGS, y, x.shape[0])

    def logits(self, h, train: bool, name: str, y=None):
        """A linear map of the flattened features phi = h to one logit per example; under 'projection' plus
        <embed(y), phi> (`embed_y`, normalized as D's kernels). Under 'ac' the linear class head `class_head`
        and with `rotation_head` the 4-way head `rotation_head`, both of phi, are sown into "heads"."""
        phi = h.reshape(h.shape[0], -1)
        out = self.dense(1, name)(phi, train)[:, 0]
        y = self.labels(phi, y)
        if self.conditioning == "projection":
            embed = ClassEmbedding(self.num_classes, phi.shape[-1], self.weight_norm, self.kernel_init,
                                   name="embed_y")(y, train)
            out = out + jnp.sum(embed * phi, axis=-1)
        heads = []
        if self.conditioning == "ac":
            heads.append(("class_logits", self.dense(self.num_classes, "class_head")(phi, train)))
        if self.rotation_head:
            heads.append(("rotation_logits", self.dense(4, "rotation_head")(phi, train)))
        if not self.is_initializing():  # init's variables hold no "heads" collection
            for key, value in heads:
                self.sow("heads", key, value.astype(jnp.float32))
        return out.astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class BuildArgs:
    """What `build` hands every family: the data shape and the trial's choices for both nets."""

    data_shape: Tuple[int, ...]
    d_norm: str
    g_norm: str
    bn_groups: int
    conv: ConvImpl
    z_dim: int = 0
    num_classes: int = 0
    g_conditioning: str = "none"
    d_conditioning: str = "none"
    rotation_head: bool = False

    def generator(self, cls, **fields) -> Generator:
        """`cls(**fields)` with the shared fields filled in: G normalizes activations by g_norm and its kernels
        not at all, unless `fields` says otherwise (BigGAN's spectral norm in G: `weight_norm="spectral"`)."""
        shared = dict(data_shape=self.data_shape, norm=self.g_norm, weight_norm="none", bn_groups=self.bn_groups,
                      conv=self.conv, num_classes=self.num_classes, conditioning=self.g_conditioning)
        return cls(**{**shared, **fields})

    def discriminator(self, cls, **fields) -> Discriminator:
        """`cls(**fields)` with the shared fields filled in: d_norm is an activation or a kernel normalization."""
        norm, weight_norm = split_d_norm(self.d_norm)
        return cls(norm=norm, weight_norm=weight_norm, bn_groups=self.bn_groups, conv=self.conv,
                   num_classes=self.num_classes, conditioning=self.d_conditioning,
                   rotation_head=self.rotation_head, **fields)


def check_positive(family: str, **values) -> None:
    """ValueError naming `family.key` for the first value that is not a positive integer."""
    for key, value in values.items():
        if not is_whole(value) or value < 1:
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

        ARCHITECTURES.register(name, gin_configurables=(name,))(make)
        return configurable

    return decorator


def _check_conditioning(num_classes, g_conditioning, d_conditioning, rotation_head, g_norm) -> None:
    if not is_whole(num_classes) or num_classes < 0:
        raise ValueError(f"num_classes = {num_classes!r}; expected an integer >= 0 (0: unconditional)")
    if g_conditioning not in G_CONDITIONINGS:
        raise ValueError(f"g_conditioning = {g_conditioning!r}; expected one of {', '.join(G_CONDITIONINGS)}")
    if d_conditioning not in D_CONDITIONINGS:
        raise ValueError(f"d_conditioning = {d_conditioning!r}; expected one of {', '.join(D_CONDITIONINGS)}")
    for key, value in (("g_conditioning", g_conditioning), ("d_conditioning", d_conditioning)):
        if value not in ("none", "self_mod") and num_classes < 2:
            raise ValueError(f"{key} = {value!r} needs num_classes >= 2 (a labelled dataset); got num_classes = "
                             f"{num_classes}")
    if g_conditioning in ("cbn", "self_mod") and g_norm != "batch":
        raise ValueError(f"g_conditioning = {g_conditioning!r} modulates G's batch norm; it needs g_norm = "
                         f"'batch', got {g_norm!r}")
    if not isinstance(rotation_head, bool):
        raise ValueError(f"rotation_head = {rotation_head!r}; expected True or False")


def build(name: str, *, data_shape, z_dim: int, d_norm: str, g_norm: str, conv: ConvImpl,
          bn_groups: int = 1, num_classes: int = 0, g_conditioning: str = "none", d_conditioning: str = "none",
          rotation_head: bool = False) -> Tuple[Generator, Discriminator]:
    """The (G, D) flax modules of family `name`; ValueError for any bad argument, before compute.

    `conv`: the convolution implementation every layer uses (`conv_impl.conv_impl(name, population)`).
    z_dim is checked here; G infers it from its input. `num_classes` (0: unconditional), `g_conditioning`
    (`G_CONDITIONINGS`), `d_conditioning` (`D_CONDITIONINGS`) and `rotation_head` (a 4-way head of D sown into
    "heads") are described in `conditioning`.
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
    _check_conditioning(num_classes, g_conditioning, d_conditioning, rotation_head, g_norm)
    return make(BuildArgs(data_shape, d_norm, g_norm, bn_groups, conv, z_dim=z_dim, num_classes=num_classes,
                          g_conditioning=g_conditioning, d_conditioning=d_conditioning,
                          rotation_head=rotation_head))
