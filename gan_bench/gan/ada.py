"""ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data"): `trial.augment = 'ada'`.

The pipeline is the paper's 'bgc' (blit, geometric, color) of NVlabs/stylegan2-ada-pytorch's AugmentPipe, each
operation applied to each image with probability p, its parameters those of the paper (Appendix B):
- blit: x-flip; rotation by a multiple of 90 degrees; integer translation by round(U(-1/8, 1/8) * size) pixels;
- geometric: isotropic scaling by 2^N(0, 0.2^2); rotation by U(-pi, pi), split into a rotation before and one
  after the anisotropic scaling, each with probability 1 - sqrt(1 - p) so that one of them happens with
  probability p; anisotropic scaling by (s, 1/s), s = 2^N(0, 0.2^2); fractional translation by
  N(0, 0.125^2) * size;
- color: brightness + N(0, 0.2^2); contrast * 2^N(0, 0.5^2); luma flip (a Householder reflection about the
  luma axis (1, 1, 1)/sqrt(3)); hue rotation about that axis by U(-pi, pi); saturation * 2^N(0, 1) off that
  axis. Hue and saturation need 3 channels; a 1-channel image gets the mean of the color matrix's rows, as
  AugmentPipe does.
As in AugmentPipe, the blit and geometric operations compose into one inverse matrix G_inv per image (output
pixel -> input pixel, coordinates centred on the image), executed as one resampling with a reflecting border,
and the color operations into one 4x4 matrix C applied to (r, g, b, 1). Unlike AugmentPipe, the resampling is
bilinear on the image itself: AugmentPipe upsamples 2x with a sym6 wavelet filter first and downsamples after
to limit aliasing, which is left out here. Blit transforms land on whole pixels, where bilinear sampling is
exact; the border reflects without repeating the edge (AugmentPipe's 'reflect' pad), as often as needed.

The adaptive heuristic (paper Sec. 3, `training_loop.py`): r_t = E[sign(D(x_real))] over the real images D
judged since the last adjustment; every `interval` generator steps p <- max(0, p + sign(r_t - target) * n /
(kimg * 1000)), n the real images shown to D in those steps (batch size x n_disc x interval), so p can move
from 0 to 1 in `kimg` thousand images. Defaults: target 0.6, interval 4, kimg 500 (the paper's ada_kimg), p
from 0. p lives in the train state (checkpointed with it) and is logged as `ada_p`, with the r_t of the last
adjustment as `ada_rt`.
"""
import dataclasses
import math
from typing import Dict

import gin
import jax
import jax.numpy as jnp

from gan_bench.checks import is_number, is_whole
from gan_bench.gan.augment import AUGMENTATIONS, Augmentation, image_problems

# AugmentPipe's defaults, the values of the paper's Appendix B.
XINT_MAX = 0.125  # integer translation range, relative to the image size
SCALE_STD = 0.2  # log2 standard deviation of isotropic scaling
ROTATE_MAX = 1.0  # rotation range, 1 = full circle
ANISO_STD = 0.2  # log2 standard deviation of anisotropic scaling
XFRAC_STD = 0.125  # standard deviation of fractional translation, relative to the image size
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5  # log2
HUE_MAX = 1.0  # 1 = full circle
SATURATION_STD = 1.0  # log2

# The raw draws of one batch, in the order the pipeline uses them: (name, per-image shape, 'u'niform or 'n'ormal).
# Each operation has its value draw(s) and a gate draw compared with its probability.
DRAWS = (("xflip", (), "u"), ("xflip_gate", (), "u"),
         ("rotate90", (), "u"), ("rotate90_gate", (), "u"),
         ("xint", (2,), "u"), ("xint_gate", (), "u"),
         ("scale", (), "n"), ("scale_gate", (), "u"),
         ("rotate_pre", (), "u"), ("rotate_pre_gate", (), "u"),
         ("aniso", (), "n"), ("aniso_gate", (), "u"),
         ("rotate_post", (), "u"), ("rotate_post_gate", (), "u"),
         ("xfrac", (2,), "n"), ("xfrac_gate", (), "u"),
         ("brightness", (), "n"), ("brightness_gate", (), "u"),
         ("contrast", (), "n"), ("contrast_gate", (), "u"),
         ("lumaflip", (), "u"), ("lumaflip_gate", (), "u"),
         ("hue", (), "u"), ("hue_gate", (), "u"),
         ("saturation", (), "n"), ("saturation_gate", (), "u"))


