"""Building blocks shared by every architecture family, following google/compare_gan `arch_ops.py`.

- `weight_init`: N(0, 0.02) by default (compare_gan's `weights.initializer`), truncated normal or orthogonal.
- `Dense`, `Conv`: biases start at 0; `weight_norm` in `none | spectral | weight` rewrites the kernel before use.
  * spectral: W / sigma(W), sigma by one power iteration per call from a persistent `u` (Miyato et al. 2018,
    algorithm 1). The kernel is viewed as the matrix [prod(kernel.shape[:-1]), C_out] and `u` is its left
    singular vector estimate, as compare_gan `spectral_norm(singular_value="left")`. `u` lives in collection
    `spectral` and is written back only when `train=True`; u and v are constants for the gradient.
  * weight: W = g * V / ||V|| per output unit (Salimans & Kingma 2016, eq. 2), g starts at ||V|| so the
    initial layer equals the unnormalized one (no data-dependent initialization).
- `ConvTranspose`: TF `conv2d_transpose(padding="SAME")` computed as a sub-pixel convolution (see `subpixel`).
- `BatchNorm` (statistics over `groups` equal slices of the batch), `LayerNorm`, and `Normalization`, the
  `none | batch | layer` switch the families call where compare_gan calls `self.batch_norm`.
"""
import contextlib
from typing import Callable, Sequence, Tuple

import gin
import jax
import jax.numpy as jnp
from flax import linen as nn

Array = jnp.ndarray
WEIGHT_NORMS = ("none", "spectral", "weight")
NORMALIZATIONS = ("none", "batch", "layer")
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


