"""Run a batch of inversions over several devices and hosts with JAX's own machinery.

A batch of B problems (N pictures × S seeds, or N codes in the coupled mode) is split
along its leading axis over a 1-D `jax.sharding.Mesh` named ``"batch"``: every device
runs B/D whole problems, the representation's params are replicated, and no problem
talks to another, so the compiled chunk needs no communication and a sharded run gives
the same bits as an unsharded one (tests/test_parallel.py checks this).

One machine, several accelerators::

    from jaxinv import parallel
    sharding = parallel.batch_sharding(len(pictures) * seeds)
    result = invert_batch(rep, pictures, key=key, seeds=seeds, sharding=sharding)

Several hosts (one process per host, or per GPU), every process running the same script
with the same pictures and key::

    parallel.initialize_distributed()          # before any other JAX call
    sharding = parallel.batch_sharding(len(pictures) * seeds)   # over jax.devices(): all hosts
    result = invert_batch(rep, pictures, key=key, seeds=seeds, sharding=sharding)

The runner (`jaxinv.runner.run`) moves the batch onto the devices with `shard_batch` and
reads results back with `to_host` (a `process_allgather` when the batch spans other
processes), so every process ends with the whole `InversionResult`. docs/SCALING.md has the details.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxinv.errors import JaxinvError

__all__ = [
    "BATCH_AXIS", "batch_sharding", "initialize_distributed", "shard_batch", "local_rows",
    "from_local_rows", "to_host", "gather",
]

#: The name of the mesh axis the problems are split along.
BATCH_AXIS = "batch"


def batch_sharding(num_problems: int, *, devices: Sequence[jax.Device] | None = None) -> NamedSharding:
    """A sharding that splits the leading (problem) axis of a batch of ``num_problems`` over ``devices``.

    Args:
      num_problems: B, the batch's problem count: pictures × seeds (pictures alone with
        ``coupled=True``).
      devices: the devices, default `jax.devices()`: every device of every process once
        `initialize_distributed` has run.

    Returns:
      ``NamedSharding(Mesh(devices, ("batch",)), PartitionSpec("batch"))``.

    Raises:
      JaxinvError: when B is not a multiple of the device count. Nothing is padded: a
        padded problem would cost as much as a real one, so choose B (add seeds or
        pictures) or pass fewer ``devices``.
    """
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise JaxinvError("no devices given; pass devices=jax.devices() or leave it out")
    if len(set(devices)) != len(devices):
        raise JaxinvError("a device is listed twice; pass each device once")
    if not isinstance(num_problems, (int, np.integer)) or num_problems < 1:
        raise JaxinvError(f"num_problems = {num_problems!r}; use the batch size, pictures × seeds (>= 1)")
    d = len(devices)
    if num_problems % d:
        raise JaxinvError(
            f"a batch of {num_problems} problems does not split over {d} devices; use a multiple of {d}"
            f" problems (pictures × seeds) or devices=jax.devices()[:k] with k dividing {num_problems}"
        )
    return NamedSharding(Mesh(np.array(devices, dtype=object), (BATCH_AXIS,)), PartitionSpec(BATCH_AXIS))


def initialize_distributed(*, coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None, **options: Any) -> tuple[int, int]:
    """Join this process to a multi-process JAX job: `jax.distributed.initialize`, thinly.

    Call it first, before any other JAX call (even `jax.devices()`), in every process.
    Arguments left out come from the environment:

    - ``JAX_COORDINATOR_ADDRESS`` (host:port of process 0), ``JAX_NUM_PROCESSES`` and
      ``JAX_PROCESS_ID`` when set (a plain launcher, or the tests);
    - otherwise JAX's own cluster detection: SLURM (``srun``), Open MPI (``mpirun``),
      Cloud TPU pods, Kubernetes; ``cluster_detection_method="mpi4py"`` for other MPIs.

    Args:
      coordinator_address: ``"host:port"`` of process 0; the port must be free there.
      num_processes: the process count P.
      process_id: this process's index in 0 … P−1.
      **options: passed on to `jax.distributed.initialize` (``local_device_ids``,
        ``initialization_timeout`` in seconds, ``cluster_detection_method``, …).

    Returns:
      (`jax.process_index()`, `jax.process_count()`). A second call returns them and
      does nothing else.

    CPU-only jobs (tests, debugging) need collectives between processes: jax 0.10 (checked)
    uses gloo by default (``jax_cpu_collectives_implementation``); on
    a JAX whose default is none, call
    ``jax.config.update("jax_cpu_collectives_implementation", "gloo")`` first.
    """
    if not jax.distributed.is_initialized():
        env = os.environ
        if num_processes is None and env.get("JAX_NUM_PROCESSES"):
            num_processes = int(env["JAX_NUM_PROCESSES"])
        if process_id is None and env.get("JAX_PROCESS_ID"):
            process_id = int(env["JAX_PROCESS_ID"])
        jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                                   process_id=process_id, **options)
    return jax.process_index(), jax.process_count()


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _global_leaf(x: Any, sharding: NamedSharding, local_shape: bool) -> jax.Array:
    """One leaf as a global array: from the whole batch (every process) or this process's rows."""
    if _is_key(x):
        impl = jax.random.key_impl(x)
        key_data = _global_leaf(jax.random.key_data(x), sharding, local_shape)
        return jax.random.wrap_key_data(key_data, impl=impl)
    data = np.asarray(x)
    if local_shape:
        return jax.make_array_from_process_local_data(sharding, data)
    return jax.make_array_from_process_local_data(sharding, data, data.shape)


