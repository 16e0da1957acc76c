"""Atomic file writes: a reader sees the old file or the whole new one, never a torn one.

Every write goes to a uniquely named temporary file in the target's folder (unique, so concurrent writers
such as lease heartbeats never share one), is fsynced, then renamed over the target. A failed write leaves
no temporary file behind. No JAX import here: the sweep driver uses this without starting JAX.
"""
import contextlib
import json
import os
import tempfile
from typing import BinaryIO, Iterator


def atomic_write_bytes(path: str, data: bytes) -> None:
    with atomic_file(path) as f:
        f.write(data)


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


@contextlib.contextmanager
def atomic_file(path: str, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """Write `path` through a binary file object: it becomes visible, whole, only when the block ends cleanly.

    For data written in pieces (a download streamed to disk): the block writes to a temporary file beside
    `path`; on a normal exit that file is fsynced and renamed over `path`, on an exception (including one the
    block raises itself, e.g. after a failed checksum) it is removed and `path` is left as it was.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
