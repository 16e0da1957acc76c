"""Checkpoints of a trial: one msgpack file per saved step, written atomically, the last K kept, each checked.

A checkpoint is the whole `GANState` (parameters, optimizer and normalization state, EMA, RNG key,
hyperparameters). The data order and every random draw are functions of (seed, step), so restoring the
state is all a resume needs, and it continues bit for bit.

Atomic writes keep a kill from tearing a file, but not a full disk, a flaky network file system or a bad
sector. So each `ckpt_<step>.msgpack` gets a `ckpt_<step>.msgpack.sha256` (the SHA-256 of its bytes, in
`sha256sum` format), written atomically after the data. Reading a checkpoint checks it first: a file whose
bytes do not match (or, for a checkpoint saved before checksums, whose msgpack does not parse) raises
`CorruptCheckpoint`, kept apart from the `ValueError` of an intact checkpoint of another configuration.
A resume (`restore_newest`) moves corrupt files aside to `ckpt/corrupt/` with a one-line warning and falls
back to the newest intact step; `restore_latest` (for `gan-bench eval`) refuses instead of falling back.

JAX and flax are imported only where states are (de)serialized: `gan-bench status --verify` checks
checkpoints without starting JAX.
"""
import hashlib
import logging
import os
import re
from typing import Any, List, Optional, Sequence, Tuple

from gan_bench.atomic import atomic_write_bytes, atomic_write_text

log = logging.getLogger("gan_bench")

