"""The FID Inception v3 in Flax, and ``extract`` (pool3 features and logits) for FID / IS / KID / PRD.

The network itself (torchvision's ``Inception3`` with pytorch-fid's FID patches, BatchNorm folded) is
``inception_net.FIDInceptionV3``; this module loads its weights, resizes and normalises the images, and
runs it batch by batch.

Resize modes (inputs of any size are brought to 299×299):
  ``"bilinear"`` — exactly pytorch-fid: ``x01 = uint8/255`` (or ``(x+1)/2`` for floats),
    ``F.interpolate(x01, (299, 299), mode="bilinear", align_corners=False)`` (half-pixel centres,
    source index ``(i+0.5)·in/299 − 0.5`` clamped to ``[0, in−1]``, two taps, no antialiasing even when
    downscaling), then ``2·x − 1``.
  ``"tf1"`` — TTUR / TF1 FID: pixels in [0, 255] (``uint8`` as is, floats as ``(x+1)·127.5``), TF1
    ``tf.image.resize_bilinear(align_corners=False)`` (source index ``i·in/299``, no half-pixel offset,
    upper tap clamped to ``in−1``, no antialiasing), then the graph's own ``(x − 128) / 128``.
Both resizes are applied as two dense interpolation matrices, one per axis (``resize_matrix``).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util
from jax.sharding import NamedSharding, PartitionSpec

from gan_bench.metrics import weights as weights_lib
from gan_bench.metrics.inception_net import NUM_LOGITS, POOL3_DIM, FIDInceptionV3
from gan_bench.metrics.inception_net import avg_pool_same as _avg_pool_same  # noqa: F401 (tests use it)

INPUT_SIZE = 299
RESIZE_MODES = ("bilinear", "tf1")
_HIGHEST = jax.lax.Precision.HIGHEST


def resize_matrix(size_in: int, size_out: int, mode: str) -> np.ndarray:
    """[size_out, size_in] bilinear weights along one axis (see the module docstring for modes).

    The weights are computed in float32 the way the reference implementations do, so that they agree
    bit for bit: the scale ``in/out`` rounded to float32, the source index rounded once to float32
    (torch CPU evaluates ``scale·(i+0.5) − 0.5`` with a fused multiply-add; TF1 computes ``i·scale``),
    and the fractional part ``λ`` in float32.
    """
    scale = np.float64(np.float32(size_in) / np.float32(size_out))
    dst = np.arange(size_out, dtype=np.float64)
    if mode == "bilinear":  # torch area_pixel_compute_source_index, align_corners=False
        src = np.maximum((scale * (dst + 0.5) - 0.5).astype(np.float32), np.float32(0.0))
    elif mode == "tf1":  # TF1 resize_bilinear, align_corners=False, no half-pixel centres
        src = (scale * dst).astype(np.float32)
    else:
        raise ValueError(f"resize={mode!r}; expected one of {RESIZE_MODES}")
    low = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    frac = np.clip(src - low.astype(np.float32), 0.0, 1.0).astype(np.float32)
    matrix = np.zeros((size_out, size_in))
    np.add.at(matrix, (np.arange(size_out), low), (np.float32(1.0) - frac).astype(np.float64))
    np.add.at(matrix, (np.arange(size_out), high), frac.astype(np.float64))
    return matrix


def preprocess(images, mode: str):
    """[B, H, W, C] uint8 [0, 255] or float [-1, 1] -> [B, 299, 299, 3] float32 network input (jittable)."""
    float_input = jnp.issubdtype(images.dtype, jnp.floating)
    x = images.astype(jnp.float32)
    if mode == "bilinear":
        x = (x + 1.0) / 2.0 if float_input else x / 255.0
    else:
        x = (x + 1.0) * 127.5 if float_input else x
    rows = jnp.asarray(resize_matrix(images.shape[1], INPUT_SIZE, mode), jnp.float32)
    cols = jnp.asarray(resize_matrix(images.shape[2], INPUT_SIZE, mode), jnp.float32)
    x = jnp.einsum("oh,bhwc->bowc", rows, x, precision=_HIGHEST)
    x = jnp.einsum("pw,bowc->bopc", cols, x, precision=_HIGHEST)
    x = 2.0 * x - 1.0 if mode == "bilinear" else (x - 128.0) / 128.0
    return jnp.broadcast_to(x, x.shape[:3] + (3,))  # grayscale -> RGB


@functools.cache
def _param_shapes() -> dict:
    shapes = jax.eval_shape(FIDInceptionV3().init, jax.random.key(0), jnp.zeros((1, 75, 75, 3)))
    return {"/".join(k): v.shape for k, v in traverse_util.flatten_dict(shapes["params"]).items()}


def load_variables(weights_path: str | None = None) -> dict:
    """``{"params": ...}`` for ``FIDInceptionV3``, checked name by name and shape by shape."""
    params = weights_lib.load_params(weights_path)
    got = {"/".join(k): np.shape(v) for k, v in traverse_util.flatten_dict(params).items()}
    expected = _param_shapes()
    bad = [f"{k}: {got.get(k)} (expected {v})" for k, v in expected.items() if got.get(k) != tuple(v)]
    bad += [f"{k}: unexpected" for k in got if k not in expected]
    if bad:
        raise ValueError(f"weights do not fit the FID Inception network: {bad[:5]}")
    return {"params": params}


def _check_images(images: np.ndarray, batch_size, resize: str) -> None:
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize={resize!r}; expected one of {RESIZE_MODES}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}; expected a positive int")
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or min(images.shape) < 1:
        raise ValueError(f"images have shape {images.shape}; expected [N, H, W, C] with N, H, W >= 1, C in 1 or 3")
    if images.dtype == np.uint8:
        return
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images have dtype {images.dtype}; expected uint8 in [0, 255] or float in [-1, 1]")
    low, high = float(np.min(images)), float(np.max(images))
    if not (np.isfinite(low) and np.isfinite(high) and low >= -1.0 - 1e-5 and high <= 1.0 + 1e-5):
        raise ValueError(f"float images span [{low}, {high}]; expected finite values in [-1, 1]")


@functools.cache
def _compiled(resize: str):
    """One jitted forward per resize mode, data-parallel over a 1-D 'data' mesh of the local devices."""
    mesh = jax.make_mesh((jax.local_device_count(),), ("data",),
                         axis_types=(jax.sharding.AxisType.Auto,), devices=jax.local_devices())
    data, replicated = NamedSharding(mesh, PartitionSpec("data")), NamedSharding(mesh, PartitionSpec())

    def forward(variables, images):
        return FIDInceptionV3().apply(variables, preprocess(images, resize))

    return jax.jit(forward, in_shardings=(replicated, data), out_shardings=data), data, replicated


_REPLICATED: dict = {}


def extract(images, *, batch_size: int = 200, weights_path: str | None = None,
            resize: str = "bilinear") -> dict[str, np.ndarray]:
    """Pool3 features and logits of the FID Inception for ``images``.

    images: [N, H, W, C] (C = 1 or 3), ``uint8`` in [0, 255] or float in [-1, 1].
    Returns ``{"pool3": [N, 2048] float32, "logits": [N, 1008] float32}``. Full batches have
    ``batch_size`` rounded up to a multiple of the device count; a shorter last batch is padded only to
    ``_padded_size`` (a power of two times the device count), so few images do not pay for a whole
    batch and a call compiles at most ``1 + log2(batch_size)`` shapes. Two batches are in flight at a time.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 and np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32, copy=False)
    _check_images(images, batch_size, resize)
    variables = load_variables(weights_path)
    forward, data, replicated = _compiled(resize)
    if _REPLICATED.get("source") is not variables["params"] or _REPLICATED.get("sharding") != replicated:
        _REPLICATED.update(source=variables["params"], sharding=replicated,
                           value=jax.device_put(variables, replicated))  # holding source keeps its id unique
    on_devices = _REPLICATED["value"]
    step = -(-int(batch_size) // jax.local_device_count()) * jax.local_device_count()
    count = images.shape[0]
    pool3 = np.empty((count, POOL3_DIM), np.float32)
    logits = np.empty((count, NUM_LOGITS), np.float32)
    pending = None
    with jax.default_matmul_precision("highest"):
        for start in range(0, count, step):
            batch = images[start:start + step]
            size = _padded_size(batch.shape[0], step, jax.local_device_count())
            if batch.shape[0] < size:
                batch = np.concatenate([batch, np.zeros((size - batch.shape[0],) + batch.shape[1:], batch.dtype)])
            result = (start, forward(on_devices, jax.device_put(batch, data)))
            if pending is not None:
                _store(pending, pool3, logits)
            pending = result
        _store(pending, pool3, logits)
    return {"pool3": pool3, "logits": logits}


def _padded_size(count: int, step: int, devices: int) -> int:
    """Rows to run ``count`` images in: ``step`` for a full batch, else the smallest power-of-two multiple
    of ``devices`` that holds them (capped at ``step``), so that a short batch wastes under half its work."""
    if count >= step:
        return step
    size = devices
    while size < count:
        size *= 2
    return min(size, step)


def _store(pending, pool3: np.ndarray, logits: np.ndarray) -> None:
    start, (features, scores) = pending
    stop = min(start + features.shape[0], pool3.shape[0])
    pool3[start:stop] = np.asarray(features)[: stop - start]
    logits[start:stop] = np.asarray(scores)[: stop - start]
