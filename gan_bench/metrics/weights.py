"""The FID Inception weights: find, download, verify, parse (without torch), convert, cache.

The network behind FID/IS numbers (TTUR, pytorch-fid, compare_gan) is TensorFlow's
``inception-2015-12-05`` graph. pytorch-fid republished its weights as a PyTorch state dict,
``pt_inception-2015-12-05-6726825d.pth`` (95,628,359 bytes, SHA-256 ``PUBLISHED_SHA256``; torch.hub's
naming convention makes ``6726825d`` the first 8 hex digits of that hash). This module reads that file
with a restricted unpickler — only the few globals needed to rebuild tensors are allowed, so loading it
never runs arbitrary pickle code and never imports torch — folds every BatchNorm (eps 0.001, inference
mode) into the preceding convolution, and caches the result as a Flax msgpack checkpoint.

Where the file comes from, first hit wins:
  1. ``weights_path`` argument, 2. ``$GAN_BENCH_INCEPTION_WEIGHTS``,
  3. ``<cache>/pt_inception-2015-12-05-6726825d.pth`` with ``<cache> = $GAN_BENCH_CACHE`` or
     ``~/.cache/gan_bench``, downloaded once from ``$GAN_BENCH_INCEPTION_URL`` or ``WEIGHTS_URL``.
"""
from __future__ import annotations

import collections
import hashlib
import io
import os
import pickle
import struct
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile

import numpy as np
from flax import serialization, traverse_util

WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               "pt_inception-2015-12-05-6726825d.pth")
WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
PUBLISHED_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
ENV_WEIGHTS, ENV_CACHE, ENV_URL = "GAN_BENCH_INCEPTION_WEIGHTS", "GAN_BENCH_CACHE", "GAN_BENCH_INCEPTION_URL"
BN_EPS = 1e-3  # torchvision BasicConv2d: nn.BatchNorm2d(out_channels, eps=0.001)

_TORCH_SAVE_MAGIC, _TORCH_SAVE_PROTOCOL = 0x1950A86A20F9469CFC6C, 1001  # legacy (pre-zip) torch.save
_STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                   "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                   "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
                   "UntypedStorage": np.uint8}


class InceptionWeightsError(RuntimeError):
    """The weights file cannot be obtained or fails its SHA-256 check."""


def cache_dir() -> str:
    return os.path.expanduser(os.environ.get(ENV_CACHE) or os.path.join("~", ".cache", "gan_bench"))


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
    """Stream ``url`` into a temp file beside ``dest``, check its SHA-256, then ``os.replace``.

    On any failure (network, hash mismatch) the temp file is removed and nothing is left at ``dest``.
    """
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(dest) + ".", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        if not _hash_matches(digest.hexdigest(), sha256):
            raise InceptionWeightsError(f"SHA-256 mismatch for {url}: got {digest.hexdigest()}, expected "
                                        f"{sha256}. The download was discarded.")
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
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
        raise InceptionWeightsError(
            f"Could not download the FID Inception weights from {url} ({err}). Without network access, "
            f"download {WEIGHTS_URL} elsewhere and either put it at {dest} (cache folder: ${ENV_CACHE} or "
            f"~/.cache/gan_bench), or set ${ENV_WEIGHTS}=/path/to/{WEIGHTS_FILENAME}, or pass "
            f"weights_path=...") from err


# ---------------------------------------------------------------- restricted torch.save reader
class _StorageType:
    def __init__(self, name: str):
        self.name, self.dtype = name, np.dtype(_STORAGE_DTYPES[name])


class _StorageRef:
    """A storage named in the pickle; its bytes are attached once read (zip record or legacy stream)."""

    def __init__(self, dtype: np.dtype, key: str, numel: int):
        self.dtype, self.key, self.numel, self.data = dtype, key, numel, None


