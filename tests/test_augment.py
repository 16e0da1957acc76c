"""Augmentations against NumPy reimplementations on fixed images and fixed random draws.

Oracles: DiffAugment's operations written as the authors' DiffAugment_pytorch.py does them (NCHW, a one-pixel
zero pad indexed with clamped indices, a cutout mask set by scattering clamped indices), in float64 loops;
ADA's matrices built as forward transforms multiplied out and inverted with np.linalg.inv (the code multiplies
inverses), the hue rotation by scipy's Rotation, and the resampling by per-pixel loops over an np.pad(mode=
'reflect') image; gradients against central finite differences; ADA's p against its closed-form update.
"""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from augment_oracles import np_diffaugment
from gan_bench.gan import ada, diffaugment


def _images(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype(np.float32)


# --- DiffAugment ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 8, 8, 3), (5, 7, 9, 1)])
def test_diffaugment_matches_the_authors_operations(shape):
    x = _images(shape)
    ops = diffaugment.policy_ops("color,translation,cutout") + ("flip",)
    draws = diffaugment.draw(jax.random.PRNGKey(3), ops, shape)
    got = np.asarray(diffaugment.apply(jnp.asarray(x), ops, draws))
    np.testing.assert_allclose(got, np_diffaugment(x, ops, draws), rtol=1e-5, atol=1e-5)
    # The draws cover the authors' ranges: shifts in [-H//8, H//8], cutout centres in [0, H + 1 - (H//2) % 2).
    n = shape[0]
    many = diffaugment.draw(jax.random.PRNGKey(4), ("translation", "cutout"), (4000,) + shape[1:])
    for axis, size in ((0, shape[1]), (1, shape[2])):
        assert set(np.asarray(many["translation"][:, axis]).tolist()) == set(range(-(size // 8), size // 8 + 1))
        assert set(np.asarray(many["cutout"][:, axis]).tolist()) == set(range(size + 1 - (size // 2) % 2))
    assert draws["brightness"].shape == (n,)


def test_each_diffaugment_operation_alone():
    """One operation at a time, so a mistake in one cannot hide behind another."""
    x = _images((4, 8, 8, 3), seed=1)
    for op in diffaugment.OPERATIONS:
        draws = diffaugment.draw(jax.random.PRNGKey(7), (op,), x.shape)
        got = np.asarray(diffaugment.apply(jnp.asarray(x), (op,), draws))
        np.testing.assert_allclose(got, np_diffaugment(x, (op,), draws), rtol=1e-5, atol=1e-5, err_msg=op)


def test_gradients_through_diffaugment_match_finite_differences():
    shape = (3, 8, 8, 3)
    x0 = _images(shape, seed=2).astype(np.float64)
    ops = diffaugment.policy_ops("color,translation,cutout")
    draws = diffaugment.draw(jax.random.PRNGKey(5), ops, shape)
    weights = np.random.default_rng(3).normal(size=shape)

    def f(x):  # a nonlinear scalar of the augmented images
        return jnp.sum(jnp.tanh(diffaugment.apply(x, ops, draws)) * weights)

    grad = np.asarray(jax.grad(f)(jnp.asarray(x0, jnp.float32)), np.float64)
    assert np.abs(grad).max() > 0
    rng = np.random.default_rng(4)
    eps = 1e-2
    for flat in rng.choice(x0.size, size=25, replace=False):
        idx = np.unravel_index(flat, shape)
        up, down = x0.copy(), x0.copy()
        up[idx] += eps
        down[idx] -= eps
        fd = (float(f(jnp.asarray(up, jnp.float32))) - float(f(jnp.asarray(down, jnp.float32)))) / (2 * eps)
        np.testing.assert_allclose(grad[idx], fd, rtol=2e-2, atol=2e-3, err_msg=str(idx))


def test_diffaugment_policy_problems():
    assert diffaugment.policy_problems("k", "color,translation,cutout") == []
    assert "colour" in diffaugment.policy_problems("k", "colour,cutout")[0]
    assert diffaugment.policy_problems("k", "")
    assert "twice" in diffaugment.policy_problems("k", "cutout,cutout")[0]
    assert diffaugment.policy_problems("k", "flip") and not diffaugment.policy_problems(
        "k", "flip,translation", diffaugment.TRANSFORM_POLICIES)


# --- ADA: the pipeline's matrices and resampling in NumPy ---------------------------------------------------------

def _rot(theta):
    return np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])


def _shift(tx, ty):
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1.0]])


def _scale(sx, sy):
    return np.diag([sx, sy, 1.0])


def _np_ada_matrices(raw, p, h, w, channels):
    """Per image: G_inv as the inverse of the forward transforms applied in order; C as products of color ops."""
    raw = {k: np.asarray(v, np.float64) for k, v in raw.items()}
    n = raw["xflip"].shape[0]
    p_rot = 1 - np.sqrt(np.clip(1 - p, 0, 1))
    g_invs, cs = [], []
    v = np.array([1, 1, 1]) / np.sqrt(3)
    for b in range(n):
        def on(name, prob=p):
            return raw[name + "_gate"][b] < prob
        forward = []
        if on("xflip"):
            forward.append(_scale(1 - 2 * np.floor(raw["xflip"][b] * 2), 1))
        if on("rotate90"):
            forward.append(_rot(-np.pi / 2 * np.floor(raw["rotate90"][b] * 4)))
        if on("xint"):
            t = (raw["xint"][b] * 2 - 1) * 0.125
            forward.append(_shift(np.round(t[0] * w), np.round(t[1] * h)))
        if on("scale"):
            s = 2 ** (raw["scale"][b] * 0.2)
            forward.append(_scale(s, s))
        if on("rotate_pre", p_rot):
            forward.append(_rot(-(raw["rotate_pre"][b] * 2 - 1) * np.pi))
        if on("aniso"):
            s = 2 ** (raw["aniso"][b] * 0.2)
            forward.append(_scale(s, 1 / s))
        if on("rotate_post", p_rot):
            forward.append(_rot(-(raw["rotate_post"][b] * 2 - 1) * np.pi))
        if on("xfrac"):
            t = raw["xfrac"][b] * 0.125
            forward.append(_shift(t[0] * w, t[1] * h))
        total = np.eye(3)
        for m in forward:  # G_inv = F1^-1 F2^-1 ... Fk^-1 = (Fk ... F2 F1)^-1
            total = m @ total
        g_invs.append(np.linalg.inv(total))
        c = np.eye(4)
        if on("brightness"):
            c = np.block([[np.eye(3), np.full((3, 1), raw["brightness"][b] * 0.2)], [np.zeros((1, 3)), 1]]) @ c
        if on("contrast"):
            c = np.diag([2 ** (raw["contrast"][b] * 0.5)] * 3 + [1]) @ c
        if on("lumaflip") and np.floor(raw["lumaflip"][b] * 2) == 1:
            reflect = np.eye(4)
            reflect[:3, :3] -= 2 * np.outer(v, v)
            c = reflect @ c
        if channels > 1 and on("hue"):
            rotate = np.eye(4)
            rotate[:3, :3] = Rotation.from_rotvec(v * (raw["hue"][b] * 2 - 1) * np.pi).as_matrix()
            c = rotate @ c
        if channels > 1 and on("saturation"):
            s = 2 ** raw["saturation"][b]
            saturate = np.eye(4)
            saturate[:3, :3] = np.outer(v, v) + (np.eye(3) - np.outer(v, v)) * s
            c = saturate @ c
        cs.append(c)
    return np.stack(g_invs), np.stack(cs)


def _np_resample(x, g_inv):
    """Bilinear sampling of a reflect-padded image at G_inv (x, y, 1), pixel by pixel."""
    x = np.asarray(x, np.float64)
    n, h, w, _ = x.shape
    pad = 4 * max(h, w)
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    cx, cy = (w - 1) / 2, (h - 1) / 2
    out = np.empty_like(x)
    for b, i, j in itertools.product(range(n), range(h), range(w)):
        u, v, _ = g_inv[b] @ np.array([j - cx, i - cy, 1.0])
        u, v = u + cx + pad, v + cy + pad
        u0, v0 = int(np.floor(u)), int(np.floor(v))
        fu, fv = u - u0, v - v0
        out[b, i, j] = ((1 - fv) * ((1 - fu) * padded[b, v0, u0] + fu * padded[b, v0, u0 + 1])
                        + fv * ((1 - fu) * padded[b, v0 + 1, u0] + fu * padded[b, v0 + 1, u0 + 1]))
    return out


def _np_recolor(x, c):
    x = np.asarray(x, np.float64)
    if x.shape[-1] == 3:
        return np.einsum("nij,nhwj->nhwi", c[:, :3, :3], x) + c[:, None, None, :3, 3]
    rows = c[:, :3, :].mean(axis=1)
    return x * rows[:, :3].sum(axis=1)[:, None, None, None] + rows[:, 3][:, None, None, None]


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("shape", [(6, 8, 8, 3), (4, 6, 5, 1)])
def test_ada_pipeline_matches_numpy(p, shape):
    n, h, w, c = shape
    x = _images(shape, seed=5)
    raw = ada.draw_raw(jax.random.PRNGKey(11), n)
    g_inv, color = ada.transforms(raw, p, h, w, c)
    want_g, want_c = _np_ada_matrices(raw, p, h, w, c)
    np.testing.assert_allclose(np.asarray(g_inv), want_g, rtol=1e-5, atol=1e-5)
    # Rows r, g, b act on the image; the homogeneous row is never used (AugmentPipe's is scaled by saturation).
    np.testing.assert_allclose(np.asarray(color)[:, :3], want_c[:, :3], rtol=1e-5, atol=1e-5)
    aug = ada.ADA()
    got = np.asarray(aug.apply(jnp.asarray(x), {"g_inv": g_inv, "color": color}))
    want = _np_recolor(_np_resample(x, want_g), want_c)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    if p == 0.0:  # nothing fires: the images come back exactly
        np.testing.assert_array_equal(got, x)


def test_ada_blit_group_moves_whole_pixels():
    """x-flip, 90-degree rotations and integer translation alone are exact pixel moves (np.rot90 / np.roll)."""
    x = _images((1, 8, 8, 3), seed=6)
    raw = {k: jnp.ones_like(v) for k, v in ada.draw_raw(jax.random.PRNGKey(0), 1).items()}  # gates closed
    raw.update(xflip=jnp.array([0.7]), xflip_gate=jnp.array([0.0]),  # flip
               rotate90=jnp.array([0.3]), rotate90_gate=jnp.array([0.0]))  # i = 1
    g_inv, color = ada.transforms(raw, 0.5, 8, 8)
    got = np.asarray(ada.resample(jnp.asarray(x), g_inv))
    # Output pixel (x, y) reads input G_inv (x, y) = flip(rot(pi/2) (x, y)): (x, y) -> (y, x), a transpose.
    np.testing.assert_array_equal(got[0], x[0].transpose(1, 0, 2))
    raw.update(xflip_gate=jnp.array([1.0]), rotate90_gate=jnp.array([1.0]),
               xint=jnp.array([[1.0, 0.0]]), xint_gate=jnp.array([0.0]))  # +1/8 width right, -1/8 height
    g_inv, _ = ada.transforms(raw, 0.5, 8, 8)
    got = np.asarray(ada.resample(jnp.asarray(x), g_inv))
    np.testing.assert_array_equal(got[0, 1:-1, 1:-1], x[0, 2:, :-2])  # shifted by (+1 column, -1 row)


def test_ada_gates_fire_with_probability_p():
    raw = ada.draw_raw(jax.random.PRNGKey(2), 20000)
    g_inv, color = ada.transforms(raw, 0.3, 8, 8)
    flipped = np.asarray(g_inv[:, 0, 0] * g_inv[:, 1, 1] - g_inv[:, 0, 1] * g_inv[:, 1, 0]) < 0
    # A flip happens when the gate opens (0.3) and the coin says flip (0.5); other ops keep orientation.
    assert abs(flipped.mean() - 0.15) < 0.01
    shifted = np.asarray(color[:, 0, 3]) != 0  # brightness
    assert abs(shifted.mean() - 0.3) < 0.015


# --- ADA's adaptive p -------------------------------------------------------------------------------------------

def test_ada_p_follows_the_closed_form_update_on_scripted_d_outputs():
    aug = ada.ADA(target=0.6, interval=4, kimg=0.5)  # 500 images move p by 1
    n_disc, batch, steps = 2, 8, 40
    rng = np.random.default_rng(7)
    # A scripted sequence: D's real logits drift from mostly negative to mostly positive and back.
    positive_share = np.concatenate([np.linspace(0.1, 1.0, 20), np.linspace(1.0, 0.3, 20)])
    scripted = [[np.where(rng.random(batch) < positive_share[t], 1.0, -1.0) * rng.uniform(0.1, 3, batch)
                 for _ in range(n_disc)] for t in range(steps)]

    @jax.jit
    def run_step(state, logits, step):
        for i in range(n_disc):
            state = aug.observe(state, logits[i])
        return aug.end_step(state, step, n_disc * batch)

    state, got = aug.init_state(), []
    for t in range(steps):
        state = run_step(state, jnp.asarray(np.array(scripted[t]), jnp.float32), t)
        got.append(float(state["p"]))

    p, signs, want = 0.0, [], []
    for t in range(steps):
        signs += [np.sign(v) for batch_logits in scripted[t] for v in batch_logits]
        if (t + 1) % 4 == 0:
            rt = np.mean(signs)
            p = max(0.0, p + np.sign(rt - 0.6) * n_disc * batch * 4 / 500)
            signs = []
        want.append(p)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert max(want) > 0.2 and want[-1] < max(want)  # the script moves p both ways


def test_ada_defaults_are_the_papers():
    aug = ada.ADA()
    assert (aug.target, aug.interval, aug.kimg, aug.initial_p) == (0.6, 4, 500.0, 0.0)
    # batch 64, n_disc 1: each adjustment moves p by 64 * 4 / 500,000, so 0 -> 1 takes 500k images.
    state = aug.init_state()
    state = {**state, "sign_sum": jnp.float32(64.0 * 4), "sign_count": jnp.float32(64.0 * 4)}
    after = aug.end_step(state, 3, 64)
    np.testing.assert_allclose(float(after["p"]), 64 * 4 / 500_000, rtol=1e-6)
    assert ada.ADA(interval=0).problems() and ada.ADA(kimg=-1.0).problems()
    assert ada.ADA().problems((8, 8, 2)) and ada.ADA().problems((2,)) and not ada.ADA().problems((8, 8, 3))
