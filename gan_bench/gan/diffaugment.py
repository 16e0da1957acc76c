"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"):
`trial.augment = 'diffaugment'`, `diffaugment.policy = 'color,translation,cutout'` (the paper's policy).

The operations are those of the authors' DiffAugment_pytorch.py (mit-han-lab/data-efficient-gans), on NHWC
images in [-1, 1], each with its own draw per image:
- color: brightness x + (u - 0.5); saturation (x - m_c) * 2u + m_c with m_c the mean over channels of each
  pixel; contrast (x - m) * (u + 0.5) + m with m the image mean; u ~ U[0, 1) for each of the three.
- translation: a shift by integers t_h, t_w uniform in [-H // 8, H // 8] x [-W // 8, W // 8]; pixel (i, j)
  takes x[i + t_h, j + t_w], zero where that falls outside the image (their one-pixel zero pad and clamp).
- cutout: a zeroed rectangle of c_h x c_w = (H // 2) x (W // 2) whose centre is at integer offsets o_h in
  [0, H + 1 - c_h % 2), o_w likewise: rows o_h - c_h // 2 ... o_h - c_h // 2 + c_h - 1, cut to the image.
Every operation is differentiable in the images (affine in them for fixed draws), so G learns through it.

`flip` (a horizontal flip with probability 1/2) is not a DiffAugment policy; the consistency regularizers'
transforms (CR, bCR) use it with these operations, as the authors' BigGAN code does for its CR baseline
(`--CR_augment flip,translation`).
"""
import dataclasses
from typing import Dict, List, Sequence, Tuple

import gin
import jax
import jax.numpy as jnp

from gan_bench.gan.augment import AUGMENTATIONS, Augmentation, image_problems

# Policy words and the operations each one runs, in order.
POLICIES = {"color": ("brightness", "saturation", "contrast"), "translation": ("translation",),
            "cutout": ("cutout",)}
TRANSFORM_POLICIES = {"flip": ("flip",), **POLICIES}  # what a consistency regularizer's transform may use


def translation_range(size: int) -> int:
    """Largest shift along an axis of `size` pixels: 1/8 of it, as the authors' `size * 1 // 8`."""
    return size // 8


def cutout_size(size: int) -> int:
    """Side of the cutout along an axis of `size` pixels: 1/2 of it, as the authors' `size * 1 // 2`."""
    return size // 2


def policy_ops(policy: str, known=POLICIES) -> Tuple[str, ...]:
    """The operations of a comma-separated policy, in order (`policy_problems` first)."""
    return tuple(op for word in policy.split(",") for op in known[word.strip()])


def policy_problems(key: str, policy, known=POLICIES) -> List[str]:
    """What is wrong with the policy string bound to gin key `key`: unknown, repeated or no words."""
    if not isinstance(policy, str):
        return [f"{key} = {policy!r} is not a string like 'color,translation,cutout'"]
    words = [w.strip() for w in policy.split(",")]
    unknown = [w for w in words if w not in known]
    if unknown or not policy.strip():
        return [f"{key} = {policy!r}: unknown operation(s) {unknown or ['']}; known: {', '.join(known)} "
                f"(comma-separated)"]
    if len(set(words)) < len(words):
        return [f"{key} = {policy!r} names an operation twice"]
    return []


def draw(key, ops: Sequence[str], shape) -> Dict[str, jnp.ndarray]:
    """Per-image random parameters of `ops` for images of `shape` [N, H, W, C], one key per operation."""
    n, h, w = shape[0], shape[1], shape[2]
    out = {}
    for op, k in zip(ops, jax.random.split(key, len(ops))):
        kh, kw = jax.random.split(k)
        if op in ("brightness", "saturation", "contrast"):
            out[op] = jax.random.uniform(k, (n,), jnp.float32)
        elif op == "translation":
            sh, sw = translation_range(h), translation_range(w)
            out[op] = jnp.stack([jax.random.randint(kh, (n,), -sh, sh + 1),
                                 jax.random.randint(kw, (n,), -sw, sw + 1)], axis=1)
        elif op == "cutout":
            ch, cw = cutout_size(h), cutout_size(w)
            out[op] = jnp.stack([jax.random.randint(kh, (n,), 0, h + 1 - ch % 2),
                                 jax.random.randint(kw, (n,), 0, w + 1 - cw % 2)], axis=1)
        elif op == "flip":
            out[op] = jax.random.randint(k, (n,), 0, 2)
        else:
            raise ValueError(f"unknown augmentation operation {op!r}")
    return out


def _per_image(v):
    return v[:, None, None, None]


def brightness(x, u):
    return x + _per_image(u - 0.5)


def saturation(x, u):
    mean = jnp.mean(x, axis=3, keepdims=True)
    return (x - mean) * _per_image(u * 2.0) + mean


def contrast(x, u):
    mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
    return (x - mean) * _per_image(u + 0.5) + mean


def translation(x, shifts):
    """x[i + t_h, j + t_w] with a zero border: the authors' one-pixel zero pad indexed with clamped indices."""
    n, h, w, _ = x.shape
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    rows = jnp.clip(jnp.arange(h)[None, :] + shifts[:, :1] + 1, 0, h + 1)  # [N, H]
    cols = jnp.clip(jnp.arange(w)[None, :] + shifts[:, 1:] + 1, 0, w + 1)  # [N, W]
    return padded[jnp.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def cutout(x, offsets):
    _, h, w, _ = x.shape
    ch, cw = cutout_size(h), cutout_size(w)
    top, left = offsets[:, :1] - ch // 2, offsets[:, 1:] - cw // 2  # [N, 1]
    rows, cols = jnp.arange(h)[None, :], jnp.arange(w)[None, :]
    in_rows = (rows >= top) & (rows < top + ch)  # [N, H]
    in_cols = (cols >= left) & (cols < left + cw)  # [N, W]
    keep = 1.0 - (in_rows[:, :, None] & in_cols[:, None, :]).astype(x.dtype)
    return x * keep[..., None]


def flip(x, flags):
    """Each image mirrored left-right where its flag is 1."""
    return jnp.where(_per_image(flags) > 0, x[:, :, ::-1, :], x)


OPERATIONS = {"brightness": brightness, "saturation": saturation, "contrast": contrast,
              "translation": translation, "cutout": cutout, "flip": flip}


def apply(x, ops: Sequence[str], params: Dict[str, jnp.ndarray]):
    """`ops` applied in order to images [N, H, W, C] with their drawn parameters."""
    for op in ops:
        x = OPERATIONS[op](x, params[op])
    return x


@AUGMENTATIONS.register("diffaugment", gin_configurables=("diffaugment",))
@gin.configurable("diffaugment")
@dataclasses.dataclass(frozen=True)
class DiffAugment(Augmentation):
    """DiffAugment with `policy` (comma-separated words of `POLICIES`), on real and fake, in D's and G's updates.

    The paper's default policy is 'color,translation,cutout'; the authors' BigGAN CIFAR-10 scripts use
    'translation,cutout' (DiffAugment-biggan-cifar/scripts/DiffAugment-biggan-cifar10*.sh).
    """

    policy: str = "color,translation,cutout"
    name = "diffaugment"

    @property
    def ops(self) -> Tuple[str, ...]:
        return policy_ops(self.policy)

    def draw(self, key, state, shape):
        del state
        return draw(key, self.ops, shape)

    def apply(self, images, params):
        return apply(images, self.ops, params)

    def problems(self, image_shape=None):
        return policy_problems("diffaugment.policy", self.policy) or image_problems(self.name, image_shape)