def shard_batch(tree: Any, sharding: NamedSharding) -> Any:
    """Put a pytree of batches (every leaf with the leading axis B) onto ``sharding``.

    On one process this is `jax.device_put`. When the sharding spans other processes'
    devices, every process must pass the same whole batch (same pictures, same key: the
    inversion is deterministic) and each keeps only the rows of its own devices
    (`jax.make_array_from_process_local_data` with the global shape). Typed PRNG key
    arrays go through their key data.
    """
    if sharding.is_fully_addressable:
        return jax.device_put(tree, sharding)
    return jax.tree.map(lambda x: _global_leaf(x, sharding, local_shape=False), tree)


def local_rows(num_problems: int, sharding: NamedSharding) -> slice:
    """The rows of a batch of ``num_problems`` that this process's devices hold under ``sharding``.

    With `batch_sharding` over `jax.devices()` (ordered by process) these are one
    contiguous block; a process can then build or load only these problems and pass them
    to `from_local_rows`.
    """
    rows = sorted(
        (idx[0].start or 0, num_problems if idx[0].stop is None else idx[0].stop)
        for idx in sharding.addressable_devices_indices_map((num_problems,)).values() if idx is not None
    )
    start, stop = rows[0][0], rows[-1][1]
    if sum(b - a for a, b in rows) != stop - start:
        raise JaxinvError("this process's devices hold rows that are not one block; build the mesh"
                          " over jax.devices() in their order")
    return slice(start, stop)


def from_local_rows(tree: Any, sharding: NamedSharding) -> Any:
    """The global batch from each process's own rows (`local_rows`): no process holds all of it.

    `jax.make_array_from_process_local_data` under the hood; typed key arrays are
    supported. On one process the local rows are the whole batch.
    """
    return jax.tree.map(lambda x: _global_leaf(x, sharding, local_shape=True), tree)


def to_host(x: Any) -> np.ndarray:
    """A device array as one NumPy array on this process, gathered from all processes if needed.

    A batch that spans other processes is gathered with
    `jax.experimental.multihost_utils.process_allgather`, a collective: every process
    must call it, in the same order. Typed key arrays come back as their key data.
    """
    if isinstance(x, jax.Array):
        if _is_key(x):
            x = jax.random.key_data(x)
        if not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def gather(tree: Any) -> Any:
    """`to_host` over a pytree (the carries of a sharded run, say)."""
    return jax.tree.map(to_host, tree)
