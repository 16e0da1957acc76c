"""Write ``torch.save(state_dict)`` files with the standard library only, for tests without torch.

The bytes follow torch's own layout: the pickle uses the same opcodes torch emits (an ``OrderedDict``
whose values are ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False,
OrderedDict())`` with storages as persistent ids ``("storage", torch.FloatStorage, key, "cpu", numel)``).
Zip format (torch >= 1.6): ``archive/data.pkl`` + ``archive/data/<key>`` raw little-endian bytes.
Legacy format: pickled magic number, protocol 1001, sys_info, the object, the storage keys, then per
storage an int64 element count and its raw bytes.
"""
import pickle
import struct
import zipfile

import numpy as np

_STORAGE_NAMES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage",
                  np.dtype(np.float64): "DoubleStorage"}


def _str(text: str) -> bytes:
    data = text.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def _int(value: int) -> bytes:
    return pickle.BININT + struct.pack("<i", value)


def _tuple(items) -> bytes:
    return pickle.MARK + b"".join(items) + pickle.TUPLE


def _global(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def state_dict_pickle(tensors, storages, legacy: bool) -> bytes:
    """tensors: list of (name, storage_key, offset, shape, stride); storages: key -> 1-D numpy array."""
    empty_odict = _global("collections", "OrderedDict") + pickle.EMPTY_TUPLE + pickle.REDUCE
    out = pickle.PROTO + b"\x02" + empty_odict + pickle.MARK
    for name, key, offset, shape, stride in tensors:
        flat = storages[key]
        pid = [_str("storage"), _global("torch", _STORAGE_NAMES[flat.dtype]), _str(key), _str("cpu"),
               _int(flat.size)] + ([pickle.NONE] if legacy else [])
        args = [_tuple(pid) + pickle.BINPERSID, _int(offset), _tuple(_int(n) for n in shape),
                _tuple(_int(s) for s in stride), pickle.NEWFALSE, empty_odict]
        out += _str(name) + _global("torch._utils", "_rebuild_tensor_v2") + _tuple(args) + pickle.REDUCE
    return out + pickle.SETITEMS + pickle.STOP


def write_pth(path, tensors, storages, legacy: bool = False) -> None:
    body = state_dict_pickle(tensors, storages, legacy)
    if not legacy:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", body)
            for key, flat in storages.items():
                archive.writestr(f"archive/data/{key}", flat.astype(flat.dtype.newbyteorder("<")).tobytes())
            archive.writestr("archive/version", "3\n")
        return
    with open(path, "wb") as f:
        f.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
        f.write(pickle.dumps(1001, protocol=2))
        f.write(pickle.dumps({"protocol_version": 1001, "little_endian": True,
                              "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2))
        f.write(body)
        f.write(pickle.dumps(list(storages), protocol=2))
        for flat in storages.values():
            f.write(struct.pack("<q", flat.size) + flat.astype(flat.dtype.newbyteorder("<")).tobytes())


def write_state_dict(path, state: dict, legacy: bool = False) -> None:
    """Each array gets its own contiguous storage, as ``torch.save(module.state_dict())`` produces."""
    tensors, storages = [], {}
    for index, (name, array) in enumerate(state.items()):
        array = np.ascontiguousarray(array)
        strides = [s // array.itemsize for s in array.strides]
        storages[str(index)] = array.reshape(-1)
        tensors.append((name, str(index), 0, array.shape, strides))
    write_pth(path, tensors, storages, legacy)
