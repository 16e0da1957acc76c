"""Atomic file writes: a reader sees the old file or the whole new one, never a torn one.

Every write goes to a uniquely named temporary file in the target's folder (unique, so concurrent writers
such as lease heartbeats never share one), is fsynced, then renamed over the target. A failed write leaves
no temporary file behind. No JAX import here: the sweep driver uses this without starting JAX.
"""
import json
import os
import tempfile


def atomic_write_bytes(path: str, data: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")
