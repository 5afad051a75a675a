"""Sharded and multi-process inversion (jaxinv.parallel).

The multi-device runs need a fresh process (the device count is fixed when the CPU backend
starts), so they run a worker script in subprocesses with forced CPU devices:

- one process with 4 devices: `invert_batch(sharding=batch_sharding(4))` gives the same bits
  as the unsharded run, and the chunk's outputs really are split over the 4 devices;
- two processes × 2 devices joined by `jax.distributed` on 127.0.0.1: a batch split over the
  4 global devices (each process building only its own rows), gathered back, equals a
  one-process reference; and so does `invert_batch` itself over the two processes.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from jaxinv import parallel
from jaxinv.errors import JaxinvError

REPO = pathlib.Path(__file__).resolve().parents[1]
TIMEOUT = 150  # seconds per subprocess run; a hung coordinator must not hang the suite

WORKER = textwrap.dedent('''
    import json, sys
    import jax, jax.numpy as jnp, numpy as np

    mode, out = sys.argv[1], sys.argv[2]
    from jaxinv import parallel
    if mode == "multi":
        pid, port = int(sys.argv[3]), int(sys.argv[4])
        index, count = parallel.initialize_distributed(
            coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=pid,
            initialization_timeout=60)
        assert (index, count) == (pid, 2), (index, count)
        assert jax.device_count() == 4 and jax.local_device_count() == 2

    import jaxinv.inversion as inversion
    from jaxinv import program
    from jaxinv.core import solver
    from jaxinv.errors import JaxinvError
    from jaxinv.representations.pooling import average_pool

    REP = average_pool(factor=2)
    SHORT = [(0.004, 10), (0.0004, 10)]
    OPTIONS = dict(seeds=2, schedule=SHORT, chunk=10)
    rng = np.random.default_rng(0)
    PICTURES = [rng.uniform(0, 255, (16, 16, 3)).astype(np.float32) for _ in range(4)]
    FIELDS = ("images", "inputs", "errors", "codes", "targets", "energy", "snapshots", "diverged")
    saved, report = {}, {"devices": jax.device_count()}

    def save(prefix, result):
        for f in FIELDS:
            saved[f"{prefix}_{f}"] = np.asarray(getattr(result, f))

    def describe(tree):
        """Per leaf: is it split over 4 devices, one problem per device?"""
        rows = []
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
            shards = leaf.addressable_shards
            rows.append(dict(
                leaf=jax.tree_util.keystr(path), dtype=str(leaf.dtype), shape=list(leaf.shape),
                spec=[None if a is None else str(a) for a in leaf.sharding.spec],
                devices=len(leaf.sharding.device_set), local_shards=len(shards),
                shard_rows=sorted({s.data.shape[0] for s in shards}),
                fully_addressable=leaf.is_fully_addressable))
        return rows

    chunks = []
    advance_chunk = program.advance_chunk
    def spy(*args, **kwargs):
        outputs = advance_chunk(*args, **kwargs)
        chunks.append(outputs)
        return outputs
    program.advance_chunk = spy

    def lowlevel(sharding):
        """4 problems through advance_chunk; each process builds only the rows its devices hold."""
        skeleton, arrays = program.split_solver(solver(REP, "paper", image_shape=(16, 16, 3), schedule=SHORT))
        prog = program.Program(skeleton, chunk=10, steps=20)
        rows = slice(0, 4) if sharding is None else parallel.local_rows(4, sharding)
        report["rows"] = [rows.start, rows.stop]
        xs = np.stack(PICTURES)[rows] - 128.0
        targets = jax.vmap(REP.features, in_axes=(None, 0))(REP.params, jnp.asarray(xs))
        carries = program.init_states(prog, arrays, jax.random.split(jax.random.key(11), 4)[rows])
        if sharding is not None:
            targets, carries = parallel.from_local_rows((targets, carries), sharding)
            report["lowlevel_inputs"] = describe((targets, carries))
        energies = []
        for t0 in range(0, prog.steps, prog.chunk):
            carries, energy = program.advance_chunk(prog, arrays, targets, None, carries,
                                                    jnp.asarray(t0, jnp.int32))
            energies.append(parallel.to_host(energy))
        if sharding is not None:
            report["lowlevel_outputs"] = describe((carries, energy))
        saved["low_variable"] = parallel.to_host(carries.variables)
        saved["low_key"] = parallel.to_host(carries.key)
        saved["low_energy"] = np.concatenate(energies, axis=1)

    if mode == "single":
        sharding = parallel.batch_sharding(4)
        for tag, key in (("typed", jax.random.key(3)), ("raw", jax.random.PRNGKey(3))):
            save(f"{tag}_ref", inversion.invert_batch(REP, PICTURES[:2], key=key, **OPTIONS))
            chunks.clear()
            save(f"{tag}_sharded", inversion.invert_batch(REP, PICTURES[:2], key=key, sharding=sharding,
                                                          **OPTIONS))
            report[f"{tag}_chunks"] = len(chunks)
            report[f"{tag}_outputs"] = describe(chunks[-1])
        errors = []
        for bad in (lambda: parallel.batch_sharding(6), lambda: parallel.batch_sharding(2)):
            try:
                bad()
            except JaxinvError as exc:
                errors.append(str(exc))
        report["errors"] = errors
        report["two_of_four"] = len(parallel.batch_sharding(6, devices=jax.devices()[:2]).device_set)
    elif mode == "reference":
        lowlevel(None)
        save("batch", inversion.invert_batch(REP, PICTURES[:2], key=jax.random.key(5), **OPTIONS))
    else:
        sharding = parallel.batch_sharding(4)
        lowlevel(sharding)
        chunks.clear()
        save("batch", inversion.invert_batch(REP, PICTURES[:2], key=jax.random.key(5),
                                             sharding=sharding, **OPTIONS))
        report["batch_outputs"] = describe(chunks[-1])
    np.savez(out + ".npz", **saved)
    with open(out + ".json", "w") as f:
        json.dump(report, f)
''')


def _env(devices: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(script: pathlib.Path, runs: list[tuple[list[str], int]]) -> list[tuple[dict, dict]]:
    """Start the worker once per (arguments, devices) together; wait, bounded; always clean up."""

    procs = []
    try:
        for args, devices in runs:
            procs.append(subprocess.Popen([sys.executable, str(script), *args], cwd=REPO, env=_env(devices),
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        logs = []
        for p in procs:
            try:
                logs.append(p.communicate(timeout=TIMEOUT)[0])
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                pytest.fail(f"a worker ran past {TIMEOUT} s: {[q.args for q in procs]}")
        for p, log in zip(procs, logs):
            assert p.returncode == 0, f"worker {p.args[2:]} failed:\n{log[-4000:]}"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    results = []
    for args, _ in runs:
        out = args[1]
        results.append((dict(np.load(out + ".npz")), json.loads(pathlib.Path(out + ".json").read_text())))
    return results


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parallel")
    script = folder / "worker.py"
    script.write_text(WORKER)
    return folder, script


# --- in-process: the helpers on this process's devices -------------------------------------------

def test_batch_sharding_is_a_1d_batch_mesh():
    sharding = parallel.batch_sharding(jax.device_count() * 3)
    assert sharding.mesh.axis_names == ("batch",)
    assert sharding.spec == jax.sharding.PartitionSpec("batch")
    assert sharding.mesh.devices.tolist() == jax.devices()


@pytest.mark.parametrize("bad", [0, -2, 2.0, "4"])
def test_batch_sharding_rejects_bad_counts(bad):
    with pytest.raises(JaxinvError, match="num_problems"):
        parallel.batch_sharding(bad)


def test_batch_sharding_rejects_empty_or_repeated_devices():
    with pytest.raises(JaxinvError, match="no devices"):
        parallel.batch_sharding(4, devices=[])
    with pytest.raises(JaxinvError, match="twice"):
        parallel.batch_sharding(4, devices=[jax.devices()[0]] * 2)


def test_single_process_helpers_round_trip():
    sharding = parallel.batch_sharding(4, devices=jax.devices()[:1])
    tree = {"x": np.arange(12.0, dtype=np.float32).reshape(4, 3), "key": jax.random.split(jax.random.key(0), 4)}
    placed = parallel.shard_batch(tree, sharding)
    assert placed["x"].sharding == sharding
    assert parallel.local_rows(4, sharding) == slice(0, 4)
    built = parallel.from_local_rows(tree, sharding)
    assert jax.dtypes.issubdtype(built["key"].dtype, jax.dtypes.prng_key)
    for t in (placed, built):
        back = parallel.gather(t)
        np.testing.assert_array_equal(back["x"], tree["x"])
        np.testing.assert_array_equal(back["key"], jax.random.key_data(tree["key"]))


# --- one process, 4 forced CPU devices -------------------------------------------------------------

def test_sharded_invert_batch_over_4_devices_matches_unsharded(worker):
    folder, script = worker
    ((saved, report),) = _run(script, [(["single", str(folder / "single")], 4)])
    assert report["devices"] == 4
    for tag in ("typed", "raw"):  # jax.random.key and legacy uint32 jax.random.PRNGKey
        for name in ("images", "inputs", "errors", "codes", "targets", "energy", "snapshots", "diverged"):
            np.testing.assert_array_equal(saved[f"{tag}_sharded_{name}"], saved[f"{tag}_ref_{name}"],
                                          err_msg=f"{tag} key, {name}")
        assert report[f"{tag}_chunks"] == 2
        leaves = report[f"{tag}_outputs"]
        # every leaf of the chunk's (carries, energy): variable, optax count and velocity,
        # snapshot, PRNG key, rejected counter, energies; one problem on each of 4 devices
        assert len(leaves) >= 7
        for leaf in leaves:
            assert leaf["shape"][0] == 4, leaf
            assert (leaf["devices"], leaf["local_shards"], leaf["shard_rows"]) == (4, 4, [1]), leaf
            assert leaf["spec"][:1] == ["batch"] and not any(leaf["spec"][1:]), leaf
    assert any(leaf["dtype"].startswith("key<") for leaf in report["typed_outputs"])
    assert any(leaf["leaf"].endswith(".count") and leaf["shape"] == [4] for leaf in report["typed_outputs"])
    assert len(report["errors"]) == 2 and all("does not split over 4 devices" in e for e in report["errors"])
    assert report["two_of_four"] == 2


# --- two processes × 2 CPU devices, jax.distributed on 127.0.0.1 ----------------------------------

@pytest.fixture(scope="module")
def multi_host(worker):
    folder, script = worker
    port = str(_free_port())
    return _run(script, [
        (["reference", str(folder / "reference")], 1),
        (["multi", str(folder / "multi0"), "0", port], 2),
        (["multi", str(folder / "multi1"), "1", port], 2),
    ])


def test_batch_split_over_two_processes_matches_one_process(multi_host):
    (reference, _), *processes = multi_host
    for pid, (saved, report) in enumerate(processes):
        assert report["devices"] == 4
        assert report["rows"] == [2 * pid, 2 * pid + 2]  # each process built only its 2 problems
        for stage in ("lowlevel_inputs", "lowlevel_outputs"):
            for leaf in report[stage]:
                assert leaf["shape"][0] == 4, leaf
                assert not leaf["fully_addressable"], leaf
                assert (leaf["devices"], leaf["local_shards"], leaf["shard_rows"]) == (4, 2, [1]), leaf
        for name in ("variable", "key", "energy"):  # gathered back on every process
            np.testing.assert_array_equal(saved[f"low_{name}"], reference[f"low_{name}"],
                                          err_msg=f"process {pid}: {name}")


def test_invert_batch_over_two_processes_matches_one_process(multi_host):
    (reference, _), *processes = multi_host
    for pid, (saved, report) in enumerate(processes):
        for name in ("images", "inputs", "errors", "codes", "targets", "energy", "snapshots", "diverged"):
            np.testing.assert_array_equal(saved[f"batch_{name}"], reference[f"batch_{name}"],
                                          err_msg=f"process {pid}: {name}")
        for leaf in report["batch_outputs"]:
            assert (leaf["devices"], leaf["local_shards"], leaf["fully_addressable"]) == (4, 2, False), leaf