def draw_raw(key, n: int) -> Dict[str, jnp.ndarray]:
    """The uniform [0, 1) and standard normal draws of a batch of n images, one key per entry of `DRAWS`."""
    out = {}
    for (name, shape, kind), k in zip(DRAWS, jax.random.split(key, len(DRAWS))):
        sample = jax.random.uniform if kind == "u" else jax.random.normal
        out[name] = sample(k, (n,) + shape, jnp.float32)
    return out


# --- 3x3 (pixel) and 4x4 (color) homogeneous matrices, one per image ------------------------------------------

def _matrix(rows, n):
    """[n, R, C] from rows of per-image arrays [n] or Python numbers."""
    return jnp.stack([jnp.stack([jnp.broadcast_to(jnp.asarray(v, jnp.float32), (n,)) for v in row], axis=-1)
                      for row in rows], axis=-2)


def _translate2d(tx, ty, n):
    return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], n)


def _scale2d(sx, sy, n):
    return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], n)


def _rotate2d(theta, n, exact=False):
    """exact: theta is a multiple of pi/2, whose cosine and sine are rounded to the integers they are."""
    c, s = jnp.cos(theta), jnp.sin(theta)
    if exact:
        c, s = jnp.round(c), jnp.round(s)
    return _matrix([[c, -s, 0], [s, c, 0], [0, 0, 1]], n)


def _translate3d(t, n):
    return _matrix([[1, 0, 0, t], [0, 1, 0, t], [0, 0, 1, t], [0, 0, 0, 1]], n)


def _scale3d(s, n):
    return _matrix([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]], n)


def _rotate3d_about_luma(theta, n):
    """Rodrigues' rotation by theta about v = (1, 1, 1)/sqrt(3), AugmentPipe's rotate3d."""
    v = 1.0 / math.sqrt(3.0)
    s, c = jnp.sin(theta), jnp.cos(theta)
    cc = 1.0 - c
    diag, off_plus, off_minus = v * v * cc + c, v * v * cc + v * s, v * v * cc - v * s
    return _matrix([[diag, off_minus, off_plus, 0], [off_plus, diag, off_minus, 0],
                    [off_minus, off_plus, diag, 0], [0, 0, 0, 1]], n)


def _luma_outer():
    """v v^T for the luma axis v = (1, 1, 1, 0)/sqrt(3): 1/3 in the color block."""
    return jnp.zeros((4, 4), jnp.float32).at[:3, :3].set(1.0 / 3.0)


