"""The FID Inception v3 network in Flax: torchvision's ``Inception3`` with pytorch-fid's FID patches.

Architecture: Szegedy et al. 2016, "Rethinking the Inception Architecture", as in torchvision, with the
changes pytorch-fid makes to reproduce TensorFlow's ``inception-2015-12-05`` graph used by TTUR (Heusel et
al. 2017): the 3×3 average pools in Mixed_5b–d, 6b–e and 7b exclude padding (``count_include_pad=False``),
Mixed_7c's pool branch takes a max instead of an average, and the classifier has 1008 outputs. Every
BatchNorm is folded into its convolution when the weights are converted (``weights.convert_state_dict``),
so a ``BasicConv2d`` here is conv + bias + ReLU. Shapes are NHWC.

Precision: no layer names one, so every convolution and matmul runs at the caller's
``jax.default_matmul_precision``, which ``inception.extract`` sets from its ``precision`` argument (and tests
pin to float32). A layer that named HIGHEST itself would turn ``extract(precision="tensorfloat32")`` into a
float32 run whose protocol record says TF32.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

POOL3_DIM, NUM_LOGITS = 2048, 1008


class FoldedConv(nn.Module):
    """Convolution + bias with ``nn.Conv``'s parameters (``kernel`` [kh, kw, I, O], ``bias`` [O]), laid out for
    XLA CPU's fast paths; every form below gives the same sums as ``lax.conv`` with ``padding`` (bit for bit).

    XLA CPU (jax 0.10) runs a k×k convolution with no padding at all 3–4× slower than the same convolution
    with any padding: an unpadded one is computed with one extra zero row at the bottom instead and that
    row's output dropped (with stride 2 on an odd size the extra row is in no window, so nothing is dropped).
    A 1×1 stride-1 convolution is a matmul over channels.
    """
    features: int
    kernel: tuple
    strides: tuple
    padding: tuple

    @nn.compact
    def __call__(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.strides, self.padding
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (kh, kw, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        if (kh, kw, sh, sw, ph, pw) == (1, 1, 1, 1, 0, 0):
            return jnp.einsum("bhwc,co->bhwo", x, kernel[0, 0]) + bias
        pads = ((ph, ph), (pw, pw))
        rows = (x.shape[1] + 2 * ph - kh) // sh + 1
        if ph == pw == 0:
            pads = ((0, 1), (0, 0))
        y = jax.lax.conv_general_dilated(x, kernel, (sh, sw), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y[:, :rows] + bias


class BasicConv2d(nn.Module):
    """Conv (BN folded into kernel and bias) + ReLU. ``padding`` is ``(ph, pw)`` as in torch."""
    features: int
    kernel: tuple = (1, 1)
    strides: tuple = (1, 1)
    padding: tuple = (0, 0)

    @nn.compact
    def __call__(self, x):
        return nn.relu(FoldedConv(self.features, self.kernel, self.strides, self.padding, name="conv")(x))


def avg_pool_same(x):  # TF "SAME" 3×3 average: padded zeros are not counted
    return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def max_pool_valid(x):
    return nn.max_pool(x, (3, 3), (2, 2), padding="VALID")


class InceptionA(nn.Module):  # Mixed_5b/c/d, 35×35
    pool_features: int

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(64, name="branch1x1")(x)
        b5 = BasicConv2d(48, name="branch5x5_1")(x)
        b5 = BasicConv2d(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
        b3 = BasicConv2d(64, name="branch3x3dbl_1")(x)
        b3 = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
        b3 = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
        bp = BasicConv2d(self.pool_features, name="branch_pool")(avg_pool_same(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):  # Mixed_6a, 35×35 -> 17×17
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(384, (3, 3), (2, 2), name="branch3x3")(x)
        bd = BasicConv2d(64, name="branch3x3dbl_1")(x)
        bd = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = BasicConv2d(96, (3, 3), (2, 2), name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, max_pool_valid(x)], axis=-1)


class InceptionC(nn.Module):  # Mixed_6b/c/d/e, 17×17, factorised 7×7
    channels_7x7: int

    @nn.compact
    def __call__(self, x):
        c7 = self.channels_7x7
        b1 = BasicConv2d(192, name="branch1x1")(x)
        b7 = BasicConv2d(c7, name="branch7x7_1")(x)
        b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = BasicConv2d(c7, name="branch7x7dbl_1")(x)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = BasicConv2d(192, name="branch_pool")(avg_pool_same(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):  # Mixed_7a, 17×17 -> 8×8
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(192, name="branch3x3_1")(x)
        b3 = BasicConv2d(320, (3, 3), (2, 2), name="branch3x3_2")(b3)
        b7 = BasicConv2d(192, name="branch7x7x3_1")(x)
        b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = BasicConv2d(192, (3, 3), (2, 2), name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, max_pool_valid(x)], axis=-1)


class InceptionE(nn.Module):  # Mixed_7b (avg pool, padding excluded) / Mixed_7c (max pool), 8×8
    use_max_pool: bool = False

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(320, name="branch1x1")(x)
        b3 = BasicConv2d(384, name="branch3x3_1")(x)
        b3 = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                              BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], axis=-1)
        bd = BasicConv2d(448, name="branch3x3dbl_1")(x)
        bd = BasicConv2d(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                              BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], axis=-1)
        if self.use_max_pool:  # pads with -inf, like F.max_pool2d(padding=1)
            pooled = nn.max_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)))
        else:
            pooled = avg_pool_same(x)
        bp = BasicConv2d(192, name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
    """``x`` [N, 299, 299, 3] float32 in the network's input range -> (pool3 [N, 2048], logits [N, 1008])."""

    @nn.compact
    def __call__(self, x):
        x = BasicConv2d(32, (3, 3), (2, 2), name="Conv2d_1a_3x3")(x)  # 149×149
        x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)  # 147×147
        x = BasicConv2d(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
        x = max_pool_valid(x)  # 73×73
        x = BasicConv2d(80, name="Conv2d_3b_1x1")(x)
        x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)  # 71×71
        x = max_pool_valid(x)  # 35×35
        x = InceptionA(32, name="Mixed_5b")(x)
        x = InceptionA(64, name="Mixed_5c")(x)
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = InceptionC(c7, name=name)(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE(name="Mixed_7b")(x)
        x = InceptionE(use_max_pool=True, name="Mixed_7c")(x)
        pool3 = jnp.mean(x, axis=(1, 2))
        logits = nn.Dense(NUM_LOGITS, name="fc")(pool3)
        return pool3, logits
