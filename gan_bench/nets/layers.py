"""Building blocks shared by every architecture family, following google/compare_gan `arch_ops.py`.

- `weight_init`: N(0, 0.02) by default (compare_gan's `weights.initializer`), truncated normal or orthogonal.
- `Dense`, `Conv`: biases start at 0 (`Dense(use_bias=False)`: none); `weight_norm` in `none | spectral | weight`
  rewrites the kernel before use. `LinearMaxout`: Blocks' maxout layer (ALI's and PacGAN's discriminators).
  * spectral: W / sigma(W), sigma by one power iteration per call from a persistent `u` (Miyato et al. 2018,
    algorithm 1). The kernel is viewed as the matrix [prod(kernel.shape[:-1]), C_out] and `u` is its left
    singular vector estimate, as compare_gan `spectral_norm(singular_value="left")`. `u` lives in collection
    `spectral` and is written back only when `train=True`; u and v are constants for the gradient.
  * weight: W = g * V / ||V|| per output unit (Salimans & Kingma 2016, eq. 2), g starts at ||V|| so the
    initial layer equals the unnormalized one (no data-dependent initialization).
- `Conv`, `ConvTranspose`: compare_gan's `conv2d` and `deconv2d`; the convolution itself is the module's `conv`
  field, an implementation from `conv_impl` (a static choice, as flax's ImageNet example passes `conv`).
- `BatchNorm` (statistics over `groups` equal slices of the batch), `LayerNorm`, and `Normalization`, the
  `none | batch | layer` switch the families call where compare_gan calls `self.batch_norm`.
  Every batch norm the families build takes its decay and epsilon from gin (`batch_norm.decay`,
  `batch_norm.epsilon`; compare_gan's 0.999 and 1e-3 by default).
- The normalization choices, listed once: `NORMALIZATIONS` (activations), `WEIGHT_NORMS` (kernels), and the
  trial's `D_NORMS` (one of either for D) and `G_NORMS`.
"""
from typing import Callable, Sequence, Tuple

import gin
import jax
import jax.numpy as jnp
from flax import linen as nn

from gan_bench.checks import is_number
from gan_bench.nets.conv_impl import ConvImpl

Array = jnp.ndarray
NORMALIZATIONS = ("none", "batch", "layer")
WEIGHT_NORMS = ("none", "spectral", "weight")
D_NORMS = NORMALIZATIONS + WEIGHT_NORMS[1:]  # trial.d_norm: an activation or a kernel normalization
G_NORMS = NORMALIZATIONS[:2]  # trial.g_norm: compare_gan's generators offer batch norm only
SN_EPS = 1e-12  # epsilon of tf.math.l2_normalize in compare_gan spectral_norm


@gin.configurable
def weight_init(initializer: str = "normal", stddev: float = 0.02) -> Callable:
    """Kernel initializer by name, as compare_gan `weight_initializer` (orthogonal ignores stddev)."""
    if initializer == "normal":
        return nn.initializers.normal(stddev)
    if initializer == "truncated":
        # TF's truncated_normal(stddev) cuts at 2 stddev without rescaling; jax's rescales so the std is
        # exactly `stddev`. The difference (std 0.88x) matters little; we keep the requested std.
        return nn.initializers.truncated_normal(stddev)
    if initializer == "orthogonal":
        return nn.initializers.orthogonal()
    raise ValueError(f"weight_init.initializer = {initializer!r}; expected 'normal', 'truncated' or 'orthogonal'")


def _l2_normalize(x: Array) -> Array:
    return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x), SN_EPS))


def spectral_sigma(matrix: Array, u: Array) -> Tuple[Array, Array]:
    """One power iteration on `matrix` [m, n] from u [m]; returns (sigma estimate, new u), both stop-gradient'ed
    only in u/v (sigma = u^T W v keeps its gradient w.r.t. W, Miyato et al. 2018 eq. 12)."""
    v = jax.lax.stop_gradient(_l2_normalize(matrix.T @ u))
    u_new = jax.lax.stop_gradient(_l2_normalize(matrix @ v))
    return u_new @ matrix @ v, u_new


