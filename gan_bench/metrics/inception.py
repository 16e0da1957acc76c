"""The FID Inception v3 in Flax, and ``extract`` (pool3 features and logits) for FID / IS / KID / PRD.

Architecture: torchvision's ``Inception3`` (Szegedy et al. 2016, "Rethinking the Inception
Architecture") with pytorch-fid's patches that reproduce TensorFlow's ``inception-2015-12-05`` graph
used by TTUR (Heusel et al. 2017): the average pools in Mixed_5b–d, 6b–e and 7b exclude padding
(``count_include_pad=False``), Mixed_7c pools with a max instead of an average, and the classifier has
1008 outputs. Every BatchNorm is folded into its convolution when the weights are converted
(``weights.convert_state_dict``), so a ``BasicConv2d`` here is conv + bias + ReLU.

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
from flax import linen as nn
from flax import traverse_util
from jax.sharding import NamedSharding, PartitionSpec

from gan_bench.metrics import weights as weights_lib

INPUT_SIZE, POOL3_DIM, NUM_LOGITS = 299, 2048, 1008
RESIZE_MODES = ("bilinear", "tf1")
_HIGHEST = jax.lax.Precision.HIGHEST


class BasicConv2d(nn.Module):
    """Conv (BN folded into kernel and bias) + ReLU. ``padding`` is ``(ph, pw)`` as in torch."""
    features: int
    kernel: tuple = (1, 1)
    strides: tuple = (1, 1)
    padding: tuple = (0, 0)

    @nn.compact
    def __call__(self, x):
        pad = ((self.padding[0], self.padding[0]), (self.padding[1], self.padding[1]))
        conv = nn.Conv(self.features, self.kernel, self.strides, padding=pad, precision=_HIGHEST, name="conv")
        return nn.relu(conv(x))


def _avg_pool_same(x):  # TF "SAME" 3×3 average: padded zeros are not counted
    return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_valid(x):
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
        bp = BasicConv2d(self.pool_features, name="branch_pool")(_avg_pool_same(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):  # Mixed_6a, 35×35 -> 17×17
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(384, (3, 3), (2, 2), name="branch3x3")(x)
        bd = BasicConv2d(64, name="branch3x3dbl_1")(x)
        bd = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = BasicConv2d(96, (3, 3), (2, 2), name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool_valid(x)], axis=-1)


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
        bp = BasicConv2d(192, name="branch_pool")(_avg_pool_same(x))
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
        return jnp.concatenate([b3, b7, _max_pool_valid(x)], axis=-1)


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
            pooled = _avg_pool_same(x)
        bp = BasicConv2d(192, name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
    """``x`` [N, 299, 299, 3] float32 in the network's input range -> (pool3 [N, 2048], logits [N, 1008])."""

    @nn.compact
    def __call__(self, x):
        x = BasicConv2d(32, (3, 3), (2, 2), name="Conv2d_1a_3x3")(x)  # 149×149
        x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)  # 147×147
        x = BasicConv2d(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
        x = _max_pool_valid(x)  # 73×73
        x = BasicConv2d(80, name="Conv2d_3b_1x1")(x)
        x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)  # 71×71
        x = _max_pool_valid(x)  # 35×35
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
        logits = nn.Dense(NUM_LOGITS, precision=_HIGHEST, name="fc")(pool3)
        return pool3, logits


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
    Returns ``{"pool3": [N, 2048] float32, "logits": [N, 1008] float32}``. Batches are padded to one
    fixed shape (``batch_size`` rounded up to a multiple of the device count), so a call compiles once
    per input shape and dtype; only two batches are in flight at a time.
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
            if batch.shape[0] < step:
                batch = np.concatenate([batch, np.zeros((step - batch.shape[0],) + batch.shape[1:], batch.dtype)])
            result = (start, forward(on_devices, jax.device_put(batch, data)))
            if pending is not None:
                _store(pending, pool3, logits)
            pending = result
        _store(pending, pool3, logits)
    return {"pool3": pool3, "logits": logits}


def _store(pending, pool3: np.ndarray, logits: np.ndarray) -> None:
    start, (features, scores) = pending
    stop = min(start + features.shape[0], pool3.shape[0])
    pool3[start:stop] = np.asarray(features)[: stop - start]
    logits[start:stop] = np.asarray(scores)[: stop - start]
