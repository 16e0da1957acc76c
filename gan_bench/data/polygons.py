"""Convex polygons (triangles) of Lucic et al. 2018, "Are GANs Created Equal?", section 5 (precision/recall).

The data set follows the authors' generator (google/compare_gan `colabs/Convex_Polygons_Dataset.ipynb`):
80,000 gray 28x28 triangles, the first 60,000 the training split, the next 10,000 the test split and the
last 10,000 a hold-out split. A triangle is inscribed in a circle of diameter `scale * 28` (scale 0.75),
randomly rotated, and moved so its center of mass is the image center. Each pixel is split into 8x8
subpixels and its value is the fraction of subpixels *outside* the triangle: the background is white (1)
and the triangle black (0), with antialiased (fractional) edges. Mapped to [-1, 1]: background +1,
triangle -1.

Minimum angle: every interior angle of the triangle is at least 20 degrees. By the inscribed angle
theorem an interior angle is half the arc between the two other vertices, so we draw the three arcs as
`40 deg + 240 deg * Dirichlet(1, 1, 1)`, i.e. angle triples uniform on {a, b, c >= 20, a + b + c = 180}.
(The reference code places one vertex per 120-degree sector, which bounds the arcs, and so the angles,
less tightly; we enforce the stated 20 degrees exactly.)

`render_triangles` and `sample_triangles` are public because the polygon precision metric searches for
the triangle nearest to a generated image.
"""
import numpy as np

from gan_bench.data.base import DATASETS, Dataset, check_options, check_split

RASTER, SCALE, SUBPIXELS, MIN_ANGLE_DEG = 28, 0.75, 8, 20.0
SPLIT_RANGES = {"train": (0, 60_000), "test": (60_000, 70_000), "holdout": (70_000, 80_000)}
_DATA_SEED = 0x7019  # one draw of 80,000 triangles, sliced into the disjoint splits


def sample_triangles(num: int, rng: np.random.Generator, min_angle_deg: float = MIN_ANGLE_DEG,
                     raster: int = RASTER, scale: float = SCALE) -> np.ndarray:
    """Vertices [num, 3, 2] float64 (x = column, y = row, in pixels, origin at the image's top-left corner).

    Vertices lie on a circle of radius `raster * scale / 2`; all interior angles are >= `min_angle_deg`;
    the centroid is at (raster / 2, raster / 2). Every vertex stays inside the raster: its distance to
    the centroid is at most 4/3 of the radius, 14 pixels for the defaults.
    """
    if not 0.0 <= min_angle_deg <= 60.0:
        raise ValueError(f"min_angle_deg must be in [0, 60], got {min_angle_deg}")
    min_arc = np.radians(2.0 * min_angle_deg)
    arcs = min_arc + (2.0 * np.pi - 3.0 * min_arc) * rng.dirichlet(np.ones(3), size=num)  # [num, 3]
    start = rng.uniform(0.0, 2.0 * np.pi, size=(num, 1))  # random rotation
    angles = start + np.concatenate([np.zeros((num, 1)), np.cumsum(arcs[:, :2], axis=1)], axis=1)
    radius = raster * scale / 2.0
    vertices = radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    return vertices - vertices.mean(axis=1, keepdims=True) + raster / 2.0


def triangle_angles(vertices: np.ndarray) -> np.ndarray:
    """Interior angles [N, 3] in degrees (angle at vertex i), by the law of cosines."""
    v = np.asarray(vertices, dtype=np.float64)
    out = []
    for i in range(3):
        a, b = v[:, (i + 1) % 3] - v[:, i], v[:, (i + 2) % 3] - v[:, i]
        cos = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
        out.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    return np.stack(out, axis=1)