def normalize_kernel(module: nn.Module, kernel: Array, weight_norm: str, train: bool) -> Array:
    """The kernel a layer uses under `weight_norm`; must be called from the layer's compact `__call__`."""
    if weight_norm == "none":
        return kernel
    matrix = kernel.reshape(-1, kernel.shape[-1])
    if weight_norm == "spectral":
        u = module.variable("spectral", "u", lambda: jax.random.normal(module.make_rng("params"), matrix.shape[:1]))
        sigma, u_new = spectral_sigma(matrix, u.value)
        if train and not module.is_initializing():
            u.value = u_new
        return kernel / sigma
    if weight_norm == "weight":
        norms = jnp.sqrt(jnp.sum(matrix * matrix, axis=0))
        g = module.param("g", lambda rng: norms)
        return kernel * (g / norms)
    raise ValueError(f"weight_norm = {weight_norm!r}; expected one of {WEIGHT_NORMS}")


class Dense(nn.Module):
    """x [B, n] -> [B, features]: compare_gan `linear` (bias 0) with an optional kernel normalization."""

    features: int
    weight_norm: str = "none"
    kernel_init: Callable = nn.initializers.normal(0.02)
    use_bias: bool = True  # False: no bias parameter (a layer followed by batch norm needs none)
    bias_init: Callable = nn.initializers.zeros  # ones: a gain that starts at 1 (self-modulation's gamma)

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
        kernel = normalize_kernel(self, kernel, self.weight_norm, train)
        if not self.use_bias:
            return x @ kernel
        return x @ kernel + self.param("bias", self.bias_init, (self.features,))


class LinearMaxout(nn.Module):
    """x [B, n] -> [B, features]: maxout (Goodfellow et al. 2013) over `pieces` affine maps, as Blocks'
    `LinearMaxout` (used by ALI and PacGAN's discriminators): one Dense to features * pieces outputs, output
    column u * pieces + p is piece p of unit u, and each unit keeps the largest of its pieces."""

    features: int
    pieces: int
    weight_norm: str = "none"
    kernel_init: Callable = nn.initializers.normal(0.02)

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> Array:
        h = Dense(self.features * self.pieces, self.weight_norm, self.kernel_init, name="linear")(x, train)
        return jnp.max(h.reshape(h.shape[:-1] + (self.features, self.pieces)), axis=-1)


class Conv(nn.Module):
    """x [B, H, W, C] -> [B, ceil(H/s), ceil(W/s), features]: compare_gan `conv2d`, padding SAME, kernel HWIO."""

    features: int
    kernel_size: int
    conv: ConvImpl
    strides: int = 1
    weight_norm: str = "none"
    kernel_init: Callable = nn.initializers.normal(0.02)
    unpool_input: bool = False  # convolve compare_gan's unpool(x) (2x size), computed without its zeros

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> Array:
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
        kernel = normalize_kernel(self, kernel, self.weight_norm, train)
        if self.unpool_input:
            if self.strides != 1:
                raise ValueError(f"Conv(unpool_input=True) needs stride 1, got {self.strides}")
            y = self.conv.conv_after_unpool(x, kernel)
        else:
            y = self.conv.conv2d(x, kernel, self.strides, "SAME")
        return y + self.param("bias", nn.initializers.zeros, (self.features,))


class ConvTranspose(nn.Module):
    """y [B, h, w, C] -> [B, *output_size, features]: compare_gan `deconv2d` (TF conv2d_transpose, SAME).

    The kernel has TF's transposed-conv layout [k, k, features, C]; the op is `conv.conv_transpose_same`.
    """

    features: int
    kernel_size: int
    strides: int
    output_size: Tuple[int, int]
    conv: ConvImpl
    kernel_init: Callable = nn.initializers.normal(0.02)

    @nn.compact
    def __call__(self, y: Array) -> Array:
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, self.features, y.shape[-1]))
        x = self.conv.conv_transpose_same(y, kernel, self.strides, tuple(self.output_size))
        return x + self.param("bias", nn.initializers.zeros, (self.features,))


@gin.configurable("batch_norm")
def batch_norm_constants(decay: float = 0.999, epsilon: float = 1e-3) -> Tuple[float, float]:
    """(decay, epsilon) of every batch norm the families build: compare_gan's 0.999 and 1e-3 by default.

    gin: `batch_norm.decay = 0.95` (PacGAN's running averages), `batch_norm.epsilon = 1e-4` (Blocks').
    """
    if not is_number(decay) or not 0.0 <= decay < 1.0:
        raise ValueError(f"batch_norm.decay = {decay!r}; expected a number in [0, 1)")
    if not is_number(epsilon) or not epsilon > 0:
        raise ValueError(f"batch_norm.epsilon = {epsilon!r}; expected a number > 0")
    return float(decay), float(epsilon)


