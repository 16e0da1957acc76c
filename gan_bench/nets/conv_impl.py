"""How the nets convolve: an explicit, static implementation object that every module gets as its `conv` field.

Both implementations compute the same three ops, in the layouts of compare_gan's layers (values and
gradients equal to float rounding):
- `conv2d(x [B, H, W, C_in], kernel [k, k, C_in, C_out], strides, padding)`: padding "SAME" or
  ((top, bottom), (left, right)).
- `conv_transpose_same(y [B, h, w, C_in], kernel [k, k, C_out, C_in], stride, output_size)`: TF
  `conv2d_transpose(padding="SAME")`, the input gradient of a SAME conv from `output_size` down to (h, w).
- `conv_after_unpool(x [B, h, w, C_in], kernel [k, k, C_in, C_out])`: the SAME stride-1 conv of compare_gan's
  `unpool(x)` (x at the top-left of each 2x2 cell, zeros elsewhere), square odd k -> [B, 2h, 2w, C_out].

`XlaConv` ("xla") runs XLA's own convolutions, with input dilation for the transposed ones: the form
accelerators' convolution libraries are built for. `CpuTunedConv` ("cpu_tuned") runs the formulations of
`conv_ops`, chosen op by op on XLA CPU, whose own convolutions have slow paths; its `im2col_max_pixels` is a
population's switch to batched matmuls. Which one a trial uses is `trial.conv_impl` (`conv_choice`).
The objects are frozen dataclasses: hashable and compared by value, as flax module fields should be.
"""
import dataclasses
import math
from typing import Tuple

import jax
import jax.numpy as jnp

from gan_bench.nets import conv_ops

Array = jnp.ndarray
_DIMENSIONS = ("NHWC", "HWIO", "NHWC")
IMPLEMENTATIONS = ("xla", "cpu_tuned")
CONV_IMPLS = ("auto",) + IMPLEMENTATIONS  # the values of trial.conv_impl


class ConvImpl:
    """The three convolution ops of the nets; subclasses implement the underscored ones."""

    name = ""

    def conv2d(self, x: Array, kernel: Array, strides: int, padding) -> Array:
        return self._conv2d(x, kernel, strides, padding)

    def conv_transpose_same(self, y: Array, kernel: Array, stride: int, output_size: Tuple[int, int]) -> Array:
        k = kernel.shape[0]
        pads = tuple(conv_ops.same_pad_before(y.shape[1 + i], output_size[i], k, stride) for i in (0, 1))
        return self._conv_transpose_same(y, kernel, stride, tuple(output_size), pads)

    def conv_after_unpool(self, x: Array, kernel: Array) -> Array:
        k = kernel.shape[0]
        if k % 2 == 0 or kernel.shape[1] != k:
            raise ValueError(f"conv_after_unpool needs a square odd kernel, got {kernel.shape[:2]}")
        return self._conv_after_unpool(x, kernel)

    def _conv2d(self, x, kernel, strides, padding):
        raise NotImplementedError

    def _conv_transpose_same(self, y, kernel, stride, output_size, pads):
        raise NotImplementedError

    def _conv_after_unpool(self, x, kernel):
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class XlaConv(ConvImpl):
    """XLA's convolutions and JAX's own gradients of them."""

    name = "xla"

    def _conv2d(self, x, kernel, strides, padding):
        return jax.lax.conv_general_dilated(x, kernel, (strides, strides), padding, dimension_numbers=_DIMENSIONS)

    def _conv_transpose_same(self, y, kernel, stride, output_size, pads):
        # Output pixel s*q + t - pad gets y[q] K[t]: a correlation of the s-dilated y with the flipped kernel,
        # padded so that the first and last output pixels line up with TF's.
        k = kernel.shape[0]
        padding = [(k - 1 - pad, n_out - 1 - (n_in - 1) * stride + pad)
                   for pad, n_in, n_out in zip(pads, y.shape[1:3], output_size)]
        return jax.lax.conv_transpose(y, kernel, (stride, stride), padding, dimension_numbers=_DIMENSIONS,
                                      transpose_kernel=True)

    def _conv_after_unpool(self, x, kernel):
        # unpool(x) is x dilated by 2 with one more zero row and column at the end; then SAME padding.
        before = (kernel.shape[0] - 1) // 2
        after = kernel.shape[0] - 1 - before + 1
        return jax.lax.conv_general_dilated(x, kernel, (1, 1), [(before, after)] * 2, lhs_dilation=(2, 2),
                                            dimension_numbers=_DIMENSIONS)


@dataclasses.dataclass(frozen=True)
class CpuTunedConv(ConvImpl):
    """`conv_ops`' formulations; convolutions of inputs up to `im2col_max_pixels` (H * W) run as im2col."""

    im2col_max_pixels: float = conv_ops.IM2COL_MAX_PIXELS
    name = "cpu_tuned"

    def _conv2d(self, x, kernel, strides, padding):
        return conv_ops.conv2d(x, kernel, strides, padding, self.im2col_max_pixels)

    def _conv_transpose_same(self, y, kernel, stride, output_size, pads):
        return conv_ops.conv_transpose(y, kernel, stride, pads, output_size, self.im2col_max_pixels)

    def _conv_after_unpool(self, x, kernel):
        return conv_ops.conv_after_unpool(x, kernel, self.im2col_max_pixels)


def conv_impl(name: str, population: bool = False) -> ConvImpl:
    """The implementation `name` for a solo step or, `population=True`, for a vmapped population's step.

    A population's convolutions have one kernel per member, which vmap turns into grouped convolutions; XLA
    CPU runs those slowly, so `cpu_tuned` runs every one of them as im2col (batched matmuls) there.
    """
    if name == "xla":
        return XlaConv()
    if name == "cpu_tuned":
        return CpuTunedConv(math.inf if population else conv_ops.IM2COL_MAX_PIXELS)
    raise ValueError(f"conv implementation {name!r}; expected one of {', '.join(IMPLEMENTATIONS)}")