def coverage_counts(vertices: np.ndarray, raster: int = RASTER, subpixels: int = SUBPIXELS) -> np.ndarray:
    """Number of subpixel centers inside each triangle, per pixel: int32 [N, raster, raster].

    Subpixel centers are at ((k + 0.5) / subpixels) pixels, k = 0 .. raster*subpixels - 1, on both axes.
    A triangle is the intersection of three half-planes, so each subpixel row cuts it in one interval
    [x_lo, x_hi]; the count per pixel is the number of subpixel centers of that pixel in the interval.
    Works for either vertex orientation; degenerate (zero-area) triangles cover nothing.
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 3 or v.shape[1:] != (3, 2):
        raise ValueError(f"triangle vertices must have shape [N, 3, 2], got {v.shape}")
    n, fine = v.shape[0], raster * subpixels
    # Orient every triangle counter-clockwise (positive signed area in x-y) so "inside" is left of each edge.
    area2 = ((v[:, 1, 0] - v[:, 0, 0]) * (v[:, 2, 1] - v[:, 0, 1])
             - (v[:, 2, 0] - v[:, 0, 0]) * (v[:, 1, 1] - v[:, 0, 1]))
    v = np.where((area2 < 0)[:, None, None], v[:, ::-1], v)
    ys = (np.arange(fine) + 0.5) / subpixels  # [fine] subpixel row centers
    x_lo = np.full((n, fine), -np.inf)
    x_hi = np.full((n, fine), np.inf)
    empty = np.broadcast_to((area2 == 0)[:, None], (n, fine)).copy()
    for i in range(3):
        ax, ay = v[:, i, 0:1], v[:, i, 1:2]
        dx, dy = v[:, (i + 1) % 3, 0:1] - ax, v[:, (i + 1) % 3, 1:2] - ay
        # Inside: dx * (y - ay) - dy * (x - ax) >= 0, i.e. slope * x + offset >= 0.
        slope, offset = -dy, dx * (ys[None, :] - ay) + dy * ax
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = -offset / slope
        x_lo = np.where(slope > 0, np.maximum(x_lo, bound), x_lo)
        x_hi = np.where(slope < 0, np.minimum(x_hi, bound), x_hi)
        empty |= (slope == 0) & (offset < 0)
    # Subpixel column k is inside when x_lo <= (k + 0.5) / subpixels <= x_hi.
    k_lo = np.ceil(np.clip(x_lo * subpixels - 0.5, -1, fine)).astype(np.int64)
    k_hi = np.floor(np.clip(x_hi * subpixels - 0.5, -1, fine)).astype(np.int64)
    first = np.arange(raster) * subpixels  # first subpixel column of each pixel
    per_row = (np.minimum(k_hi[..., None], first + subpixels - 1)
               - np.maximum(k_lo[..., None], first) + 1)  # [n, fine, raster]
    per_row = np.where(empty[..., None], 0, np.maximum(per_row, 0))
    return per_row.reshape(n, raster, subpixels, raster).sum(axis=2).astype(np.int32)


def render_triangles(vertices: np.ndarray, raster: int = RASTER, subpixels: int = SUBPIXELS,
                     chunk: int = 1024) -> np.ndarray:
    """Antialiased images [N, raster, raster, 1] float32 in [-1, 1]: background +1, triangle -1.

    Pixel value = 1 - 2 * (covered fraction of its subpixels); see `coverage_counts` for conventions.
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 3 or v.shape[1:] != (3, 2):
        raise ValueError(f"triangle vertices must have shape [N, 3, 2], got {v.shape}")
    out = np.empty((v.shape[0], raster, raster, 1), np.float32)
    for s in range(0, v.shape[0], chunk):
        frac = coverage_counts(v[s:s + chunk], raster, subpixels) / float(subpixels * subpixels)
        out[s:s + chunk, ..., 0] = 1.0 - 2.0 * frac
    return out


class TriangleDataset(Dataset):
    """Triangles stored as vertices [N, 3, 2] and rendered per `get` (28x28x1, no labels)."""

    def __init__(self, name: str, vertices: np.ndarray):
        super().__init__(name, (RASTER, RASTER, 1), len(vertices))
        self.vertices = vertices

    def _get(self, idx):
        return render_triangles(self.vertices[idx])


@DATASETS.register("polygons")
def load_polygons(split: str = "train", data_dir=None, **options) -> TriangleDataset:
    """Splits: train (60,000), test (10,000), holdout (10,000); disjoint slices of one fixed draw."""
    del data_dir
    check_options("polygons", options)
    lo, hi = SPLIT_RANGES[check_split("polygons", split, SPLIT_RANGES)]
    vertices = sample_triangles(SPLIT_RANGES["holdout"][1], np.random.default_rng(_DATA_SEED))
    return TriangleDataset("polygons", vertices[lo:hi])
