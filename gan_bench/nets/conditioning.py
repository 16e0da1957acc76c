"""Class conditioning and self-modulation: the pieces every family uses to take labels y [B] (int32).

G (`Generator.conditioning`, one of `G_CONDITIONINGS`):
- 'concat': one-hot(y) concatenated to z (Mirza & Osindero 2014).
- 'cbn': conditional batch norm (de Vries et al. 2017; Miyato & Koyama 2018): the batch norm's gain and bias
  are per-class rows of two tables (`ClassConditionalBatchNorm`, gain rows start at 1, bias rows at 0). BigGAN
  (Brock et al. 2019) computes them instead by linear maps of a shared class embedding, concatenated with a chunk
  of z (`LinearConditionalBatchNorm`, gain = 1 + W_g c, bias = W_b c, as BigGAN-PyTorch `layers.ccbn`).
- 'self_mod': self-modulation (Chen et al. 2019, compare_gan `self_modulated_batch_norm`): gain and bias from z
  through a one-hidden-layer MLP (32 ReLU units; gamma's bias starts at 1). Needs no labels.
D (`Discriminator.conditioning`, one of `D_CONDITIONINGS`):
- 'concat': one-hot(y) broadcast and concatenated to the input (channels of images, features of vectors).
- 'projection' (Miyato & Koyama 2018): logit += <embed(y), phi(x)>, embed a learnt [C, F] table
  (`ClassEmbedding`, spectrally normalised with D's kernels, as SNGAN / BigGAN's `SNEmbedding`).
- 'ac' (Odena et al. 2017): a linear class head on phi(x), sown into collection "heads" (`base.Discriminator`).

`conditional_normalization` is the one switch G's layers call where an unconditional net calls
`Normalization`: under 'none' / 'concat' it builds exactly that module, so unconditional parameter trees and
numbers do not change.
"""
from typing import Callable, NamedTuple, Optional

import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets.layers import BatchNorm, Dense, Normalization, batch_norm_constants, normalize_kernel

Array = jnp.ndarray
G_CONDITIONINGS = ("none", "concat", "cbn", "self_mod")
D_CONDITIONINGS = ("none", "concat", "projection", "ac")
G_LABEL_CONDITIONINGS = ("concat", "cbn")  # the G modes that read y
D_LABEL_CONDITIONINGS = ("concat", "projection", "ac")  # every conditional D reads y
SELF_MOD_HIDDEN = 32  # compare_gan self_modulated_batch_norm(num_hidden=32)


class Condition(NamedTuple):
    """What G's normalizations may depend on: the latent z [B, z_dim], labels y [B] (None when unconditional)
    and BigGAN's per-block input c [B, n] to the linear cBN (None elsewhere)."""

    z: Array
    y: Optional[Array]
    c: Optional[Array] = None


def check_labels(net: str, conditioning: str, needs_labels: bool, y, batch: int):
    """y as int32 [batch], or None for a net that does not read labels; ValueError if a conditional net has none
    or y has the wrong shape. `net` ('G' / 'D') and `conditioning` name the net in the message."""
    if not needs_labels:
        return None
    if y is None:
        raise ValueError(f"{net} with conditioning {conditioning!r} needs labels y [batch]; got y=None")
    y = jnp.asarray(y)
    if y.shape != (batch,) or not jnp.issubdtype(y.dtype, jnp.integer):
        raise ValueError(f"{net} labels y: expected integers of shape ({batch},); got {y.dtype} {y.shape}")
    return y.astype(jnp.int32)


def one_hot(y: Array, num_classes: int, dtype=jnp.float32) -> Array:
    """y [B] -> [B, num_classes] with a 1 at each label."""
    return (y[:, None] == jnp.arange(num_classes)[None, :]).astype(dtype)


def concat_one_hot(x: Array, y: Array, num_classes: int) -> Array:
    """x [B, n] -> [B, n + C], or x [B, H, W, ch] -> [B, H, W, ch + C]: one-hot(y) appended to the last axis,
    broadcast over every spatial position of an image."""
    labels = one_hot(y, num_classes, x.dtype)
    labels = labels.reshape((x.shape[0],) + (1,) * (x.ndim - 2) + (num_classes,))
    labels = jnp.broadcast_to(labels, x.shape[:-1] + (num_classes,))
    return jnp.concatenate([x, labels], axis=-1)


def _per_example(values: Array, x: Array) -> Array:
    """values [B, ch] shaped to broadcast against x [B, ..., ch]."""
    return values.reshape((values.shape[0],) + (1,) * (x.ndim - 2) + (values.shape[-1],))


def _standardize(x: Array, train: bool, groups: int) -> Array:
    """The batch norm of the families without scale and offset (running averages in `batch_stats`)."""
    decay, epsilon = batch_norm_constants()
    return BatchNorm(groups=groups, decay=decay, epsilon=epsilon, affine=False, name="bn")(x, train)


