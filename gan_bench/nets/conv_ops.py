"""The convolution kernels of the `cpu_tuned` implementation (`conv_impl.CpuTunedConv`), written for speed on
XLA CPU and checked against lax / TF definitions.

The public functions take `im2col_max_pixels`, the input size (H * W) up to which a convolution runs as
im2col, from the implementation object: no module state is read while tracing.
- `conv2d`: NHWC x HWIO, SAME or explicit padding; small inputs run as im2col (XLA CPU's own convolution is
  pathologically slow there; a population passes inf, so per-member kernels become batched matmuls instead of
  grouped convolutions). Larger strided convs take their input gradient from `conv_transpose` (XLA CPU
  computes it as a slow convolution over a zero-dilated map).
- `conv_transpose`: a transposed conv with given leading paddings (TF `conv2d_transpose(padding="SAME")` with
  `same_pad_before`'s) as one stride-1 convolution + a pixel shuffle (sub-pixel or depth-to-space, whichever
  wastes fewer taps), or as one matmul + overlap-add (col2im) when both would do at least `COL2IM_MIN_WASTE`
  times the real work; on XLA's own convolution its gradients are those of the strided conv it is the
  adjoint of.
- `conv_after_unpool`: the SAME conv of compare_gan's zero-inserting `unpool(x)`, without the zeros.
Measurements behind each choice: BENCHMARKS.md ("Training speed", section 1 and "Which op loses").
"""
import functools
from typing import Tuple

import jax
import jax.numpy as jnp

Array = jnp.ndarray


def same_pad_before(n_in: int, n_out: int, k: int, s: int) -> int:
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
# path, forward and input gradient (BENCHMARKS.md). Up to this many input pixels a conv runs as K*K strided
# slices, one concatenation and one matmul instead.
IM2COL_MAX_PIXELS = 64


_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def _xla_conv(x: Array, kernel: Array, strides: int, padding) -> Array:
    return jax.lax.conv_general_dilated(x, kernel, (strides, strides), padding, dimension_numbers=_DIMENSIONS)


def conv2d(x: Array, kernel: Array, strides: int, padding, im2col_max_pixels: float) -> Array:
    """NHWC x HWIO convolution, `padding` "SAME" or ((top, bottom), (left, right)); im2col up to
    `im2col_max_pixels` input pixels."""
    k_h, k_w = kernel.shape[:2]
    if isinstance(padding, str):
        padding = jax.lax.padtype_to_pads(x.shape[1:3], (k_h, k_w), (strides, strides), padding)
    padding = tuple((int(lo), int(hi)) for lo, hi in padding)
    if x.shape[1] * x.shape[2] > im2col_max_pixels:
        if strides > 1 and k_h == k_w:
            return _strided_conv(x, kernel, strides, padding, im2col_max_pixels)
        return _xla_conv(x, kernel, strides, padding)
    x = jnp.pad(x, ((0, 0), padding[0], padding[1], (0, 0)))
    out_h, out_w = (x.shape[1] - k_h) // strides + 1, (x.shape[2] - k_w) // strides + 1
    cols = [x[:, i:i + strides * (out_h - 1) + 1:strides, j:j + strides * (out_w - 1) + 1:strides, :]
            for i in range(k_h) for j in range(k_w)]  # patch order (i, j, c) matches kernel.reshape below
    return jnp.concatenate(cols, axis=-1) @ kernel.reshape(-1, kernel.shape[-1])


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _strided_conv(x: Array, kernel: Array, strides: int, padding, im2col_max_pixels: float) -> Array:
    """XLA's strided conv, with its input gradient computed as the transposed conv of the output gradient.

    XLA CPU computes that gradient as a convolution over a zero-dilated map, slower than PyTorch for SNDCGAN's
    and DCGAN's stride-2 layers, and `conv_transpose`'s forward is faster (BENCHMARKS.md, "Which op loses").
    The weight gradient stays XLA's.
    """
    del im2col_max_pixels  # used by the input gradient only
    return _xla_conv(x, kernel, strides, padding)


def _strided_conv_fwd(x, kernel, strides, padding, im2col_max_pixels):
    del im2col_max_pixels
    return _xla_conv(x, kernel, strides, padding), (x, kernel)


def _strided_conv_bwd(strides, padding, im2col_max_pixels, residuals, g):
    x, kernel = residuals
    dx = conv_transpose(g, kernel, strides, (padding[0][0], padding[1][0]), x.shape[1:3], im2col_max_pixels)
    dkernel = jax.vjp(lambda k: _xla_conv(x, k, strides, padding), kernel)[1](g)[0]
    return dx, dkernel


_strided_conv.defvjp(_strided_conv_fwd, _strided_conv_bwd)


