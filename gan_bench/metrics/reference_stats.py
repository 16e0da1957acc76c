"""Inception features of real images, computed once and shared by every evaluation that uses the same images.

The real side of FID / KID / PRD / PRDC is the same for every evaluation of every trial of a sweep that
shares a dataset split and `trial.eval_num_samples`; on a CPU its Inception features take longer than many
trials. They are cached under `<cache root>/reference_stats/` (`gan_bench.cache_dirs`), one `.npz` per key:

    key = SHA-256 of {format, real images' content SHA-256 (dtype, shape, bytes), network, weights SHA-256,
                      resize mode, precision}

so that a different image (even one pixel), network, weights file, resize or precision is a different
entry. Each file holds pool3 features, logits, their mean and covariance (float64) and a JSON `meta` with
every field of the key plus the SHA-256 of the stored arrays. On reading, `meta` must match the expected
key field by field and the arrays their recorded hash: a stale, mismatched or damaged file is reported
(`StaleCacheWarning`), never used, and rewritten. Files are written with `gan_bench.atomic`, so concurrent
trials can only see a complete file or none.

`gan-bench stats --gin_file ... [--split train|test]` fills the cache before a sweep (`stats_main`).
"""
import dataclasses
import hashlib
import io
import json
import os
import re
import warnings
from typing import Callable, Dict, Optional, Sequence

import gin
import numpy as np

from gan_bench import cache_dirs
from gan_bench.atomic import atomic_write_bytes

FORMAT = "gan_bench.reference_stats.v1"
CACHE_KIND = "reference_stats"
_ARRAYS = ("pool3", "logits", "mu", "sigma")


class StaleCacheWarning(UserWarning):
    """A cached reference-statistics file did not match what it should hold; it was recomputed."""


@dataclasses.dataclass(frozen=True)
class FeatureSettings:
    """How Inception features are extracted: part of every protocol record and of the cache key."""

    resize: str = "bilinear"
    precision: str = "float32"
    batch_size: int = 200


@gin.configurable("inception_features")
def feature_settings(resize: str = "bilinear", precision: str = "float32", batch_size: int = 200) -> FeatureSettings:
    """The Inception feature settings bound in gin (`inception_features.resize = 'clean'`, ...), checked.

    resize: "bilinear" (pytorch-fid), "tf1" (TTUR / TF1) or "clean" (clean-fid); precision: "float32",
    "tensorfloat32" or "bfloat16"; batch_size: images per device batch (does not change the features).
    """
    from gan_bench.metrics import inception  # pylint: disable=import-outside-toplevel
    try:
        inception.check_settings(resize, precision, batch_size)
    except ValueError as e:
        raise ValueError(f"inception_features.{e}") from None
    return FeatureSettings(resize=resize, precision=precision, batch_size=int(batch_size))


def content_sha256(images: np.ndarray) -> str:
    """SHA-256 over the dtype, the shape and the C-order bytes of `images`."""
    images = np.ascontiguousarray(images)
    digest = hashlib.sha256(f"{images.dtype.str}{images.shape}".encode())
    digest.update(memoryview(images).cast("B"))
    return digest.hexdigest()


def _expected_meta(content: str, count: int, identity: dict, settings: FeatureSettings) -> dict:
    fields = {"format": FORMAT, "content_sha256": content, "count": int(count),
              "network": identity["network"], "weights_sha256": identity["weights_sha256"],
              "resize": settings.resize, "precision": settings.precision}
    fields["key"] = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    return fields


