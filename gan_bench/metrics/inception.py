"""The FID Inception v3 in Flax, and ``extract`` (pool3 features and logits) for FID / IS / KID / PRD.

The network itself (torchvision's ``Inception3`` with pytorch-fid's FID patches, BatchNorm folded) is
``inception_net.FIDInceptionV3``; this module loads its weights, resizes and normalises the images, and
runs it batch by batch.

Resize modes (inputs of any size are brought to 299×299). Each is a resize of pixel values in [0, 255]
(``uint8`` as is, floats in [-1, 1] as ``(x+1)·127.5``, never quantized) followed by the network input
normalization of the implementation it reproduces; ``resize(images, mode)`` is the first step alone:
  ``"bilinear"`` — exactly pytorch-fid: ``F.interpolate(x/255, (299, 299), mode="bilinear",
    align_corners=False)`` (half-pixel centres, source index ``(i+0.5)·in/299 − 0.5`` clamped to
    ``[0, in−1]``, two taps, no antialiasing even when downscaling), then ``2·x − 1``.
  ``"tf1"`` — TTUR / TF1 FID: TF1 ``tf.image.resize_bilinear(align_corners=False)`` (source index
    ``i·in/299``, no half-pixel offset, upper tap clamped to ``in−1``, no antialiasing), then the graph's
    own ``(x − 128) / 128``.
  ``"clean"`` — clean-fid's ``clean`` mode (Parmar et al. 2022, "On Aliased Resizing and Surprising
    Subtleties in GAN Evaluation"): each channel as a float32 PIL ``'F'`` image, ``Image.resize((299, 299),
    BICUBIC)`` — Keys cubic with a = −0.5, antialiased (when downscaling the kernel is stretched by
    ``in/299``), half-pixel centres, weights normalised per output pixel, no clipping, no quantization
    afterwards (clean-fid's legacy modes quantize to uint8; its clean mode does not) — then clean-fid's
    ``(x − 128) / 128``.
All three are separable: one dense interpolation matrix per axis (``resize_matrix``). ``resize`` applies
them in float64 the way the reference libraries evaluate them (width pass first, as PIL does, with PIL's
float32 intermediate image in ``clean`` mode); ``extract`` applies the same matrices in float32 on the
device (at most a few 1e-5 apart on the [0, 255] scale, far below what moves a feature).

Precision: ``extract(..., precision="float32")`` runs every matmul and convolution of the network at full
float32 (``jax.default_matmul_precision``); ``"tensorfloat32"`` and ``"bfloat16"`` are faster on GPUs/TPUs and
change the features (and FID) slightly: the precision is part of every score's protocol record. (With float32
inputs on a GPU, ``"bfloat16"`` is JAX's DEFAULT precision, which XLA runs as TF32 there; only TPUs multiply
in bfloat16.) The resize keeps full float32 whatever the choice: its two small matmuls per image cost little,
and TF32's 10-bit mantissa would move pixel values by up to a quarter of a grey level before the network.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util
from jax.sharding import NamedSharding, PartitionSpec

from gan_bench.checks import is_whole
from gan_bench.metrics import weights as weights_lib
from gan_bench.metrics.inception_net import NUM_LOGITS, POOL3_DIM, FIDInceptionV3
from gan_bench.metrics.inception_net import avg_pool_same as _avg_pool_same  # noqa: F401 (tests use it)

INPUT_SIZE = 299
RESIZE_MODES = ("bilinear", "tf1", "clean")
PRECISIONS = ("float32", "tensorfloat32", "bfloat16")  # values of jax.default_matmul_precision
NETWORK = "fid_inception_v3"  # torchvision Inception3 with pytorch-fid's FID blocks (inception-2015-12-05)
_HIGHEST = jax.lax.Precision.HIGHEST  # the resize only (see the module docstring)


def _check_mode(mode: str) -> None:
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize={mode!r}; expected one of {RESIZE_MODES}")


def _bicubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = −0.5 (PIL's ``bicubic_filter``)."""
    a, x = -0.5, np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def _pil_bicubic_matrix(size_in: int, size_out: int) -> np.ndarray:
    """PIL ``precompute_coeffs`` for BICUBIC (support 2): antialiased, half-pixel centres, rows sum to 1.

    Operation for operation as PIL computes them in double (reciprocal scale, sequential sum), so the
    weights are PIL's to the last bit.
    """
    scale = size_in / size_out
    filter_scale = max(scale, 1.0)
    support, inverse = 2.0 * filter_scale, 1.0 / filter_scale
    matrix = np.zeros((size_out, size_in))
    for i in range(size_out):
        center = (i + 0.5) * scale
        low = max(int(center - support + 0.5), 0)  # C's (int) truncates toward zero
        high = min(int(center + support + 0.5), size_in)
        taps = _bicubic((np.arange(low, high) - center + 0.5) * inverse)
        total = 0.0
        for tap in taps:
            total += float(tap)
        matrix[i, low:high] = taps / total if total != 0.0 else taps
    return matrix