def transforms(raw: Dict[str, jnp.ndarray], p, height: int, width: int, channels: int = 3):
    """(G_inv [n, 3, 3], C [n, 4, 4]) of the pipeline for raw draws and probability p (AugmentPipe.forward).

    G_inv maps an output pixel's centred coordinates (x right, y down) to the input's; C maps (r, g, b, 1).
    """
    n = raw["xflip"].shape[0]
    p = jnp.asarray(p, jnp.float32)

    def gated(name, value, identity):
        return jnp.where(raw[name + "_gate"] < p, value, identity)

    g = jnp.broadcast_to(jnp.eye(3, dtype=jnp.float32), (n, 3, 3))
    # Blit: x-flip, 90-degree rotations, integer translation.
    i = gated("xflip", jnp.floor(raw["xflip"] * 2), 0.0)
    g = g @ _scale2d(1 - 2 * i, 1, n)  # scale2d_inv(1 - 2i, 1): its own inverse
    i = gated("rotate90", jnp.floor(raw["rotate90"] * 4), 0.0)
    g = g @ _rotate2d(jnp.pi / 2 * i, n, exact=True)  # rotate2d_inv(-pi/2 i)
    t = (raw["xint"] * 2 - 1) * XINT_MAX
    t = jnp.where(raw["xint_gate"][:, None] < p, t, 0.0)
    g = g @ _translate2d(-jnp.round(t[:, 0] * width), -jnp.round(t[:, 1] * height), n)
    # Geometric: isotropic scaling, rotation, anisotropic scaling, rotation, fractional translation.
    s = gated("scale", jnp.exp2(raw["scale"] * SCALE_STD), 1.0)
    g = g @ _scale2d(1 / s, 1 / s, n)
    p_rot = 1 - jnp.sqrt(jnp.clip(1 - p, 0.0, 1.0))  # P(pre or post rotation) = p
    theta = jnp.where(raw["rotate_pre_gate"] < p_rot, (raw["rotate_pre"] * 2 - 1) * jnp.pi * ROTATE_MAX, 0.0)
    g = g @ _rotate2d(theta, n)  # rotate2d_inv(-theta)
    s = gated("aniso", jnp.exp2(raw["aniso"] * ANISO_STD), 1.0)
    g = g @ _scale2d(1 / s, s, n)
    theta = jnp.where(raw["rotate_post_gate"] < p_rot, (raw["rotate_post"] * 2 - 1) * jnp.pi * ROTATE_MAX, 0.0)
    g = g @ _rotate2d(theta, n)
    t = jnp.where(raw["xfrac_gate"][:, None] < p, raw["xfrac"] * XFRAC_STD, 0.0)
    g = g @ _translate2d(-t[:, 0] * width, -t[:, 1] * height, n)
    # Color: brightness, contrast, luma flip, hue rotation, saturation (the last two only with 3 channels).
    c = jnp.broadcast_to(jnp.eye(4, dtype=jnp.float32), (n, 4, 4))
    c = _translate3d(gated("brightness", raw["brightness"] * BRIGHTNESS_STD, 0.0), n) @ c
    c = _scale3d(gated("contrast", jnp.exp2(raw["contrast"] * CONTRAST_STD), 1.0), n) @ c
    vv = _luma_outer()
    i = gated("lumaflip", jnp.floor(raw["lumaflip"] * 2), 0.0)
    c = (jnp.eye(4, dtype=jnp.float32) - 2 * vv * i[:, None, None]) @ c
    if channels > 1:
        theta = gated("hue", (raw["hue"] * 2 - 1) * jnp.pi * HUE_MAX, 0.0)
        c = _rotate3d_about_luma(theta, n) @ c
        s = gated("saturation", jnp.exp2(raw["saturation"] * SATURATION_STD), 1.0)
        c = (vv + (jnp.eye(4, dtype=jnp.float32) - vv) * s[:, None, None]) @ c
    return g, c


def _reflect(k, size: int):
    """Integer pixel indices reflected into [0, size) without repeating the edge (..., 2, 1, 0, 1, 2, ...)."""
    if size == 1:
        return jnp.zeros_like(k)
    period = 2 * (size - 1)
    k = jnp.mod(k, period)
    return jnp.where(k >= size, period - k, k)


def resample(images, g_inv):
    """Bilinear resampling: output pixel (x, y) (centred) takes input position g_inv @ (x, y, 1)."""
    n, h, w, _ = images.shape
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32) - cy, jnp.arange(w, dtype=jnp.float32) - cx,
                          indexing="ij")
    u = g_inv[:, 0, 0, None, None] * xs + g_inv[:, 0, 1, None, None] * ys + g_inv[:, 0, 2, None, None] + cx
    v = g_inv[:, 1, 0, None, None] * xs + g_inv[:, 1, 1, None, None] * ys + g_inv[:, 1, 2, None, None] + cy
    u0, v0 = jnp.floor(u), jnp.floor(v)
    fu, fv = (u - u0)[..., None], (v - v0)[..., None]
    u0, v0 = u0.astype(jnp.int32), v0.astype(jnp.int32)
    batch = jnp.arange(n)[:, None, None]

    def at(rows, cols):
        return images[batch, _reflect(rows, h), _reflect(cols, w)]

    top = (1 - fu) * at(v0, u0) + fu * at(v0, u0 + 1)
    bottom = (1 - fu) * at(v0 + 1, u0) + fu * at(v0 + 1, u0 + 1)
    return (1 - fv) * top + fv * bottom


