"""The FID Inception weights: find, download, verify, parse (without torch), convert, cache.

The network behind FID/IS numbers (TTUR, pytorch-fid, compare_gan) is TensorFlow's
``inception-2015-12-05`` graph. pytorch-fid republished its weights as a PyTorch state dict,
``pt_inception-2015-12-05-6726825d.pth`` (95,628,359 bytes, SHA-256 ``PUBLISHED_SHA256``; torch.hub's
naming convention makes ``6726825d`` the first 8 hex digits of that hash). This module reads that file
with the restricted unpickler of ``torch_pickle`` (only the globals needed to rebuild tensors are
allowed, so loading it never runs arbitrary pickle code and never imports torch), folds every BatchNorm
(eps 0.001, inference mode) into the preceding convolution, and caches the result as a Flax msgpack
checkpoint.

Where the file comes from, first hit wins:
  1. ``weights_path`` argument, 2. ``$GAN_BENCH_INCEPTION_WEIGHTS``,
  3. ``<cache>/pt_inception-2015-12-05-6726825d.pth`` with ``<cache> = $GAN_BENCH_CACHE`` or
     ``~/.cache/gan_bench``, downloaded once from ``$GAN_BENCH_INCEPTION_URL`` or ``WEIGHTS_URL``.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import warnings

import numpy as np
from flax import serialization, traverse_util

from gan_bench import cache_dirs
from gan_bench.atomic import atomic_file, atomic_write_bytes

from gan_bench.metrics.torch_pickle import RestrictedUnpickler, read_state_dict  # noqa: F401 (re-exported)

WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               "pt_inception-2015-12-05-6726825d.pth")
WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
PUBLISHED_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
ENV_WEIGHTS, ENV_URL = "GAN_BENCH_INCEPTION_WEIGHTS", "GAN_BENCH_INCEPTION_URL"
ENV_CACHE = cache_dirs.ENV_CACHE
BN_EPS = 1e-3  # torchvision BasicConv2d: nn.BatchNorm2d(out_channels, eps=0.001)


class InceptionWeightsError(ValueError):
    """The weights file cannot be obtained or fails its SHA-256 check: an input error (one line on the
    command line), with what to do about it in the message."""


def cache_dir() -> str:
    """Where the weights and their converted form are kept: the project's cache root (`cache_dirs`)."""
    return cache_dirs.cache_root()


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_matches(digest: str, expected: str) -> bool:
    """``expected`` is a full SHA-256 or (torch.hub style) a prefix of at least 8 hex digits."""
    expected = expected.lower()
    return len(expected) >= 8 and digest.startswith(expected)


