"""Precision, recall and F1 on the convex-polygon (triangle) task of Lucic et al. 2018, "Are GANs Created
Equal?", arXiv:1711.10337, section 6: the data manifold is known, so

- precision = share of generated images within `delta` of the manifold of triangle images;
- recall    = share of test triangles that the generator reaches within `delta`: z* = argmin_z d(G(z), x),
              found by Adam on z from several random starts (latent inversion);
- F1 = 2 P R / (P + R).

Distance d(a, b) = root-mean-square pixel difference on the [-1, 1] scale. The distance of an image to the
manifold is min over triangles T of d(image, render(T)); we find it by fitting the 6 vertex coordinates with Adam
(several starts) through a smooth rasterizer: pixel coverage = product over the 3 edges of
sigmoid(4 * signed distance of the pixel centre to the edge) (slope 1 at the edge, like the exact area coverage
of a pixel cut by a straight edge). Background polarity (+1 or -1) is read from each image's border.
delta and the optimization budgets are gin-configurable (`polygon_prf.*`); delta = 0.1 keeps real rendered
triangles (fit residual about 0.02-0.05) and rejects shifted or blurred ones.
"""
import functools
from typing import Callable

import gin
import jax
import jax.numpy as jnp
import numpy as np
import optax


def _as_gray(images) -> np.ndarray:
    images = np.asarray(images, np.float32)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"polygon images must be [N, S, S] or [N, S, S, 1] in [-1, 1], got {images.shape}")
    return images


def soft_triangle(vertices, size: int):
    """Smooth coverage [size, size] in [0, 1] of the triangle vertices [3, 2] (row, col pixel coordinates)."""
    rows, cols = jnp.meshgrid(jnp.arange(size) + 0.5, jnp.arange(size) + 0.5, indexing="ij")
    points = jnp.stack([rows, cols], axis=-1)  # [S, S, 2]
    start, edge = vertices, jnp.roll(vertices, -1, axis=0) - vertices  # [3, 2]
    area2 = edge[0, 0] * edge[1, 1] - edge[0, 1] * edge[1, 0]
    orient = jnp.where(area2 >= 0, 1.0, -1.0)
    rel = points[:, :, None, :] - start  # [S, S, 3, 2]
    cross = edge[:, 0] * rel[..., 1] - edge[:, 1] * rel[..., 0]
    signed = orient * cross / (jnp.linalg.norm(edge, axis=-1) + 1e-6)
    return jnp.prod(jax.nn.sigmoid(4.0 * signed), axis=-1)


def _background(images: np.ndarray) -> np.ndarray:
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    return np.where(border.mean(axis=1) >= 0, 1.0, -1.0).astype(np.float32)


def _initial_vertices(images: np.ndarray, background: np.ndarray, restarts: int, seed: int) -> np.ndarray:
    """Equilateral triangles [N, R, 3, 2] at the foreground's centre of mass, sized by its second moment."""
    n, size = images.shape[0], images.shape[1]
    weight = np.clip((background[:, None, None] - images) / 2.0 * background[:, None, None], 0, 1) + 1e-6
    rows, cols = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5, indexing="ij")
    mass = weight.sum(axis=(1, 2))
    centre = np.stack([(weight * rows).sum((1, 2)), (weight * cols).sum((1, 2))], -1) / mass[:, None]
    spread = ((weight * ((rows - centre[:, 0, None, None]) ** 2 + (cols - centre[:, 1, None, None]) ** 2))
              .sum((1, 2)) / mass)
    radius = 2.0 * np.sqrt(spread)  # equilateral triangle: E|p - c|² = R² / 4
    angles = np.random.default_rng(seed).uniform(0, 2 * np.pi, (n, restarts, 1)) + 2 * np.pi / 3 * np.arange(3)
    offsets = np.stack([np.cos(angles), np.sin(angles)], axis=-1) * radius[:, None, None, None]
    return (centre[:, None, None, :] + offsets).astype(np.float32)


def _triangle_mse(vertices, target, background):
    """Per-item MSE between the rendered triangles `vertices` [N, 3, 2] and `target` [N, S, S]."""
    coverage = jax.vmap(lambda v: soft_triangle(v, target.shape[-1]))(vertices)
    rendered = background[:, None, None] * (1.0 - 2.0 * coverage)
    return jnp.mean((rendered - target) ** 2, axis=(1, 2))


