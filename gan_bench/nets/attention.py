"""The self-attention (non-local) block of SAGAN (Zhang et al. 2019), as compare_gan `arch_ops.non_local_block`
and BigGAN-PyTorch `layers.Attention`.

x [B, H, W, C]: theta = x W_theta (C/8 channels), phi = maxpool2x2(x W_phi) (C/8), g = maxpool2x2(x W_g) (C/2),
all 1x1 convolutions without bias (written as matrix products over the channel axis, the same map);
beta = softmax over the H*W/4 pooled positions of theta phi^T; o = (beta g) W_o (back to C channels);
out = x + gamma * o with a learnt scalar gamma that starts at 0, so the block starts as the identity.
The kernels take the net's kernel normalization (spectral in SAGAN and BigGAN).
"""
from typing import Callable

import jax.numpy as jnp
from flax import linen as nn

from gan_bench.nets.layers import Dense


def max_pool_2x2(x):
    """[B, H, W, C] -> [B, H/2, W/2, C]: the maximum of each 2x2 cell (H and W even)."""
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class SelfAttention(nn.Module):
    """x [B, H, W, C] -> [B, H, W, C] (H, W even, C divisible by 8); see the module docstring."""

    weight_norm: str = "none"
    kernel_init: Callable = nn.initializers.normal(0.02)

    def _conv1x1(self, x, features: int, name: str, train: bool):
        return Dense(features, self.weight_norm, self.kernel_init, use_bias=False, name=name)(x, train)

    @nn.compact
    def __call__(self, x, train: bool):
        b, h, w, c = x.shape
        if c % 8 or h % 2 or w % 2:
            raise ValueError(f"self-attention needs channels divisible by 8 and an even height and width; "
                             f"got input shape {tuple(x.shape)}")
        theta = self._conv1x1(x, c // 8, "theta", train).reshape(b, h * w, c // 8)
        phi = max_pool_2x2(self._conv1x1(x, c // 8, "phi", train)).reshape(b, h * w // 4, c // 8)
        g = max_pool_2x2(self._conv1x1(x, c // 2, "g", train)).reshape(b, h * w // 4, c // 2)
        beta = nn.softmax(jnp.einsum("bqc,bkc->bqk", theta, phi), axis=-1)
        o = jnp.einsum("bqk,bkc->bqc", beta, g).reshape(b, h, w, c // 2)
        o = self._conv1x1(o, c, "o", train)
        gamma = self.param("gamma", nn.initializers.zeros, ())
        return x + gamma * o