def _same_pad_before(n_in: int, n_out: int, k: int, s: int) -> int:
    """Leading padding TF uses for a SAME conv from n_out down to n_in (so conv2d_transpose aligns with it)."""
    if n_in != -(-n_out // s):
        raise ValueError(f"transposed conv: output size {n_out} cannot come from input size {n_in} at stride {s} "
                         f"with SAME padding (needs ceil({n_out}/{s}) == {n_in})")
    return max((n_in - 1) * s + k - n_out, 0) // 2


def _subpixel_taps(k: int, s: int, pad_before: int):
    """Index table [s, n] mapping (output phase r, sub-kernel offset j) to a transposed-kernel tap (k = none).

    Output pixel s*q + r of the transposed conv is sum_t y[q + d] K[t] over taps t = r + pad_before (mod s),
    with d = (r + pad_before - t) / s. The offsets d of all phases span [d_min, d_max], so one stride-1
    convolution with an (d_max - d_min + 1)-wide kernel computes every phase at once.
    """
    offsets = {(r, t): (r + pad_before - t) // s for r in range(s) for t in range(k) if (r + pad_before - t) % s == 0}
    d_min, d_max = min(offsets.values()), max(offsets.values())
    table = [[k] * (d_max - d_min + 1) for _ in range(s)]
    for (r, t), d in offsets.items():
        table[r][d - d_min] = t
    return jnp.asarray(table), (-d_min, d_max)


# XLA CPU runs a convolution whose window is large next to a tiny input (2x2 .. 8x8) through a very slow
# path, forward and input gradient: DCGAN's 4x4 and 2x2 layers ran ~50x slower than PyTorch (BENCHMARKS.md).
# Below this many input pixels a conv runs as K*K strided slices, one concatenation and one matmul instead.
IM2COL_MAX_PIXELS = 64
_im2col_max_pixels = IM2COL_MAX_PIXELS  # read while tracing; changed only through `im2col_up_to`


@contextlib.contextmanager
def im2col_up_to(max_pixels: float):
    """Trace the convolutions inside this block as im2col up to `max_pixels` input pixels (inf: all of them).

    Why: vmapping a population over convolutions with per-member kernels makes grouped convolutions, which
    XLA CPU runs slowly; as im2col they become batched matmuls (1.7x faster for InfoGAN P = 8, BENCHMARKS.md).
    """
    global _im2col_max_pixels  # pylint: disable=global-statement
    old, _im2col_max_pixels = _im2col_max_pixels, max_pixels
    try:
        yield
    finally:
        _im2col_max_pixels = old


def conv2d(x: Array, kernel: Array, strides: int, padding) -> Array:
    """NHWC x HWIO convolution, `padding` "SAME" or ((top, bottom), (left, right)); im2col on small inputs."""
    k_h, k_w = kernel.shape[:2]
    if x.shape[1] * x.shape[2] > _im2col_max_pixels:
        return jax.lax.conv_general_dilated(x, kernel, (strides, strides), padding,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    if isinstance(padding, str):
        padding = jax.lax.padtype_to_pads(x.shape[1:3], (k_h, k_w), (strides, strides), padding)
    x = jnp.pad(x, ((0, 0), tuple(padding[0]), tuple(padding[1]), (0, 0)))
    out_h, out_w = (x.shape[1] - k_h) // strides + 1, (x.shape[2] - k_w) // strides + 1
    cols = [x[:, i:i + strides * (out_h - 1) + 1:strides, j:j + strides * (out_w - 1) + 1:strides, :]
            for i in range(k_h) for j in range(k_w)]  # patch order (i, j, c) matches kernel.reshape below
    return jnp.concatenate(cols, axis=-1) @ kernel.reshape(-1, kernel.shape[-1])


def conv_transpose_same(y: Array, kernel: Array, stride: int, output_size: Tuple[int, int]) -> Array:
    """TF `conv2d_transpose(y, kernel, output_shape, stride, padding="SAME")`.

    y [B, h, w, C_in], kernel [k, k, C_out, C_in] (TF layout: the kernel of the SAME conv this op is the
    gradient of) -> [B, *output_size, C_out]. Two exact formulations, both faster than lax.conv_transpose's
    weight gradient on XLA CPU; which one is cheaper depends on how many taps the sub-pixel kernel wastes:
    for k = 4, s = 2 its 3x3 sub-kernels hold 2x2 real taps per phase (2.25x the FLOPs), and col2im ran
    G's 4x4 transposed convs of SNDCGAN 1.1-2.7x faster (fwd + grads); for k = 5, s = 2 (1.44x) the sub-pixel
    form was as fast or faster (BENCHMARKS.md).
    """
    k = kernel.shape[0]
    pads = (_same_pad_before(y.shape[1], output_size[0], k, stride),
            _same_pad_before(y.shape[2], output_size[1], k, stride))
    return _conv_transpose(y, kernel, stride, pads, output_size)


def _conv_transpose(y: Array, kernel: Array, s: int, pads: Tuple[int, int], output_size) -> Array:
    """Input pixel q, tap t adds y[q] K[t] to output pixel s*q + t - pad; the cheaper exact formulation."""
    k = kernel.shape[0]
    th, tw = _subpixel_taps(k, s, pads[0])[0], _subpixel_taps(k, s, pads[1])[0]
    if th.size * tw.size >= 2 * k * k:  # taps of the s*s sub-pixel kernels vs the k*k real ones
        return _conv_transpose_col2im(y, kernel, s, pads, output_size)
    return _conv_transpose_subpixel(y, kernel, s, pads, output_size)


def conv_after_unpool(x: Array, kernel: Array) -> Array:
    """SAME stride-1 conv of compare_gan's `unpool(x)` (x at even positions of a 2x-size map, zeros elsewhere).

    x [B, h, w, C_in], kernel [k, k, C_in, C_out] (odd k) -> [B, 2h, 2w, C_out]. Three of every four input
    pixels of that conv are zeros; written as a stride-2 transposed conv of x with the flipped kernel it skips
    them (ResNet-CIFAR's G: a quarter of the FLOPs of its up-sampling convs). Output pixel p sums u[p + t - pb]
    K[t] over taps t, with u[2q] = x[q]: p = 2q + t' - (k - 1 - pb) for the flipped tap t' = k - 1 - t.
    """
    k = kernel.shape[0]
    if k % 2 == 0 or kernel.shape[1] != k:
        raise ValueError(f"conv_after_unpool needs a square odd kernel, got {kernel.shape[:2]}")
    pad = k - 1 - (k - 1) // 2
    flipped = jnp.transpose(kernel[::-1, ::-1], (0, 1, 3, 2))  # [k, k, C_out, C_in], as conv_transpose_same
    return _conv_transpose(x, flipped, 2, (pad, pad), (2 * x.shape[1], 2 * x.shape[2]))


def _conv_transpose_subpixel(y: Array, kernel: Array, s: int, pads: Tuple[int, int], output_size) -> Array:
    """Shi et al. 2016: a stride-1 conv with s*s*C_out outputs, then a pixel shuffle; its kernel is gathered
    from `kernel` (zeros where a phase has no tap), so gradients flow to the same parameters."""
    k = kernel.shape[0]
    b, h, w, c_in = y.shape
    c_out = kernel.shape[2]
    th, pad_h = _subpixel_taps(k, s, pads[0])
    tw, pad_w = _subpixel_taps(k, s, pads[1])
    padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))  # tap index k reads zeros
    sub = padded[th[:, None, :, None], tw[None, :, None, :]]  # [s, s, nh, nw, C_out, C_in]
    sub = jnp.transpose(sub, (2, 3, 5, 0, 1, 4)).reshape(th.shape[1], tw.shape[1], c_in, s * s * c_out)
    out = conv2d(y, sub, 1, (pad_h, pad_w))
    out = out.reshape(b, h, w, s, s, c_out).transpose(0, 1, 3, 2, 4, 5).reshape(b, h * s, w * s, c_out)
    return out[:, :output_size[0], :output_size[1], :]


def _conv_transpose_col2im(y: Array, kernel: Array, s: int, pads: Tuple[int, int], output_size) -> Array:
    """One matmul gives every input pixel's k x k output window; the windows are overlap-added.

    Input pixel q, tap t lands on output pixel s*q + t - pad. Writing t = s*a + r, the taps of phase r add
    into output pixels s*(q + a) + r: per phase, shifted (zero-padded) copies are summed, then the s x s
    phases are interleaved like a pixel shuffle. Only pads, adds and reshapes besides the matmul.
    """
    k = kernel.shape[0]
    b, h, w, c_in = y.shape
    c_out = kernel.shape[2]
    cols = y.reshape(-1, c_in) @ jnp.transpose(kernel, (3, 0, 1, 2)).reshape(c_in, k * k * c_out)
    cols = cols.reshape(b, h, w, k, k, c_out)
    n_a = -(-k // s)  # taps per phase, at most
    phase_rows = []
    for ri in range(s):
        row = []
        for rj in range(s):
            acc = jnp.zeros((b, h + n_a - 1, w + n_a - 1, c_out), cols.dtype)  # a phase may have no tap (k < s)
            for ai in range(-(-(k - ri) // s)):
                for aj in range(-(-(k - rj) // s)):
                    tap = cols[:, :, :, s * ai + ri, s * aj + rj, :]
                    acc = acc + jnp.pad(tap, ((0, 0), (ai, n_a - 1 - ai), (aj, n_a - 1 - aj), (0, 0)))
            row.append(acc)
        phase_rows.append(jnp.stack(row, axis=3))  # [B, M, N, s (rj), C_out]
    full = jnp.stack(phase_rows, axis=2)  # [B, M, s (ri), N, s (rj), C_out]
    full = full.reshape(b, (h + n_a - 1) * s, (w + n_a - 1) * s, c_out)
    return full[:, pads[0]:pads[0] + output_size[0], pads[1]:pads[1] + output_size[1], :]


class Dense(nn.Module):
    """x [B, n] -> [B, features]: compare_gan `linear` (bias 0) with an optional kernel normalization."""

    features: int
    weight_norm: str = "none"
    kernel_init: Callable = nn.initializers.normal(0.02)

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
        kernel = normalize_kernel(self, kernel, self.weight_norm, train)
        return x @ kernel + self.param("bias", nn.initializers.zeros, (self.features,))


class Conv(nn.Module):
    """x [B, H, W, C] -> [B, ceil(H/s), ceil(W/s), features]: compare_gan `conv2d`, padding SAME, kernel HWIO."""

    features: int
    kernel_size: int
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
            y = conv_after_unpool(x, kernel)
        else:
            y = conv2d(x, kernel, self.strides, "SAME")
        return y + self.param("bias", nn.initializers.zeros, (self.features,))


class ConvTranspose(nn.Module):
    """y [B, h, w, C] -> [B, *output_size, features]: compare_gan `deconv2d` (TF conv2d_transpose, SAME).

    The kernel has TF's transposed-conv layout [k, k, features, C]; the op runs as a sub-pixel convolution.
    """

    features: int
    kernel_size: int
    strides: int
    output_size: Tuple[int, int]
    kernel_init: Callable = nn.initializers.normal(0.02)

    @nn.compact
    def __call__(self, y: Array) -> Array:
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, self.features, y.shape[-1]))
        x = conv_transpose_same(y, kernel, self.strides, tuple(self.output_size))
        return x + self.param("bias", nn.initializers.zeros, (self.features,))


class BatchNorm(nn.Module):
    """Batch norm with scale and offset (compare_gan `batch_norm`: decay 0.999, epsilon 1e-3).

    x [B, ..., C]. With train=True the mean and (biased) variance over all axes but the last are computed
    separately in each of `groups` equal slices of the batch ([B] -> [groups, B/groups]), as on `groups`
    replicas; the running averages (collection `batch_stats`) move towards the group-averaged statistics.
    With train=False the running averages are used.
    """

    groups: int = 1
    decay: float = 0.999
    epsilon: float = 1e-3

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
                ra_mean.value = d * ra_mean.value + (1 - d) * jnp.mean(mean.reshape(-1, c), axis=0)
                ra_var.value = d * ra_var.value + (1 - d) * jnp.mean(var.reshape(-1, c), axis=0)
        else:
            y = (x - ra_mean.value) * jax.lax.rsqrt(ra_var.value + self.epsilon)
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
            return BatchNorm(groups=self.groups, name="bn")(x, train)
        if self.kind == "layer":
            return LayerNorm(name="ln")(x)
        raise ValueError(f"normalization {self.kind!r}; expected one of {NORMALIZATIONS}")


def split_d_norm(d_norm: str) -> Tuple[str, str]:
    """d_norm (none|batch|layer|spectral|weight) -> (activation normalization, kernel normalization)."""
    if d_norm in ("batch", "layer"):
        return d_norm, "none"
    if d_norm in ("spectral", "weight"):
        return "none", d_norm
    return "none", "none"


def lrelu(x: Array, leak: float = 0.2) -> Array:
    """compare_gan `lrelu`: max(x, leak * x)."""
    return jnp.maximum(x, leak * x)


def same_size_chain(size: int, n: int, stride: int = 2) -> Sequence[int]:
    """[size, ceil(size/2), ceil(size/4), ...] (n + 1 entries): compare_gan `conv_out_size_same` repeated."""
    sizes = [size]
    for _ in range(n):
        sizes.append(-(-sizes[-1] // stride))
    return sizes


def check_image_shape(family: str, data_shape, multiple: int = 1) -> Tuple[int, int, int]:
    """(H, W, C) of an image data_shape, or a ValueError naming the family and what it needs."""
    if len(data_shape) != 3 or data_shape[0] % multiple or data_shape[1] % multiple:
        need = f" with H and W multiples of {multiple}" if multiple > 1 else ""
        raise ValueError(f"architecture {family!r} needs data_shape (H, W, C){need}; got {tuple(data_shape)}")
    return tuple(data_shape)