def download(url: str, dest: str, sha256: str, timeout: float = 60.0) -> str:
    """Stream ``url`` to ``dest`` through ``gan_bench.atomic.atomic_file``, checking the SHA-256 before the
    rename.

    On any failure (network, hash mismatch) the temporary file is removed and nothing is left at ``dest``.
    """
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    digest = hashlib.sha256()
    with atomic_file(dest, suffix=".part") as out, urllib.request.urlopen(url, timeout=timeout) as response:
        for chunk in iter(lambda: response.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
        if not _hash_matches(digest.hexdigest(), sha256):
            raise InceptionWeightsError(f"SHA-256 mismatch for {url}: got {digest.hexdigest()}, expected "
                                        f"{sha256}. The download was discarded.")
    return dest


def resolve_weights_file(weights_path: str | None = None, *, url: str | None = None,
                         sha256: str = PUBLISHED_SHA256, cache: str | None = None) -> str:
    """Path of a local weights file: given path, ``$GAN_BENCH_INCEPTION_WEIGHTS``, cache, or download."""
    given = weights_path or os.environ.get(ENV_WEIGHTS)
    if given:
        if not os.path.isfile(given):
            source = "weights_path" if weights_path else f"${ENV_WEIGHTS}"
            raise ValueError(f"{source}={given!r} is not a file; expected the FID Inception weights "
                             f"{WEIGHTS_FILENAME} (download: {WEIGHTS_URL}).")
        return given
    url = url or os.environ.get(ENV_URL) or WEIGHTS_URL
    dest = os.path.join(cache or cache_dir(), WEIGHTS_FILENAME)
    if os.path.isfile(dest):
        return dest
    try:
        return download(url, dest, sha256)
    except (urllib.error.URLError, OSError) as err:
        reason = " ".join(str(getattr(err, "reason", err)).split())
        raise InceptionWeightsError(
            f"FID Inception weights not found: looked for {dest} and could not download {url} ({reason}); "
            f"download {WEIGHTS_URL} where there is network and put it at {dest} (the cache folder is "
            f"${ENV_CACHE} or ~/.cache/gan_bench), or set ${ENV_WEIGHTS}=/path/to/{WEIGHTS_FILENAME} "
            f"(from Python: weights_path=...)") from err


# ---------------------------------------------------------------- conversion and cache
def convert_state_dict(state: dict[str, np.ndarray]) -> dict:
    """torchvision Inception3 names -> Flax params, BN folded: ``W' = W·γ/√(σ²+ε)``, ``b' = β − μ·γ/√(σ²+ε)``.

    ``A.B.conv.weight`` [O, I, kh, kw] + ``A.B.bn.*`` -> ``params[A][B]["conv"]`` kernel [kh, kw, I, O], bias [O];
    ``fc.weight`` [1008, 2048] -> ``params["fc"]["kernel"]`` [2048, 1008]. ``num_batches_tracked`` and the
    training-only ``AuxLogits.*`` are ignored; any other name is an error.
    """
    flat, used = {}, set()
    for key, weight in state.items():
        if not key.endswith(".conv.weight"):
            continue
        prefix = key[: -len(".conv.weight")]
        bn = {}
        for part in ("weight", "bias", "running_mean", "running_var"):
            name = f"{prefix}.bn.{part}"
            if name not in state:
                raise ValueError(f"weights file has {key} but no {name}")
            bn[part] = np.asarray(state[name], np.float64)
            used.add(name)
        scale = bn["weight"] / np.sqrt(bn["running_var"] + BN_EPS)
        kernel = np.transpose(np.asarray(weight, np.float64), (2, 3, 1, 0)) * scale
        path = tuple(prefix.split("."))
        flat[path + ("conv", "kernel")] = kernel.astype(np.float32)
        flat[path + ("conv", "bias")] = (bn["bias"] - bn["running_mean"] * scale).astype(np.float32)
        used.add(key)
    for part in ("weight", "bias"):
        if f"fc.{part}" not in state:
            raise ValueError(f"weights file has no fc.{part} (the 1008-way classifier)")
        used.add(f"fc.{part}")
    flat[("fc", "kernel")] = np.asarray(state["fc.weight"], np.float32).T.copy()
    flat[("fc", "bias")] = np.asarray(state["fc.bias"], np.float32)
    unknown = sorted(k for k in state if k not in used and not k.endswith("num_batches_tracked")
                     and not k.startswith("AuxLogits."))
    if unknown:
        raise ValueError(f"weights file has unexpected entries {unknown[:5]} (expected Inception3 names)")
    return traverse_util.unflatten_dict(flat)


_MEMO: dict = {}
_DIGESTS: dict = {}


def _file_key(path: str) -> tuple:
    stat = os.stat(path)
    return os.path.realpath(path), stat.st_size, stat.st_mtime_ns


def file_sha256(path: str) -> str:
    """SHA-256 of a file, hashed once per (real path, size, modification time) in this process."""
    key = _file_key(path)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256_of(path)
    return _DIGESTS[key]


def weights_sha256(weights_path: str | None = None) -> str:
    """SHA-256 of the weights file that ``load_params(weights_path)`` would use (found or downloaded as there).

    It identifies the network in every metric's protocol record and in the reference-statistics cache key.
    """
    return file_sha256(resolve_weights_file(weights_path))


def load_params(weights_path: str | None = None, *, url: str | None = None, sha256: str = PUBLISHED_SHA256,
                cache: str | None = None) -> dict:
    """Folded Flax params of the FID Inception, from the msgpack cache or converted once from the .pth.

    A user-given file whose hash differs from ``sha256`` is used with a warning (its features are not
    comparable with published FIDs); a downloaded one must match.
    """
    path = resolve_weights_file(weights_path, url=url, sha256=sha256, cache=cache)
    memo_key = _file_key(path)
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    digest = file_sha256(path)
    if not _hash_matches(digest, sha256):
        if os.path.dirname(os.path.abspath(path)) == os.path.abspath(cache or cache_dir()):
            raise InceptionWeightsError(f"cached {path} has SHA-256 {digest}, expected {sha256}; delete it")
        warnings.warn(f"{path} has SHA-256 {digest[:16]}..., not the published FID Inception weights "
                      f"({sha256[:16]}...): its features are not comparable with published FID/IS values.")
    folder = cache or cache_dir()
    checkpoint = os.path.join(folder, f"inception_fid_flax-{digest[:16]}.msgpack")
    params = None
    if os.path.isfile(checkpoint):
        try:
            with open(checkpoint, "rb") as f:
                params = serialization.msgpack_restore(f.read())
        except Exception:  # a damaged cache entry is rebuilt from the source file
            params = None
    if params is None:
        params = convert_state_dict(read_state_dict(path))
        os.makedirs(folder, exist_ok=True)
        atomic_write_bytes(checkpoint, serialization.msgpack_serialize(params))
    _MEMO[memo_key] = params
    return params
