"""Polygon precision/recall (Lucic et al. 2018, section 6) on triangles drawn by an independent rasterizer:
the subpixel area renderer of the dataset's public generator (compare_gan colab `Convex_Polygons_Dataset`),
written out here with matplotlib's point-in-polygon test."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from matplotlib import path
from scipy import ndimage

from gan_bench.metrics.polygons import distance_to_generator, distance_to_triangles, polygon_prf, soft_triangle


def render_triangle(vertices, dim=28, subpixels=8):
    """Exact-ish area coverage: 1 = background, 0 = inside; returned on the [-1, 1] scale."""
    inside = path.Path(vertices * subpixels).contains_points(
        np.mgrid[0:dim * subpixels, 0:dim * subpixels].reshape(2, -1).T).reshape(dim * subpixels, -1)
    outside = ndimage.convolve((~inside).astype(np.float32), np.ones((subpixels, subpixels)), mode="constant",
                               cval=1.0)[::subpixels, ::subpixels] / subpixels ** 2
    return outside * 2.0 - 1.0


def random_triangle(rng, dim=28, scale=0.75, min_angle=20.0):
    """Vertices as in the dataset generator: one per 120° segment of a circle, random rotation, centred."""
    angles = np.radians(np.arange(3) * 120.0 + min_angle / 2 + rng.random(3) * (120.0 - min_angle / 2))
    theta = rng.random() * 2 * np.pi
    unit = (np.stack([np.cos(angles), np.sin(angles)], 1) + 1) / 2
    v = unit @ np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]) * dim * scale
    return v + dim / 2 - v.mean(0)


@pytest.fixture(scope="module")
def triangles():
    rng = np.random.default_rng(0)
    return np.stack([render_triangle(random_triangle(rng)) for _ in range(8)])


def test_real_triangles_are_on_the_manifold(triangles):
    distances = distance_to_triangles(triangles, steps=150)
    assert (distances < 0.1).mean() == 1.0  # precision of real data = 1


def test_noise_and_blur_are_off_the_manifold(triangles):
    rng = np.random.default_rng(1)
    noise = rng.uniform(-1, 1, (4, 28, 28))
    assert (distance_to_triangles(noise, steps=150) < 0.1).mean() == 0.0
    blurred = ndimage.gaussian_filter(triangles[:4], (0, 1.5, 1.5))
    assert (distance_to_triangles(blurred, steps=150) < 0.1).mean() == 0.0
    # polarity is read from the border: inverted triangles (dark background) are triangles too
    assert (distance_to_triangles(-triangles[:4], steps=150) < 0.1).mean() == 1.0


def triangle_generator(variables, z):
    """A generator whose range is the triangle manifold: z [B, 6] -> vertices -> image [B, 28, 28, 1].

    `variables` = (centre, spread) play the role of a generator's weights.
    """
    centre, spread = variables
    vertices = centre + spread * z.reshape(-1, 3, 2)
    coverage = jax.vmap(lambda v: soft_triangle(v, 28))(vertices)
    return (1.0 - 2.0 * coverage)[..., None]


def test_recall_of_a_covering_and_a_collapsed_generator(triangles):
    test = triangles[:6]
    covering = distance_to_generator(test, triangle_generator, 6, (14.0, 7.0), steps=200, lr=0.05, restarts=4)
    assert (covering < 0.1).mean() >= 5 / 6
    collapsed = distance_to_generator(test, fixed, 6, (14.0, 7.0), steps=5)
    assert (collapsed < 0.1).mean() == 0.0


def fixed(variables, z):
    """A collapsed generator: one triangle whatever z."""
    return triangle_generator(variables, jnp.zeros_like(z) + jnp.array([1.0, 0, -0.5, 0.8, -0.5, -0.8]))


def test_inversion_compiles_once_per_generator(triangles):
    """A trial evaluates the same generator with new weights every N steps: that must not recompile."""
    from gan_bench.metrics import polygons
    test = triangles[:2]
    before = polygons._adam_minimize._cache_size()
    near = distance_to_generator(test, fixed, 6, (14.0, 7.0), steps=5)
    far = distance_to_generator(test, fixed, 6, (40.0, 7.0), steps=5)
    assert polygons._adam_minimize._cache_size() <= before + 1  # a second trace would make it + 2
    assert (far > near).all()  # the new weights were used: the triangle moved off the image


def test_prf_f1_and_validation(triangles):
    rng = np.random.default_rng(2)
    samples = np.concatenate([triangles[:4], rng.uniform(-1, 1, (4, 28, 28))])  # precision 1/2
    collapsed = np.asarray(fixed((14.0, 7.0), jnp.zeros((1, 6))))[..., 0]
    test = np.concatenate([triangles[:3], collapsed])  # recall 1/4
    out = polygon_prf(samples, test, fixed, 6, (14.0, 7.0), fit_steps=150, inversion_steps=5)
    assert out["polygon_precision"] == 0.5 and out["polygon_recall"] == 0.25
    assert out["polygon_f1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    with pytest.raises(ValueError, match="delta"):
        polygon_prf(samples, test, fixed, 6, (14.0, 7.0), delta=0.0)
    with pytest.raises(ValueError, match="polygon images"):
        polygon_prf(np.zeros((2, 28, 20)), test, fixed, 6, (14.0, 7.0))


def test_project_polygons_dataset_is_on_the_manifold():
    from gan_bench import data  # the training data itself must score precision 1
    test_split = data.load("polygons", "test").get(np.arange(6))
    assert (distance_to_triangles(test_split, steps=150) < 0.1).mean() == 1.0


def test_trial_logs_polygon_prf_every_eval_without_recompiling(tmp_path):
    """The metric runs inside a trial every `eval_every` steps, lands in metrics.jsonl, and compiles once."""
    from gan_bench.metrics import polygons
    from gan_bench.train import run_trial
    before = polygons._adam_minimize._cache_size()
    status = run_trial(str(tmp_path / "t"), (), [
        "trial.dataset = 'polygons'", "trial.architecture = 'infogan'", "trial.batch_size = 8", "trial.z_dim = 4",
        "infogan.g_width = 4", "infogan.d_width = 4", "infogan.fc_width = 16", "trial.train_steps = 4",
        "trial.eval_every = 2", "trial.log_every = 0", "trial.metrics = ['polygon_prf']",
        "trial.eval_num_samples = 4", "polygon_prf.fit_steps = 3", "polygon_prf.fit_restarts = 1",
        "polygon_prf.inversion_steps = 3", "polygon_prf.inversion_restarts = 1"])
    assert status["state"] == "done"
    rows = [json.loads(line) for line in open(tmp_path / "t" / "metrics.jsonl")]
    evals = [r for r in rows if "polygon_f1" in r]
    assert [r["step"] for r in evals] == [2, 4]
    assert all(0.0 <= r[k] <= 1.0 for r in evals for k in ("polygon_precision", "polygon_recall", "polygon_f1"))
    assert polygons._adam_minimize._cache_size() - before <= 2  # one fit program + one inversion program
