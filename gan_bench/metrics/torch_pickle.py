"""A restricted reader for ``torch.save(state_dict)`` files: numpy arrays out, no torch, no arbitrary pickle code.

Both of torch's on-disk formats are read: the zip format (torch >= 1.6: ``*/data.pkl`` plus one
``*/data/<key>`` record of raw little-endian bytes per storage) and the legacy stream (pickled magic
number, protocol 1001, sys_info, the object, the storage keys, then per storage an int64 element count
and its bytes). The pickle may only name the globals needed to rebuild tensors (``_rebuild_tensor_v2``,
``_rebuild_parameter``, storage types, ``OrderedDict``); anything else is refused, so a hostile file
cannot run code. Tensor views (offset, size, stride) are checked against their storage before use.
"""
from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

_TORCH_SAVE_MAGIC, _TORCH_SAVE_PROTOCOL = 0x1950A86A20F9469CFC6C, 1001  # legacy (pre-zip) torch.save
_STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                   "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                   "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
                   "UntypedStorage": np.uint8}


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