class ClassEmbedding(nn.Module):
    """y [B] -> rows of a learnt table [num_classes, features] (parameter `embedding`), the table normalised by
    `weight_norm` as a [num_classes, features] matrix (spectral: BigGAN-PyTorch `SNEmbedding`)."""

    num_classes: int
    features: int
    weight_norm: str = "none"
    embedding_init: Callable = nn.initializers.normal(0.02)

    @nn.compact
    def __call__(self, y: Array, train: bool = False) -> Array:
        table = self.param("embedding", self.embedding_init, (self.num_classes, self.features))
        return jnp.take(normalize_kernel(self, table, self.weight_norm, train), y, axis=0)


class ClassConditionalBatchNorm(nn.Module):
    """x [B, ..., ch] -> BN(x) * gain[y] + bias[y] with per-class tables `gain` (starts at 1) and `bias` (0)."""

    num_classes: int
    groups: int = 1

    @nn.compact
    def __call__(self, x: Array, train: bool, y: Array) -> Array:
        ch = x.shape[-1]
        gain = self.param("gain", nn.initializers.ones, (self.num_classes, ch))
        bias = self.param("bias", nn.initializers.zeros, (self.num_classes, ch))
        out = _standardize(x, train, self.groups)
        return out * _per_example(jnp.take(gain, y, axis=0), x) + _per_example(jnp.take(bias, y, axis=0), x)


class LinearConditionalBatchNorm(nn.Module):
    """BigGAN's cBN: x [B, ..., ch], c [B, n] -> BN(x) * (1 + c W_g) + c W_b, W_g and W_b without bias
    (BigGAN-PyTorch `ccbn` with `which_linear = SNLinear(bias=False)`)."""

    groups: int = 1
    weight_norm: str = "none"
    kernel_init: Callable = nn.initializers.normal(0.02)

    @nn.compact
    def __call__(self, x: Array, train: bool, c: Array) -> Array:
        ch = x.shape[-1]
        gain = Dense(ch, self.weight_norm, self.kernel_init, use_bias=False, name="gain")(c, train)
        bias = Dense(ch, self.weight_norm, self.kernel_init, use_bias=False, name="bias")(c, train)
        out = _standardize(x, train, self.groups)
        return out * _per_example(1.0 + gain, x) + _per_example(bias, x)


class SelfModulatedBatchNorm(nn.Module):
    """Self-modulation: x [B, ..., ch], z [B, z_dim] -> BN(x) * gamma(h) + beta(h), h = ReLU(z W + b) with
    `hidden` units; gamma's bias starts at 1 (compare_gan `self_modulated_batch_norm`)."""

    groups: int = 1
    hidden: int = SELF_MOD_HIDDEN
    weight_norm: str = "none"
    kernel_init: Callable = nn.initializers.normal(0.02)

    @nn.compact
    def __call__(self, x: Array, train: bool, z: Array) -> Array:
        ch = x.shape[-1]
        h = nn.relu(Dense(self.hidden, self.weight_norm, self.kernel_init, name="hidden")(z, train))
        gamma = Dense(ch, self.weight_norm, self.kernel_init, bias_init=nn.initializers.ones, name="gamma")(h, train)
        beta = Dense(ch, self.weight_norm, self.kernel_init, name="beta")(h, train)
        out = _standardize(x, train, self.groups)
        return out * _per_example(gamma, x) + _per_example(beta, x)


def conditional_normalization(net, x: Array, train: bool, name: str, cond: Optional[Condition]) -> Array:
    """The activation normalization `name` of G's layer under G's conditioning; call it from a compact method of
    `net`, a module with the fields `norm`, `bn_groups`, `conditioning`, `num_classes`, `weight_norm` and
    `kernel_init`. 'none' / 'concat' (and `norm == 'none'`): `Normalization`, as the unconditional nets;
    'cbn': per-class tables, or BigGAN's linear form when `cond.c` is given; 'self_mod': from `cond.z`."""
    if net.conditioning in ("none", "concat") or net.norm != "batch":
        return Normalization(kind=net.norm, groups=net.bn_groups, name=name)(x, train)
    if net.conditioning == "cbn":
        if cond.c is not None:
            return LinearConditionalBatchNorm(net.bn_groups, net.weight_norm, net.kernel_init, name=name)(
                x, train, cond.c)
        return ClassConditionalBatchNorm(net.num_classes, net.bn_groups, name=name)(x, train, cond.y)
    if net.conditioning == "self_mod":
        return SelfModulatedBatchNorm(net.bn_groups, SELF_MOD_HIDDEN, net.weight_norm, net.kernel_init,
                                      name=name)(x, train, cond.z)
    raise ValueError(f"g_conditioning = {net.conditioning!r}; expected one of {', '.join(G_CONDITIONINGS)}")
