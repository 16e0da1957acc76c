"""Convolution kernels of the nets, written for speed on XLA CPU and checked against lax / TF definitions.

- `conv2d`: NHWC x HWIO, SAME or explicit padding; inputs of at most 8x8 pixels run as im2col (XLA CPU's own
  convolution is pathologically slow there), and `im2col_up_to` widens that bound while tracing (population
  steps on CPU: every convolution, so per-member kernels become batched matmuls).
- `conv_transpose_same`: TF `conv2d_transpose(padding="SAME")` as a sub-pixel convolution, or as one matmul +
  overlap-add (col2im) when the sub-pixel kernels would hold at least `COL2IM_MIN_WASTE` times the real taps.
- `conv_after_unpool`: the SAME conv of compare_gan's zero-inserting `unpool(x)`, without the zeros.
Measurements behind each choice: BENCHMARKS.md ("Which op loses").
"""
import contextlib
from typing import Tuple

import jax
import jax.numpy as jnp

Array = jnp.ndarray


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
    weight gradient on XLA CPU; which one is cheaper depends on how many taps the sub-pixel kernel wastes
    (see `COL2IM_MIN_WASTE`).
    """
    k = kernel.shape[0]
    pads = (_same_pad_before(y.shape[1], output_size[0], k, stride),
            _same_pad_before(y.shape[2], output_size[1], k, stride))
    return _conv_transpose(y, kernel, stride, pads, output_size)


# The sub-pixel form convolves s*s phase kernels that each hold every tap offset of any phase, zeros where a
# phase has none: k = 4, s = 2 gives 3x3 kernels for 2x2 real taps per phase (2.25x the FLOPs), k = 3, s = 2
# (ResNet's conv after unpool) 2x2 kernels for 1-4 taps (1.78x), k = 5, s = 2 3x3 for 2x2-3x3 (1.44x). col2im
# does only the real taps but adds an overlap-add pass. Measured side by side on XLA CPU (BENCHMARKS.md):
# col2im ran SNDCGAN's 4x4 layers 1.1-2.7x faster and the whole ResNet-CIFAR step 1.2x faster; on DCGAN's 5x5
# layers the two were within noise (0.8-1.3x per layer, the same step time). Hence the switch at 1.5x.
COL2IM_MIN_WASTE = 1.5


def _conv_transpose(y: Array, kernel: Array, s: int, pads: Tuple[int, int], output_size) -> Array:
    """Input pixel q, tap t adds y[q] K[t] to output pixel s*q + t - pad; the cheaper exact formulation."""
    k = kernel.shape[0]
    th, tw = _subpixel_taps(k, s, pads[0])[0], _subpixel_taps(k, s, pads[1])[0]
    if th.size * tw.size >= COL2IM_MIN_WASTE * k * k:  # taps of the s*s sub-pixel kernels vs the k*k real ones
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
