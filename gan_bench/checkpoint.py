"""Checkpoints of a trial: one msgpack file per saved step, written atomically, the last K kept.

A checkpoint is the whole `GANState` (parameters, optimizer and normalization state, EMA, RNG key,
hyperparameters). The data order and every random draw are functions of (seed, step), so restoring the
state is all a resume needs, and it continues bit for bit.
"""
import os
import re
from typing import Any, List, Optional

import flax.serialization
import jax

from gan_bench.atomic import atomic_write_bytes

_NAME = re.compile(r"^ckpt_(\d{9})\.msgpack$")


def list_steps(ckpt_dir: str) -> List[int]:
    if not os.path.isdir(ckpt_dir):
        return []
    return sorted(int(m.group(1)) for m in map(_NAME.match, os.listdir(ckpt_dir)) if m)


def save(ckpt_dir: str, step: int, state: Any, keep: int) -> str:
    os.makedirs(ckpt_dir, exist_ok=True)
    path = os.path.join(ckpt_dir, f"ckpt_{step:09d}.msgpack")
    atomic_write_bytes(path, flax.serialization.to_bytes(jax.device_get(state)))
    for old in list_steps(ckpt_dir)[:-keep]:
        os.remove(os.path.join(ckpt_dir, f"ckpt_{old:09d}.msgpack"))
    return path


def restore_latest(ckpt_dir: str, template: Any) -> Optional[Any]:
    """The newest checkpoint restored into the structure of `template`, or None when there is none."""
    steps = list_steps(ckpt_dir)
    return restore(ckpt_dir, steps[-1], template) if steps else None


def restore(ckpt_dir: str, step: int, template: Any) -> Any:
    """The checkpoint of `step` restored into the structure of `template`."""
    path = os.path.join(ckpt_dir, f"ckpt_{step:09d}.msgpack")
    with open(path, "rb") as f:
        try:
            return flax.serialization.from_bytes(jax.device_get(template), f.read())
        except Exception as e:
            raise ValueError(f"checkpoint {path} does not match this trial's configuration: {e}") from e