# Two stride-1 forms compute a transposed conv with XLA's own (fast) forward convolution, both with zero taps
# in some cases: Shi et al.'s sub-pixel conv, whose blocks of s x s output pixels start at output pixel 0 (an
# odd padding costs one more tap per phase), and the depth-to-space conv, whose blocks start at the padded
# origin (an odd padding costs one more block). `_cheaper_stride1_form` weighs each one's work over the real
# taps' work (sub-pixel 1.44x for DCGAN's 5x5 stride-2 layers, depth-to-space 1.13x for SNDCGAN's 4x4, both
# forms 1.78x or more for ResNet's 3x3 after unpool). col2im does only the real taps but adds an
# overlap-add pass; side by side on XLA CPU it won where the stride-1 forms waste 1.78x and was even with
# them at 1.44x (BENCHMARKS.md, "Training speed", section 1). Hence col2im from 1.5x.
COL2IM_MIN_WASTE = 1.5


def _cheaper_stride1_form(y_size, k: int, s: int, pads, output_size):
    """(form, work ratio vs the k*k real taps) of the cheaper of the sub-pixel and the depth-to-space form."""
    n = -(-k // s)
    subpixel = d2s = 1.0
    for h, pad, size in zip(y_size, pads, output_size):
        sub_taps = _subpixel_taps(k, s, pad)[0].shape[1]
        d2s_blocks = (pad + size - 1) // s - pad // s + 1
        subpixel *= -(-size // s) * sub_taps * s / (h * k)
        d2s *= d2s_blocks * n * s / (h * k)
    return (_conv_transpose_subpixel, subpixel) if subpixel <= d2s else (_conv_transpose_d2s, d2s)


def conv_transpose(y: Array, kernel: Array, s: int, pads: Tuple[int, int], output_size,
                   im2col_max_pixels: float) -> Array:
    """Transposed conv: input pixel q, tap t adds y[q] K[t] to output pixel s*q + t - pad (pads: the leading
    padding per axis), by the cheapest exact formulation.

    y [B, h, w, C_in], kernel [k, k, C_out, C_in] (TF layout: the kernel of the strided conv this op is the
    gradient of) -> [B, *output_size, C_out]. Three formulations, all faster than lax.conv_transpose on XLA
    CPU; which one is cheapest depends on how much work the stride-1 forms waste on zero taps or blocks (see
    `COL2IM_MIN_WASTE`). The stride-1 forms get the convolution they run as their `conv` argument: conv2d
    with this im2col bound, or XLA's own under the adjoint's gradients.
    """
    form, waste = _cheaper_stride1_form(y.shape[1:3], kernel.shape[0], s, pads, output_size)
    if waste >= COL2IM_MIN_WASTE:
        return _conv_transpose_col2im(y, kernel, s, pads, output_size)
    # Above a quarter of conv2d's im2col bound (4x4 inputs by default; a population's inf keeps im2col) the
    # stride-1 conv runs on XLA's own convolution, and the gradients are the adjoint's: DCGAN's step was
    # faster that way than with im2col at 8x8 inputs (BENCHMARKS.md, "Training speed", section 1).
    if y.shape[1] * y.shape[2] > im2col_max_pixels / 4:
        return _conv_transpose_adjoint_grads(y, kernel, s, tuple(pads), tuple(output_size), form)
    return form(y, kernel, s, pads, output_size, functools.partial(conv2d, im2col_max_pixels=im2col_max_pixels))


def conv_after_unpool(x: Array, kernel: Array, im2col_max_pixels: float) -> Array:
    """SAME stride-1 conv of compare_gan's `unpool(x)` (x at even positions of a 2x-size map, zeros elsewhere).

    x [B, h, w, C_in], kernel [k, k, C_in, C_out] (odd k) -> [B, 2h, 2w, C_out]. Three of every four input
    pixels of that conv are zeros; written as a stride-2 transposed conv of x with the flipped kernel it skips
    them (ResNet-CIFAR's G: a quarter of the FLOPs of its up-sampling convs). Output pixel p sums u[p + t - pb]
    K[t] over taps t, with u[2q] = x[q]: p = 2q + t' - (k - 1 - pb) for the flipped tap t' = k - 1 - t.
    """
    k = kernel.shape[0]  # square and odd: checked by `conv_impl.ConvImpl.conv_after_unpool`
    pad = k - 1 - (k - 1) // 2
    flipped = jnp.transpose(kernel[::-1, ::-1], (0, 1, 3, 2))  # [k, k, C_out, C_in], as conv_transpose
    return conv_transpose(x, flipped, 2, (pad, pad), (2 * x.shape[1], 2 * x.shape[2]), im2col_max_pixels)


def _conv_transpose_subpixel(y: Array, kernel: Array, s: int, pads: Tuple[int, int], output_size,
                             conv) -> Array:
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
    blocks = [-(-size // s) for size in output_size]  # blocks of s output pixels from pixel 0 (h under TF SAME)
    out = conv(y, sub, 1, ((pad_h[0], pad_h[1] + blocks[0] - h), (pad_w[0], pad_w[1] + blocks[1] - w)))
    out = out.reshape(b, *blocks, s, s, c_out).transpose(0, 1, 3, 2, 4, 5).reshape(b, blocks[0] * s,
                                                                                blocks[1] * s, c_out)
    return out[:, :output_size[0], :output_size[1], :]


def _conv_transpose_d2s(y: Array, kernel: Array, s: int, pads: Tuple[int, int], output_size,
                        conv) -> Array:
    """A stride-1 conv with s*s*C_out outputs, then depth-to-space (a pixel shuffle) and a crop.

    With t = s*a + r (kernel zero-padded to n*s taps, n = ceil(k / s)), output pixel p = s*m + r - pad gets
    Z[m, r] = sum_a y[m - a] K[s*a + r]: a correlation of y with the a-flipped taps. Only the blocks m that hold
    output pixels are computed. Unlike Shi et al.'s sub-pixel conv, whose blocks start at output pixel 0 and
    need one more tap per phase when the padding is not a multiple of s, the blocks here start at the padded
    origin and need one more block instead.
    """
    k = kernel.shape[0]
    b, h, w, c_in = y.shape
    c_out = kernel.shape[2]
    n = -(-k // s)
    kernel = jnp.pad(kernel, ((0, n * s - k), (0, n * s - k), (0, 0), (0, 0)))
    kz = kernel.reshape(n, s, n, s, c_out, c_in)[::-1, :, ::-1]  # [a flipped, r_h, a flipped, r_w, ...]
    kz = kz.transpose(0, 2, 5, 1, 3, 4).reshape(n, n, c_in, s * s * c_out)
    first = [pad // s for pad in pads]  # blocks holding output pixels 0 .. size - 1
    last = [(pad + size - 1) // s for pad, size in zip(pads, output_size)]
    z = conv(y, kz, 1, ((n - 1 - first[0], last[0] + 1 - h), (n - 1 - first[1], last[1] + 1 - w)))
    m_h, m_w = z.shape[1:3]
    z = z.reshape(b, m_h, m_w, s, s, c_out).transpose(0, 1, 3, 2, 4, 5).reshape(b, m_h * s, m_w * s, c_out)
    top, left = pads[0] - s * first[0], pads[1] - s * first[1]
    return z[:, top:top + output_size[0], left:left + output_size[1], :]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _conv_transpose_adjoint_grads(y: Array, kernel: Array, s: int, pads: Tuple[int, int], output_size,
                                  form) -> Array:
    """A stride-1 `form` on XLA's convolution, with the gradients of the strided conv it is the adjoint of.

    Autodiff of the depth-to-space form on XLA CPU runs its weight gradient through a pathologically slow
    convolution; the strided conv's forward (the input gradient) and weight gradient (the kernel gradient)
    are XLA's fast paths (BENCHMARKS.md, "Training speed", section 1).
    """
    return form(y, kernel, s, pads, output_size, _xla_conv)


def _adjoint_padding(y: Array, kernel: Array, s: int, pads: Tuple[int, int], output_size):
    """Padding of the strided conv from `output_size` down to y's size whose adjoint this transposed conv is."""
    k = kernel.shape[0]
    return tuple((pad, (n_in - 1) * s + k - n_out - pad) for pad, n_in, n_out in zip(pads, y.shape[1:3], output_size))


def _conv_transpose_adjoint_fwd(y, kernel, s, pads, output_size, form):
    return form(y, kernel, s, pads, output_size, _xla_conv), (y, kernel)


def _conv_transpose_adjoint_bwd(s, pads, output_size, form, residuals, g):  # pylint: disable=unused-argument
    y, kernel = residuals
    padding = _adjoint_padding(y, kernel, s, pads, output_size)
    dy = _xla_conv(g, kernel, s, padding)
    dkernel = jax.vjp(lambda k: _xla_conv(g, k, s, padding), kernel)[1](y)[0]
    return dy, dkernel


_conv_transpose_adjoint_grads.defvjp(_conv_transpose_adjoint_fwd, _conv_transpose_adjoint_bwd)


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
    short = [max(pad + size - n, 0) for pad, size, n in zip(pads, output_size, full.shape[1:3])]
    if any(short):  # output pixels no input reaches (as in the input gradient of a VALID conv)
        full = jnp.pad(full, ((0, 0), (0, short[0]), (0, short[1]), (0, 0)))
    return full[:, pads[0]:pads[0] + output_size[0], pads[1]:pads[1] + output_size[1], :]