_NAME = re.compile(r"^ckpt_(\d{9})\.msgpack$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
CHECKSUM_SUFFIX = ".sha256"
CORRUPT_DIR = "corrupt"


class CorruptCheckpoint(ValueError):
    """A checkpoint whose bytes are damaged (checksum mismatch, truncated, unparsable): not a config error."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"checkpoint {path} is corrupt: {reason}")
        self.path, self.reason = path, reason


def path_of(ckpt_dir: str, step: int) -> str:
    return os.path.join(ckpt_dir, f"ckpt_{step:09d}.msgpack")


def list_steps(ckpt_dir: str) -> List[int]:
    if not os.path.isdir(ckpt_dir):
        return []
    return sorted(int(m.group(1)) for m in map(_NAME.match, os.listdir(ckpt_dir)) if m)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def save(ckpt_dir: str, step: int, state: Any, keep: int) -> str:
    """Write the checkpoint of `step` and its checksum (data first, each atomic), then keep the newest `keep`.

    A stale checksum of an earlier file of the same step goes first, so that a kill between the two writes
    leaves a checkpoint without a checksum (checked by parsing) rather than one with a wrong checksum.
    """
    import flax.serialization  # pylint: disable=import-outside-toplevel
    import jax  # pylint: disable=import-outside-toplevel

    os.makedirs(ckpt_dir, exist_ok=True)
    path = path_of(ckpt_dir, step)
    data = flax.serialization.to_bytes(jax.device_get(state))
    _remove(path + CHECKSUM_SUFFIX)
    atomic_write_bytes(path, data)
    atomic_write_text(path + CHECKSUM_SUFFIX, f"{hashlib.sha256(data).hexdigest()}  {os.path.basename(path)}\n")
    for old in list_steps(ckpt_dir)[:-keep]:
        _remove(path_of(ckpt_dir, old))
        _remove(path_of(ckpt_dir, old) + CHECKSUM_SUFFIX)
    return path


def _recorded_sha256(path: str) -> Optional[str]:
    """The checksum saved with `path`, or None for a checkpoint without one (saved before checksums)."""
    try:
        with open(path + CHECKSUM_SUFFIX) as f:
            digest = f.read().split(maxsplit=1)
    except FileNotFoundError:
        return None
    if not digest or not _HEX.match(digest[0]):
        return None  # an unreadable checksum file proves nothing either way: the data is parsed instead
    return digest[0]


def _parse_error(data: bytes) -> Optional[str]:
    """Why `data` is not one complete msgpack document (truncated, trailing bytes, garbage), or None."""
    import msgpack  # pylint: disable=import-outside-toplevel  (flax's own dependency)
    try:
        msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as e:  # pylint: disable=broad-except  (msgpack raises several unrelated types)
        return f"{type(e).__name__}: {e}"
    return None


def read_checked(path: str) -> bytes:
    """The bytes of checkpoint `path`, verified against its checksum; raises CorruptCheckpoint when damaged."""
    with open(path, "rb") as f:
        data = f.read()
    recorded = _recorded_sha256(path)
    if recorded is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != recorded:
            raise CorruptCheckpoint(path, f"SHA-256 {actual[:12]}... of its {len(data)} bytes differs from the "
                                          f"recorded {recorded[:12]}... in {os.path.basename(path)}{CHECKSUM_SUFFIX}")
        return data
    problem = _parse_error(data)
    if problem is not None:
        raise CorruptCheckpoint(path, f"no checksum, and its {len(data)} bytes do not parse ({problem})")
    return data


def check(ckpt_dir: str, step: int) -> Optional[str]:
    """What is wrong with the checkpoint of `step` (one line), or None when it is intact."""
    try:
        read_checked(path_of(ckpt_dir, step))
    except CorruptCheckpoint as e:
        return e.reason
    return None


def restore(ckpt_dir: str, step: int, template: Any) -> Any:
    """The checkpoint of `step` restored into the structure of `template`.

    Raises CorruptCheckpoint when the file is damaged, and ValueError when it is intact but was saved by a
    trial of another configuration (different keys, shapes or dtypes).
    """
    import flax.serialization  # pylint: disable=import-outside-toplevel
    import jax  # pylint: disable=import-outside-toplevel
    import numpy as np  # pylint: disable=import-outside-toplevel

    path = path_of(ckpt_dir, step)
    data = read_checked(path)
    try:
        state_dict = flax.serialization.msgpack_restore(data)
    except Exception as e:  # bytes that pass the checks but hold no arrays flax can read
        raise CorruptCheckpoint(path, f"{type(e).__name__}: {e}") from e
    host_template = jax.device_get(template)
    try:
        restored = flax.serialization.from_state_dict(host_template, state_dict)
    except Exception as e:
        raise ValueError(f"checkpoint {path} does not match this trial's configuration: {e}") from e
    expected = jax.tree_util.tree_leaves_with_path(host_template)
    for (key, want), got in zip(expected, jax.tree_util.tree_leaves(restored)):
        want, got = np.asarray(want), np.asarray(got)
        if want.shape != got.shape or want.dtype != got.dtype:
            raise ValueError(f"checkpoint {path} does not match this trial's configuration: "
                             f"{jax.tree_util.keystr(key)} is {got.dtype}{list(got.shape)} in the checkpoint, "
                             f"{want.dtype}{list(want.shape)} in this trial")
    return restored


def move_aside(path: str, reason: str) -> Optional[str]:
    """Move a corrupt checkpoint (and its checksum) into `corrupt/` beside it, with a one-line warning.

    Returns the new path, or None when another process moved it first. The file is kept, not deleted, for
    whoever wants to look at what went wrong; `<name>.reason` beside it says what was found.
    """
    folder = os.path.join(os.path.dirname(path), CORRUPT_DIR)
    os.makedirs(folder, exist_ok=True)
    target, n = os.path.join(folder, os.path.basename(path)), 1
    while os.path.exists(target):  # the same step went bad before: keep both
        target, n = os.path.join(folder, f"{os.path.basename(path)}.{n}"), n + 1
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return None
    if os.path.exists(path + CHECKSUM_SUFFIX):
        os.replace(path + CHECKSUM_SUFFIX, target + CHECKSUM_SUFFIX)
    atomic_write_text(target + ".reason", reason + "\n")
    log.warning("checkpoint %s is corrupt (%s); moved to %s", path, reason, target)
    return target


def restore_newest(ckpt_dirs: Sequence[str], templates: Sequence[Any]) -> Tuple[Optional[int], Optional[List]]:
    """(step, states) of the newest step every folder has an intact checkpoint of, or (None, None).

    For a resume: corrupt checkpoints met on the way are moved aside (`move_aside`) and the next older
    common step is tried. A configuration mismatch is raised as ValueError, not skipped.
    """
    while True:
        common = set.intersection(*(set(list_steps(d)) for d in ckpt_dirs))
        if not common:
            return None, None
        step = max(common)
        try:
            return step, [restore(d, step, t) for d, t in zip(ckpt_dirs, templates)]
        except CorruptCheckpoint as e:
            move_aside(e.path, e.reason)  # gone from list_steps either way: the loop ends


def restore_latest(ckpt_dir: str, template: Any) -> Optional[Any]:
    """The newest checkpoint restored into the structure of `template`, or None when there is none.

    Does not fall back: a corrupt newest checkpoint raises CorruptCheckpoint (a ValueError, one line).
    """
    steps = list_steps(ckpt_dir)
    if not steps:
        return None
    try:
        return restore(ckpt_dir, steps[-1], template)
    except CorruptCheckpoint as e:
        raise CorruptCheckpoint(e.path, f"{e.reason}; to rebuild it, remove the trial's status.json and run the "
                                        f"trial again: it resumes from its newest intact checkpoint") from e