def recolor(images, c):
    """(r, g, b, 1) -> C (r, g, b, 1) per pixel; 1 channel: gain and offset from the mean of C's color rows."""
    channels = images.shape[-1]
    if channels == 3:
        out = [sum(images[..., j] * c[:, i, j, None, None] for j in range(3)) + c[:, i, 3, None, None]
               for i in range(3)]
        return jnp.stack(out, axis=-1)
    mean_row = jnp.mean(c[:, :3, :], axis=1)  # [n, 4]
    gain = jnp.sum(mean_row[:, :3], axis=1)
    return images * gain[:, None, None, None] + mean_row[:, 3, None, None, None]


@AUGMENTATIONS.register("ada", gin_configurables=("ada",))
@gin.configurable("ada")
@dataclasses.dataclass(frozen=True)
class ADA(Augmentation):
    """Adaptive discriminator augmentation; p starts at `initial_p` and follows the heuristic of the module doc."""

    target: float = 0.6
    interval: int = 4  # generator steps between adjustments of p
    kimg: float = 500.0  # thousands of real images over which p can move by 1
    initial_p: float = 0.0
    name = "ada"

    def init_state(self):
        return {"p": jnp.asarray(self.initial_p, jnp.float32), "sign_sum": jnp.zeros((), jnp.float32),
                "sign_count": jnp.zeros((), jnp.float32), "rt": jnp.zeros((), jnp.float32)}

    def draw(self, key, state, shape):
        g_inv, c = transforms(draw_raw(key, shape[0]), state["p"], shape[1], shape[2], shape[3])
        return {"g_inv": g_inv, "color": c}

    def apply(self, images, params):
        return recolor(resample(images, params["g_inv"]), params["color"])

    def observe(self, state, real_logits):
        signs = jnp.sign(jax.lax.stop_gradient(real_logits).astype(jnp.float32))
        return {**state, "sign_sum": state["sign_sum"] + jnp.sum(signs),
                "sign_count": state["sign_count"] + signs.size}

    def end_step(self, state, step, images_per_step):
        due = (step + 1) % self.interval == 0
        rt = state["sign_sum"] / jnp.maximum(state["sign_count"], 1.0)
        adjust = jnp.sign(rt - self.target) * (images_per_step * self.interval) / (self.kimg * 1000.0)
        p = jnp.maximum(state["p"] + adjust, 0.0)
        zero = jnp.zeros((), jnp.float32)
        return {"p": jnp.where(due, p, state["p"]), "sign_sum": jnp.where(due, zero, state["sign_sum"]),
                "sign_count": jnp.where(due, zero, state["sign_count"]), "rt": jnp.where(due, rt, state["rt"])}

    def logs(self, state):
        return {"ada_p": state["p"], "ada_rt": state["rt"]}

    def problems(self, image_shape=None):
        out = []
        for key, value, ok, expected in (
                ("target", self.target, lambda v: -1.0 < v < 1.0, "a number in (-1, 1)"),
                ("interval", self.interval, lambda v: is_whole(v) and v >= 1, "an integer >= 1"),
                ("kimg", self.kimg, lambda v: v > 0, "a number > 0"),
                ("initial_p", self.initial_p, lambda v: v >= 0, "a number >= 0")):
            if not is_number(value) or not ok(value):
                out.append(f"ada.{key} = {value!r} is not {expected}")
        out += image_problems(self.name, image_shape)
        if image_shape is not None and len(image_shape) == 3 and image_shape[-1] not in (1, 3):
            out.append(f"trial.augment = 'ada' needs 1 or 3 channels (AugmentPipe's L or RGB); the data has "
                       f"{image_shape[-1]}")
        return out