class BatchNorm(nn.Module):
    """Batch norm with scale and offset (compare_gan `batch_norm`: decay 0.999, epsilon 1e-3).

    x [B, ..., C]. With train=True the mean and (biased) variance over all axes but the last are computed
    separately in each of `groups` equal slices of the batch ([B] -> [groups, B/groups]), as on `groups`
    replicas; the running averages (collection `batch_stats`) move towards the group-averaged statistics.
    With train=False the running averages are used. With train=True the group-averaged batch mean and
    variance are also sown into collection `batch_moments` (only when the caller makes it mutable), so
    standing statistics (`nets.bn_eval`) can average them over many passes.
    """

    groups: int = 1
    decay: float = 0.999
    epsilon: float = 1e-3
    affine: bool = True  # False: no scale and offset (conditional batch norms bring their own)

    @nn.compact
    def __call__(self, x: Array, train: bool) -> Array:
        c = x.shape[-1]
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))
        if train:
            b = x.shape[0]
            if b % self.groups:
                raise ValueError(f"batch norm: batch size {b} is not divisible by bn_groups = {self.groups}")
            xg = x.reshape((self.groups, b // self.groups) + x.shape[1:])
            axes = tuple(range(1, xg.ndim - 1))
            mean = jnp.mean(xg, axis=axes, keepdims=True)
            var = jnp.mean(jnp.square(xg - mean), axis=axes, keepdims=True)
            y = ((xg - mean) * jax.lax.rsqrt(var + self.epsilon)).reshape(x.shape)
            if not self.is_initializing():
                d = self.decay
                batch_mean = jnp.mean(mean.reshape(-1, c), axis=0)
                batch_var = jnp.mean(var.reshape(-1, c), axis=0)
                ra_mean.value = d * ra_mean.value + (1 - d) * batch_mean
                ra_var.value = d * ra_var.value + (1 - d) * batch_var
                self.sow("batch_moments", "mean", batch_mean)
                self.sow("batch_moments", "var", batch_var)
        else:
            y = (x - ra_mean.value) * jax.lax.rsqrt(ra_var.value + self.epsilon)
        if not self.affine:
            return y
        scale = self.param("scale", nn.initializers.ones, (c,))
        return y * scale + self.param("bias", nn.initializers.zeros, (c,))


class LayerNorm(nn.Module):
    """tf.contrib.layers.layer_norm as compare_gan uses it: statistics over all axes but the batch axis,
    scale and offset per channel (last axis), epsilon 1e-12 (Ba et al. 2016). x [B, ..., C]."""

    epsilon: float = 1e-12

    @nn.compact
    def __call__(self, x: Array) -> Array:
        axes = tuple(range(1, x.ndim))
        mean = jnp.mean(x, axis=axes, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
        y = (x - mean) * jax.lax.rsqrt(var + self.epsilon)
        c = x.shape[-1]
        return y * self.param("scale", nn.initializers.ones, (c,)) + self.param("bias", nn.initializers.zeros, (c,))


class Normalization(nn.Module):
    """The activation normalization switch: `none | batch | layer`, called where compare_gan calls batch_norm."""

    kind: str
    groups: int = 1

    @nn.compact
    def __call__(self, x: Array, train: bool) -> Array:
        if self.kind == "none":
            return x
        if self.kind == "batch":
            decay, epsilon = batch_norm_constants()
            return BatchNorm(groups=self.groups, decay=decay, epsilon=epsilon, name="bn")(x, train)
        if self.kind == "layer":
            return LayerNorm(name="ln")(x)
        raise ValueError(f"normalization {self.kind!r}; expected one of {NORMALIZATIONS}")


def split_d_norm(d_norm: str) -> Tuple[str, str]:
    """d_norm (one of D_NORMS) -> (activation normalization, kernel normalization)."""
    if d_norm in NORMALIZATIONS:
        return d_norm, "none"
    return "none", d_norm


def lrelu(x: Array, leak: float = 0.2) -> Array:
    """compare_gan `lrelu`: max(x, leak * x)."""
    return jnp.maximum(x, leak * x)


def same_size_chain(size: int, n: int, stride: int = 2) -> Sequence[int]:
    """[size, ceil(size/2), ceil(size/4), ...] (n + 1 entries): compare_gan `conv_out_size_same` repeated."""
    sizes = [size]
    for _ in range(n):
        sizes.append(-(-sizes[-1] // stride))
    return sizes