def _apply_taps(matrix: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """``matrix`` [out, in] applied along ``axis`` of float64 ``x``, each output accumulated tap by tap from
    its first nonzero weight on (the order of PIL's and torch's loops, so sums round as theirs do)."""
    nonzero = matrix != 0
    first = np.argmax(nonzero, axis=1)
    last = matrix.shape[1] - 1 - np.argmax(nonzero[:, ::-1], axis=1)
    out = np.zeros(x.shape[:axis] + (matrix.shape[0],) + x.shape[axis + 1:])
    shape = [1] * x.ndim
    shape[axis] = -1
    for t in range(int((last - first).max()) + 1):
        index = np.minimum(first + t, matrix.shape[1] - 1)
        weight = np.where(first + t <= last, matrix[np.arange(matrix.shape[0]), index], 0.0)
        out += np.take(x, index, axis=axis) * weight.reshape(shape)
    return out


def resize_matrix(size_in: int, size_out: int, mode: str) -> np.ndarray:
    """[size_out, size_in] interpolation weights along one axis (see the module docstring for modes).

    ``bilinear`` and ``tf1`` weights are computed in float32 the way the reference implementations do,
    so that they agree bit for bit: the scale ``in/out`` rounded to float32, the source index rounded
    once to float32 (torch CPU evaluates ``scale·(i+0.5) − 0.5`` with a fused multiply-add; TF1 computes
    ``i·scale``), and the fractional part ``λ`` in float32. ``clean`` weights are PIL's, in float64.
    """
    _check_mode(mode)
    if mode == "clean":
        return _pil_bicubic_matrix(size_in, size_out)
    scale = np.float64(np.float32(size_in) / np.float32(size_out))
    dst = np.arange(size_out, dtype=np.float64)
    if mode == "bilinear":  # torch area_pixel_compute_source_index, align_corners=False
        src = np.maximum((scale * (dst + 0.5) - 0.5).astype(np.float32), np.float32(0.0))
    else:  # TF1 resize_bilinear, align_corners=False, no half-pixel centres
        src = (scale * dst).astype(np.float32)
    low = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    frac = np.clip(src - low.astype(np.float32), 0.0, 1.0).astype(np.float32)
    matrix = np.zeros((size_out, size_in))
    np.add.at(matrix, (np.arange(size_out), low), (np.float32(1.0) - frac).astype(np.float64))
    np.add.at(matrix, (np.arange(size_out), high), frac.astype(np.float64))
    return matrix


def _to_255(images):
    """uint8 [0, 255] as float32, float [-1, 1] as ``(x+1)·127.5``: the pixel scale every mode resizes on."""
    if jnp.issubdtype(images.dtype, jnp.floating):
        return (images.astype(jnp.float32) + 1.0) * 127.5
    return images.astype(jnp.float32)


def resize(images, mode: str) -> np.ndarray:
    """[N, H, W, C] uint8 in [0, 255] (or float in [-1, 1]) -> [N, 299, 299, 3] float32 on the [0, 255] scale.

    The resize step of ``mode`` alone, before the network's own input normalization, evaluated in float64
    on the host as the reference libraries do (width pass, then height pass; ``clean`` rounds the
    intermediate image to float32 like PIL's ``'F'`` images). Not clipped: bicubic overshoot stays.
    Grayscale is repeated to 3 channels after resizing.
    """
    _check_mode(mode)
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or min(images.shape) < 1:
        raise ValueError(f"images have shape {images.shape}; expected [N, H, W, C] with N, H, W >= 1, C in 1 or 3")
    if images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images have dtype {images.dtype}; expected uint8 in [0, 255] or float in [-1, 1]")
    x = (images.astype(np.float64) if images.dtype == np.uint8
         else (images.astype(np.float32).astype(np.float64) + 1.0) * 127.5)
    rows = resize_matrix(images.shape[1], INPUT_SIZE, mode)
    cols = resize_matrix(images.shape[2], INPUT_SIZE, mode)
    x = _apply_taps(cols, x, axis=2)
    if mode == "clean":
        x = x.astype(np.float32).astype(np.float64)  # PIL keeps the horizontal pass as an 'F' image
    x = _apply_taps(rows, x, axis=1).astype(np.float32)
    return np.broadcast_to(x, x.shape[:3] + (3,)).copy()


def normalize(x255, mode: str):
    """The network input of ``mode`` from resized pixels on the [0, 255] scale (jittable)."""
    _check_mode(mode)
    return 2.0 * (x255 / 255.0) - 1.0 if mode == "bilinear" else (x255 - 128.0) / 128.0


def preprocess(images, mode: str):
    """[B, H, W, C] uint8 [0, 255] or float [-1, 1] -> [B, 299, 299, 3] float32 network input (jittable).

    ``normalize(resize(images, mode), mode)`` computed in float32 on the device (``resize`` is float64).
    """
    _check_mode(mode)
    x = _to_255(images)
    rows = jnp.asarray(resize_matrix(images.shape[1], INPUT_SIZE, mode), jnp.float32)
    cols = jnp.asarray(resize_matrix(images.shape[2], INPUT_SIZE, mode), jnp.float32)
    x = jnp.einsum("pw,bhwc->bhpc", cols, x, precision=_HIGHEST)
    x = jnp.einsum("oh,bhpc->bopc", rows, x, precision=_HIGHEST)
    x = normalize(x, mode)
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


def check_settings(resize: str, precision: str, batch_size) -> None:
    """ValueError naming the first bad extraction setting (resize mode, precision, batch size)."""
    _check_mode(resize)
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; expected one of {PRECISIONS}")
    if not is_whole(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}; expected a positive int")


def _check_images(images: np.ndarray, batch_size, resize: str, precision: str) -> None:
    check_settings(resize, precision, batch_size)
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
def _compiled(resize: str, precision: str):
    """One jitted forward per (resize mode, precision), data-parallel over a 1-D 'data' mesh of the local devices."""
    mesh = jax.make_mesh((jax.local_device_count(),), ("data",),
                         axis_types=(jax.sharding.AxisType.Auto,), devices=jax.local_devices())
    data, replicated = NamedSharding(mesh, PartitionSpec("data")), NamedSharding(mesh, PartitionSpec())

    def forward(variables, images):
        with jax.default_matmul_precision(precision):  # read while tracing: part of the compiled program
            return FIDInceptionV3().apply(variables, preprocess(images, resize))

    return jax.jit(forward, in_shardings=(replicated, data), out_shardings=data), data, replicated


_REPLICATED: dict = {}


def extract(images, *, batch_size: int = 200, weights_path: str | None = None,
            resize: str = "bilinear", precision: str = "float32") -> dict[str, np.ndarray]:
    """Pool3 features and logits of the FID Inception for ``images``.

    images: [N, H, W, C] (C = 1 or 3), ``uint8`` in [0, 255] or float in [-1, 1]. ``resize`` and
    ``precision``: see the module docstring.
    Returns ``{"pool3": [N, 2048] float32, "logits": [N, 1008] float32}``. Full batches have
    ``batch_size`` rounded up to a multiple of the device count; a shorter last batch is padded only to
    ``_padded_size`` (a power of two times the device count), so few images do not pay for a whole
    batch and a call compiles at most ``1 + log2(batch_size)`` shapes. Two batches are in flight at a time.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 and np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32, copy=False)
    _check_images(images, batch_size, resize, precision)
    variables = load_variables(weights_path)
    forward, data, replicated = _compiled(resize, precision)
    if _REPLICATED.get("source") is not variables["params"] or _REPLICATED.get("sharding") != replicated:
        _REPLICATED.update(source=variables["params"], sharding=replicated,
                           value=jax.device_put(variables, replicated))  # holding source keeps its id unique
    on_devices = _REPLICATED["value"]
    step = -(-int(batch_size) // jax.local_device_count()) * jax.local_device_count()
    count = images.shape[0]
    pool3 = np.empty((count, POOL3_DIM), np.float32)
    logits = np.empty((count, NUM_LOGITS), np.float32)
    pending = None
    with jax.default_matmul_precision(precision):
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


def network_identity(weights_path: str | None = None) -> dict:
    """``{"network": NETWORK, "weights_sha256": ...}``: which network and which weights file produce the
    features (resolved, and downloaded if needed, the way ``extract`` would; nothing is computed)."""
    return {"network": NETWORK, "weights_sha256": weights_lib.weights_sha256(weights_path)}