class _PendingTensor:
    def __init__(self, storage, offset: int, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, int(offset), tuple(size), tuple(stride)

    def materialize(self) -> np.ndarray:
        base, offset = self.storage, self.offset
        if isinstance(base, tuple):  # legacy view: (root storage, element offset)
            base, offset = base[0], base[1] + offset
        flat = base.data
        if flat is None:
            raise ValueError(f"storage {base.key!r} has no data in the weights file")
        last = offset + sum((n - 1) * s for n, s in zip(self.size, self.stride) if n > 0)
        if offset < 0 or any(s < 0 for s in self.stride) or (0 not in self.size and last >= flat.size):
            raise ValueError(f"tensor of size {self.size} stride {self.stride} offset {offset} does not fit "
                             f"storage {base.key!r} of {flat.size} elements")
        if 0 in self.size:
            return np.zeros(self.size, flat.dtype)
        strides = [s * flat.itemsize for s in self.stride]
        view = np.lib.stride_tricks.as_strided(flat[offset:], shape=self.size, strides=strides)
        return np.array(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return _PendingTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *unused):
    return data


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler for torch.save state dicts: any global outside the allow-list is refused."""

    _ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict,
                ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
                ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
                ("torch._utils", "_rebuild_parameter"): _rebuild_parameter}

    def __init__(self, file, storages: dict):
        super().__init__(file)
        self.storages = storages  # key -> _StorageRef, shared across the pickles of one file

    def find_class(self, module, name):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"refused global {module}.{name} in the weights file: only tensors "
                                     f"and OrderedDicts are allowed")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] in ("storage", b"storage")
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r} in the weights file")
        storage_type, key, _location, numel = pid[1:5]
        key = key.decode() if isinstance(key, bytes) else str(key)
        ref = self.storages.setdefault(key, _StorageRef(storage_type.dtype, key, int(numel)))
        view = pid[5] if len(pid) > 5 else None
        return (ref, int(view[1])) if view is not None else ref


def _materialize(obj):
    if isinstance(obj, _PendingTensor):
        return obj.materialize()
    if isinstance(obj, dict):
        return {k: _materialize(v) for k, v in obj.items()}
    return obj


def _read_zip(path: str) -> dict:
    storages: dict = {}
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ValueError(f"{path}: expected one */data.pkl in the zip, found {pickles}")
        prefix = pickles[0][: -len("data.pkl")]
        result = RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), storages).load()
        names = set(archive.namelist())
        for key, ref in storages.items():
            record = f"{prefix}data/{key}"
            if record not in names:
                raise ValueError(f"{path}: storage record {record!r} is missing")
            raw = archive.read(record)
            if len(raw) < ref.numel * ref.dtype.itemsize:
                raise ValueError(f"{path}: storage {record!r} has {len(raw)} bytes, expected "
                                 f"{ref.numel * ref.dtype.itemsize}")
            ref.data = np.frombuffer(raw, dtype=ref.dtype.newbyteorder("<"), count=ref.numel)
    return result


def _read_legacy(path: str) -> dict:
    """Pre-1.6 torch.save stream: magic, protocol, sys_info, object pickle, storage keys, raw storages."""
    storages: dict = {}
    with open(path, "rb") as f:
        if RestrictedUnpickler(f, storages).load() != _TORCH_SAVE_MAGIC:
            raise ValueError(f"{path}: not a torch.save file (bad magic number)")
        if RestrictedUnpickler(f, storages).load() != _TORCH_SAVE_PROTOCOL:
            raise ValueError(f"{path}: unsupported torch.save protocol version")
        RestrictedUnpickler(f, storages).load()  # sys_info: a plain dict
        result = RestrictedUnpickler(f, storages).load()
        for key in RestrictedUnpickler(f, storages).load():
            ref = storages[str(key)]
            (numel,) = struct.unpack("<q", f.read(8))
            raw = f.read(numel * ref.dtype.itemsize)
            if len(raw) != numel * ref.dtype.itemsize:
                raise ValueError(f"{path}: storage {key!r} is truncated")
            ref.data = np.frombuffer(raw, dtype=ref.dtype.newbyteorder("<"))
    return result


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    """Parse a ``torch.save(state_dict)`` file (zip or legacy format) into numpy arrays, no torch needed."""
    try:
        raw = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
    except (pickle.UnpicklingError, EOFError, KeyError, struct.error) as err:
        raise ValueError(f"{path}: not a readable torch state dict ({err})") from err
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a state dict (OrderedDict of tensors), got {type(raw).__name__}")
    return {str(k): v for k, v in _materialize(raw).items()}


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


def _write_atomic(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


_MEMO: dict = {}


def load_params(weights_path: str | None = None, *, url: str | None = None, sha256: str = PUBLISHED_SHA256,
                cache: str | None = None) -> dict:
    """Folded Flax params of the FID Inception, from the msgpack cache or converted once from the .pth.

    A user-given file whose hash differs from ``sha256`` is used with a warning (its features are not
    comparable with published FIDs); a downloaded one must match.
    """
    path = resolve_weights_file(weights_path, url=url, sha256=sha256, cache=cache)
    stat = os.stat(path)
    memo_key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    digest = sha256_of(path)
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
        _write_atomic(checkpoint, serialization.msgpack_serialize(params))
    _MEMO[memo_key] = params
    return params