def _generator_mse(z, target, generate, variables):
    """Per-item MSE between generate(variables, z) and `target` [N, S, S]."""
    out = jnp.asarray(generate(variables, z), jnp.float32).reshape(target.shape)
    return jnp.mean((out - target) ** 2, axis=(1, 2))


@functools.partial(jax.jit, static_argnames=("loss", "steps", "generate"))
def _adam_minimize(init, target, aux, lr, *, loss, steps: int, generate=None):
    """Final per-item losses after `steps` of Adam on a batch of independent problems, in one XLA program.

    `loss(params, target, aux)` (or `loss(params, target, generate, aux)`) is a module-level function and
    `generate` the caller's generator function, both static: evaluating the same generator again with new
    weights (`aux`) reuses the compiled program instead of tracing it anew at every evaluation.
    """
    def per_item(params):
        return loss(params, target, aux) if generate is None else loss(params, target, generate, aux)

    tx = optax.adam(lr)

    def body(_, carry):
        params, opt_state = carry
        grads = jax.grad(lambda p: per_item(p).sum())(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    params, _ = jax.lax.fori_loop(0, steps, body, (init, tx.init(init)))
    return per_item(params)


def distance_to_triangles(images, steps: int = 300, lr: float = 0.3, restarts: int = 4, seed: int = 0
                          ) -> np.ndarray:
    """RMS distance [N] of each image [N, S, S(, 1)] in [-1, 1] to the closest rendered triangle."""
    images = _as_gray(images)
    background = _background(images)
    n = images.shape[0]
    init = _initial_vertices(images, background, restarts, seed).reshape(n * restarts, 3, 2)
    losses = _adam_minimize(jnp.asarray(init), jnp.asarray(np.repeat(images, restarts, axis=0)),
                            jnp.asarray(np.repeat(background, restarts)), lr, loss=_triangle_mse, steps=steps)
    return np.sqrt(np.asarray(losses).reshape(n, restarts).min(axis=1))


def distance_to_generator(images, generate: Callable, z_dim: int, variables=(), steps: int = 200,
                          lr: float = 0.05, restarts: int = 3, seed: int = 0) -> np.ndarray:
    """RMS distance [N] of each image to the closest G(z) found by latent inversion (Adam over z).

    `generate(variables, z)`: z [B, z_dim] -> images [B, S, S(, 1)] in [-1, 1], a jax-traceable function;
    `variables` (a pytree, e.g. the generator's parameters and batch-norm state) is passed through as data.
    """
    images = _as_gray(images)
    n = images.shape[0]
    target = jnp.asarray(np.repeat(images, restarts, axis=0))
    z0 = jax.random.normal(jax.random.PRNGKey(seed), (n * restarts, z_dim))
    losses = _adam_minimize(z0, target, variables, lr, loss=_generator_mse, steps=steps, generate=generate)
    return np.sqrt(np.asarray(losses).reshape(n, restarts).min(axis=1))


@gin.configurable("polygon_prf")
def polygon_prf(samples, test_images, generate: Callable, z_dim: int, variables=(), delta: float = 0.1,
                fit_steps: int = 300, fit_lr: float = 0.3, fit_restarts: int = 4, inversion_steps: int = 200,
                inversion_lr: float = 0.05, inversion_restarts: int = 3, seed: int = 0) -> dict:
    """{"polygon_precision", "polygon_recall", "polygon_f1"} for generated samples and test triangles.

    `generate(variables, z)` is the generator (see `distance_to_generator`).
    """
    if not delta > 0:
        raise ValueError(f"polygon_prf.delta must be positive, got {delta}")
    samples, test_images = _as_gray(samples), _as_gray(test_images)
    if samples.shape[1:] != test_images.shape[1:]:
        raise ValueError(f"samples {samples.shape} and test images {test_images.shape} differ in size")
    precision = float((distance_to_triangles(samples, fit_steps, fit_lr, fit_restarts, seed) < delta).mean())
    recall = float((distance_to_generator(test_images, generate, z_dim, variables, inversion_steps, inversion_lr,
                                          inversion_restarts, seed) < delta).mean())
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"polygon_precision": precision, "polygon_recall": recall, "polygon_f1": f1}
