"""Data contract: batch order, registry errors, 2-D mixtures and the polygon (triangle) data set.

Oracles: explicit per-epoch permutations, closed-form mode positions and published std values
(VEEGAN / PacGAN), sampling statistics with binomial / chi-square bounds, the law of cosines and shoelace
area, and matplotlib's point-in-polygon test on the same subpixel grid.
"""
import numpy as np
import pytest
from matplotlib.path import Path
from scipy import stats

from gan_bench import data
from gan_bench.data import polygons


# ---------------------------------------------------------------- batch order
def _stream(seed, num_examples, epochs):
    return np.concatenate([np.random.default_rng((seed, e)).permutation(num_examples) for e in range(epochs)])


def test_batch_indices_follow_epoch_permutations_and_straddle_boundaries():
    n, b = 10, 3
    stream = _stream(7, n, 4)
    for step in range(12):  # 36 indices = 3.6 epochs; steps 3, 6, 9 straddle an epoch boundary
        np.testing.assert_array_equal(data.batch_indices(7, step, b, n), stream[step * b:(step + 1) * b])
    seen = np.concatenate([data.batch_indices(7, s, b, n) for s in range(10)])  # 3 full epochs
    for e in range(3):
        assert sorted(seen[e * n:(e + 1) * n]) == list(range(n))


def test_batch_indices_are_the_stream_in_any_order_of_calls_and_streams():
    """The current epoch of each stream is cached: interleaved streams (a population's members), a step back to
    an earlier epoch (a resume) and a caller writing into its batch all leave every batch equal to the stream."""
    n, b = 10, 4
    streams = {seed: _stream(seed, n, 6) for seed in (0, 1, 2)}
    order = [(0, 0), (1, 0), (0, 7), (2, 3), (1, 12), (0, 1), (2, 14), (0, 7), (1, 2), (2, 0)]
    for seed, step in order:
        got = data.batch_indices(seed, step, b, n)
        np.testing.assert_array_equal(got, streams[seed][step * b:(step + 1) * b])
        got[:] = -1  # the caller's copy
    np.testing.assert_array_equal(data.batch_indices(0, 7, b, n), streams[0][28:32])


def test_batch_larger_than_dataset_spans_several_epochs():
    idx = data.batch_indices(1, 2, 25, 10)  # positions 50..74: epochs 5, 6 and half of 7
    np.testing.assert_array_equal(idx, _stream(1, 10, 8)[50:75])
    assert np.bincount(idx[:20], minlength=10).tolist() == [2] * 10


def test_batch_indices_deterministic_and_seed_dependent():
    a = data.batch_indices(3, 1000, 64, 60000)
    np.testing.assert_array_equal(a, data.batch_indices(3, 1000, 64, 60000))
    assert not np.array_equal(a, data.batch_indices(4, 1000, 64, 60000))
    assert a.dtype == np.int64 and a.shape == (64,) and len(set(a.tolist())) == 64


@pytest.mark.parametrize("args", [(-1, 0, 4, 10), (0, -1, 4, 10), (0, 0, 0, 10), (0, 0, 4, 0), (0, 0.5, 4, 10)])
def test_batch_indices_rejects_bad_arguments(args):
    with pytest.raises(ValueError, match="batch_indices"):
        data.batch_indices(*args)


# ---------------------------------------------------------------- registry and contract errors
def test_unknown_name_split_option_are_named_with_choices():
    with pytest.raises(ValueError, match=r"'ring9'.*ring8"):
        data.load("ring9")
    with pytest.raises(ValueError, match=r"'validation'.*train, test"):
        data.load("ring8", "validation")
    with pytest.raises(ValueError, match=r"holdout"):
        data.load("polygons", "dev")
    with pytest.raises(ValueError, match=r"radius.*num_examples"):
        data.load("ring8", radius=2)


def test_get_rejects_out_of_range_and_non_integer_indices():
    ds = data.load("ring8", num_examples=10)
    with pytest.raises(ValueError, match="index 10 out of range"):
        ds.get(np.array([0, 10]))
    with pytest.raises(ValueError, match="integer"):
        ds.get(np.array([0.0, 1.0]))


