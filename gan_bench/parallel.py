"""Data parallelism over all local devices and, where the environment provides it, across hosts.

We use the sharding API that current JAX recommends in place of `pmap`: `jit` over a one-axis device mesh
`('data',)`, the batch axis of the inputs sharded over it (`NamedSharding(mesh, P(..., 'data'))`) and the
train state replicated. XLA inserts the gradient all-reduce. Batch-norm statistics are therefore computed
over the global batch ("cross-replica"); per-device statistics are the networks' `bn_groups` option.
"""
import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def maybe_initialize_distributed() -> None:
    """Join a multi-host job when the launcher says there is one (JAX coordinator env or SLURM multi-task).

    Single-process runs (the common case on one machine) do nothing.
    """
    if jax.distributed.is_initialized():
        return
    if os.environ.get("JAX_COORDINATOR_ADDRESS") or int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        jax.distributed.initialize()


def data_mesh() -> Mesh:
    """A 1-D mesh over every device of every process, axis name 'data'."""
    return Mesh(np.asarray(jax.devices()), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, batch_axis: int) -> NamedSharding:
    """Shard axis `batch_axis` over 'data'; all other axes replicated."""
    return NamedSharding(mesh, P(*([None] * batch_axis + ["data"])))


def check_divisible(global_batch: int) -> None:
    n = jax.device_count()
    if global_batch % n:
        raise ValueError(f"trial.batch_size = {global_batch} is not divisible by the {n} devices")


def process_slice(global_batch: int) -> slice:
    """The part of the global batch this host loads (hosts feed disjoint, equal slices)."""
    per_host = global_batch // jax.process_count()
    start = jax.process_index() * per_host
    return slice(start, start + per_host)


def put_batch(mesh: Mesh, local: np.ndarray, batch_axis: int) -> jax.Array:
    """Assemble the global sharded array from this host's slice of the batch."""
    sharding = batch_sharding(mesh, batch_axis)
    if jax.process_count() == 1:
        return jax.device_put(local, sharding)
    return jax.make_array_from_process_local_data(sharding, local)