def _arrays_sha256(arrays: Dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in _ARRAYS:
        digest.update(name.encode())
        digest.update(content_sha256(arrays[name]).encode())
    return digest.hexdigest()


def cache_path(folder: str, label: str, meta: dict) -> str:
    """`<folder>/<label>_<key[:24]>.npz`; the label (dataset, split, count) only helps a human find it."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-") or "images"
    return os.path.join(folder, f"{safe}_{meta['key'][:24]}.npz")


_VERIFIED: Dict[tuple, Dict[str, np.ndarray]] = {}  # (path, inode, size, mtime) -> arrays read and checked


def _file_key(path: str) -> tuple:
    stat = os.stat(path)
    return path, stat.st_ino, stat.st_size, stat.st_mtime_ns


def _read(path: str, expected: dict) -> Optional[Dict[str, np.ndarray]]:
    """The cached arrays when `path` holds exactly `expected`; None when absent; None + warning when not.

    A file read and checked once is kept in memory while its inode, size and modification time stay the same
    (a trial's evaluations all use the same entry); a rewritten file is read and checked again.
    """
    if not os.path.exists(path):
        return None
    key = _file_key(path)
    if key in _VERIFIED:
        return _VERIFIED[key]
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            arrays = {name: stored[name] for name in _ARRAYS}
        problems = [f"{k}: {meta.get(k)!r} != {v!r}" for k, v in expected.items() if meta.get(k) != v]
        if not problems and meta.get("arrays_sha256") != _arrays_sha256(arrays):
            problems.append("the stored arrays do not match their recorded SHA-256")
        if not problems and len(arrays["pool3"]) != expected["count"]:
            problems.append(f"{len(arrays['pool3'])} feature rows for {expected['count']} images")
    except Exception as e:  # pylint: disable=broad-except  (any unreadable file is recomputed)
        problems = [f"unreadable ({type(e).__name__}: {e})"]
    if problems:
        warnings.warn(f"ignoring reference statistics {path}: {'; '.join(problems)[:300]}; recomputing them",
                      StaleCacheWarning, stacklevel=3)
        return None
    _VERIFIED.clear()  # one entry at a time: a sweep's trials read one reference set
    _VERIFIED[key] = arrays
    return arrays


def _write(path: str, meta: dict, arrays: Dict[str, np.ndarray]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    record = dict(meta, arrays_sha256=_arrays_sha256(arrays))
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(record, sort_keys=True)), **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def statistics(features: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """pool3, logits, and the float64 mean and covariance of pool3 (unbiased, as pytorch-fid)."""
    from gan_bench.metrics.fid_metric import feature_statistics  # pylint: disable=import-outside-toplevel
    pool3 = np.asarray(features["pool3"], np.float32)
    mu, sigma = feature_statistics(pool3) if len(pool3) >= 2 else (pool3.mean(0).astype(np.float64),
                                                                    np.zeros((pool3.shape[1],) * 2))
    return {"pool3": pool3, "logits": np.asarray(features["logits"], np.float32), "mu": mu, "sigma": sigma}


def real_features(images: np.ndarray, settings: FeatureSettings, identity: dict, extract: Callable, *,
                  label: str = "images", cache_root: Optional[str] = None,
                  content: Optional[str] = None) -> Dict[str, np.ndarray]:
    """{"pool3", "logits", "mu", "sigma", "path", "content_sha256", "cached"} of real `images`, from the cache
    (`cached` True) or computed once with `extract(images) -> {"pool3", "logits"}` and cached (see the module
    docstring).

    identity: `inception.network_identity()` ({"network", "weights_sha256"}); content: the images'
    `content_sha256` when the caller has it already.
    """
    content = content or content_sha256(images)
    expected = _expected_meta(content, len(images), identity, settings)
    path = cache_path(cache_dirs.cache_dir(CACHE_KIND, override=cache_root), label, expected)
    arrays = _read(path, expected)
    cached = arrays is not None
    if not cached:
        arrays = statistics(extract(images))
        _write(path, expected, arrays)
    return dict(arrays, path=path, content_sha256=content, cached=cached)


def stats_main(gin_files: Sequence[str], gin_bindings: Sequence[str] = (), split: Optional[str] = None) -> dict:
    """`gan-bench stats`: cache the reference statistics the trial configured by the gin files will use.

    The real images are those a trial evaluates against: the first `trial.eval_num_samples` of `split`
    (default `trial.eval_split`) of `trial.dataset`, extracted under the bound `inception_features.*`.
    Returns what was cached: path, protocol record and id, and whether it was already there.
    """
    from gan_bench import data  # pylint: disable=import-outside-toplevel
    from gan_bench.config import parse_config  # pylint: disable=import-outside-toplevel
    from gan_bench.metrics import evaluate as ev  # pylint: disable=import-outside-toplevel
    from gan_bench.metrics.protocol import protocol_id  # pylint: disable=import-outside-toplevel

    cfg = parse_config(gin_files, gin_bindings)
    split = split or cfg.eval_split
    settings = feature_settings()  # bad inception_features.* values fail here, before data is read
    dataset = data.load(cfg.dataset, split=split, data_dir=cfg.data_dir)
    if len(dataset.shape) != 3:
        raise ValueError(f"trial.dataset = {cfg.dataset!r} has samples of shape {dataset.shape}, not images: "
                         f"reference statistics are Inception features of images")
    images = dataset.get(np.arange(min(cfg.eval_num_samples, dataset.num_examples)))
    ctx = ev.EvalContext(real=images, fake=images[:0], dataset=dataset, split=split, data_dir=cfg.data_dir,
                         settings=settings)
    features = ctx.inception("real")
    record = ctx.protocol("inception_pool3", use_fake=False)
    return {"path": features["path"], "already_cached": bool(features["cached"]), "count": int(len(images)),
            "protocol": record, "protocol_id": protocol_id(record)}