# ---------------------------------------------------------------- 2-D mixtures
def _check_mixture(ds, centers, std):
    x, lab = ds.get(np.arange(ds.num_examples)), ds.labels(np.arange(ds.num_examples))
    k, n = len(centers), ds.num_examples
    np.testing.assert_allclose(ds.modes, centers, atol=1e-12)
    assert ds.mode_std == std and ds.num_classes == k and x.shape == (n, 2) and x.dtype == np.float32
    counts = np.bincount(lab, minlength=k)
    assert np.all(np.abs(counts - n / k) < 5 * np.sqrt(n * (1 / k) * (1 - 1 / k)))  # binomial, 5 sigma
    for m in range(k):
        pts = x[lab == m].astype(np.float64)
        assert np.all(np.abs(pts.mean(0) - centers[m]) < 5 * std / np.sqrt(len(pts)))
        dof = 2 * (len(pts) - 1)  # pooled variance of both coordinates
        var = np.sum((pts - pts.mean(0)) ** 2) / dof
        lo, hi = stats.chi2.ppf([1e-6, 1 - 1e-6], dof) / dof * std ** 2
        assert lo < var < hi, (m, np.sqrt(var))
    # Every point is nearest to its own mode (modes are >= 0.76 apart, 3 std is <= 0.15).
    nearest = np.argmin(((x[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, lab)


def test_ring8_matches_published_radius_and_std():
    angles = np.arange(8) * np.pi / 4
    _check_mixture(data.load("ring8", num_examples=20000), np.stack([np.cos(angles), np.sin(angles)], 1), 0.01)


def test_grid25_matches_published_spacing_and_std():
    centers = np.array([[i, j] for i in (-4, -2, 0, 2, 4) for j in (-4, -2, 0, 2, 4)], float)
    _check_mixture(data.load("grid25", "test", num_examples=25000), centers, 0.05)


def test_mixture_splits_are_fixed_and_different():
    a, b, c = (data.load("ring8", s) for s in ("train", "train", "test"))
    assert a.num_examples == 100_000
    np.testing.assert_array_equal(a.get(np.arange(50)), b.get(np.arange(50)))
    assert not np.allclose(a.get(np.arange(50)), c.get(np.arange(50)))


# ---------------------------------------------------------------- polygons
def test_sampled_triangles_respect_min_angle_and_geometry():
    v = polygons.sample_triangles(5000, np.random.default_rng(0))
    ang = polygons.triangle_angles(v)
    np.testing.assert_allclose(ang.sum(1), 180.0, atol=1e-9)
    assert ang.min() >= 20.0 - 1e-9 and ang.min() < 21.0 and ang.max() <= 140.0 + 1e-9
    np.testing.assert_allclose(v.mean(1), 14.0, atol=1e-9)  # centroid at the image center
    assert v.min() >= 0.0 and v.max() <= 28.0
    a = np.linalg.norm(v[:, 1] - v[:, 2], axis=1)  # circumradius a / (2 sin A) = 28 * 0.75 / 2
    np.testing.assert_allclose(a / (2 * np.sin(np.radians(ang[:, 0]))), 10.5, rtol=1e-9)


def _matplotlib_counts(tri, raster=28, sub=8):
    c = (np.arange(raster * sub) + 0.5) / sub
    xx, yy = np.meshgrid(c, c)  # xx varies along columns, yy along rows
    inside = Path(tri).contains_points(np.stack([xx.ravel(), yy.ravel()], 1)).reshape(raster * sub, raster * sub)
    return inside.reshape(raster, sub, raster, sub).sum(axis=(1, 3))


def test_renderer_matches_matplotlib_point_in_polygon():
    v = polygons.sample_triangles(12, np.random.default_rng(1))
    counts = polygons.coverage_counts(v)
    for t in range(len(v)):
        np.testing.assert_array_equal(counts[t], _matplotlib_counts(v[t]))


def test_rendered_area_converges_to_shoelace_area():
    v = polygons.sample_triangles(300, np.random.default_rng(2))
    x, y = v[..., 0], v[..., 1]
    shoelace = 0.5 * np.abs((x * np.roll(y, -1, 1)).sum(1) - (y * np.roll(x, -1, 1)).sum(1))
    covered = ((1.0 - polygons.render_triangles(v)[..., 0]) / 2.0).sum((1, 2))  # pixel units, 8x8 subpixels
    err8 = np.abs(covered - shoelace)
    assert err8.max() < 1.0 and (err8 / shoelace).max() < 0.02
    err32 = np.abs(polygons.coverage_counts(v, subpixels=32).sum((1, 2)) / 32.0 ** 2 - shoelace)
    assert err32.max() < 0.25 and err32.mean() < err8.mean() / 2  # error shrinks ~ 1 / subpixels


def test_render_values_orientation_and_degenerate():
    tri = np.array([[[2.0, 1.5], [26.0, 1.5], [2.0, 25.5]]])  # right triangle, legs 24
    img = polygons.render_triangles(tri)
    assert img.shape == (1, 28, 28, 1) and img.dtype == np.float32
    assert img[0, 27, 27, 0] == 1.0 and img[0, 5, 5, 0] == -1.0  # background +1, inside -1
    # Pixel (row 1, col 10) is cut by the edge y = 1.5: 4 of its 8 subpixel rows inside -> value 0.
    assert img[0, 1, 10, 0] == 0.0
    np.testing.assert_array_equal(img, polygons.render_triangles(tri[:, ::-1]))
    flat = polygons.render_triangles(np.array([[[1.0, 1.0], [5.0, 5.0], [9.0, 9.0]]]))
    assert np.all(flat == 1.0)
    with pytest.raises(ValueError, match=r"\[N, 3, 2\]"):
        polygons.render_triangles(np.zeros((2, 4, 2)))


def test_polygon_splits_sizes_disjoint_and_images_in_range():
    ds = {s: data.load("polygons", s) for s in ("train", "test", "holdout")}
    assert [d.num_examples for d in ds.values()] == [60000, 10000, 10000]
    rows = {s: {tuple(r) for r in np.round(d.vertices.reshape(len(d.vertices), -1), 9)} for s, d in ds.items()}
    for a, b in (("train", "test"), ("train", "holdout"), ("test", "holdout")):
        assert not rows[a] & rows[b], (a, b)
    x = ds["test"].get(np.arange(64))
    assert x.shape == (64, 28, 28, 1) and x.min() == -1.0 and x.max() == 1.0
    assert ds["test"].labels(np.arange(3)) is None
    np.testing.assert_array_equal(x, data.load("polygons", "test").get(np.arange(64)))


def test_every_dataset_has_a_gin_fragment_naming_it():
    import glob
    import os
    import re
    folder = os.path.join(os.path.dirname(__file__), "..", "gin_configs", "datasets")
    named = {}
    for path in glob.glob(os.path.join(folder, "*.gin")):
        values = re.findall(r"^trial\.dataset = '([a-z0-9_]+)'$", open(path).read(), flags=re.M)
        assert len(values) == 1, path
        named[os.path.basename(path)[:-4]] = values[0]
    assert all(stem == value for stem, value in named.items())
    assert sorted(named) == sorted(data.DATASETS.names())
