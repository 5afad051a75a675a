"""Append-only JSON-lines result files that survive being killed.

The first line records the configuration that wrote the file; each further line is one
finished result, written whole with a flush and fsync. A run started again reads the file,
skips what is done and appends the rest, so a killed run loses at most the batch in flight
and never repeats a result. A file written by another configuration is refused, and so is one
that another process holds open for writing (two runs of one job would both append the same
results).
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import platform
import types
from collections.abc import Iterable
from typing import Any

from jaxinv.errors import JaxinvError
from jaxinv.files import atomic_write_bytes, json_text

fcntl: types.ModuleType | None
try:
    fcntl = importlib.import_module("fcntl")
except ImportError:  # not POSIX: no lock, one run per file is then the user's to keep
    fcntl = None

__all__ = ["ResultsFile", "environment", "read_results"]

#: Results files this process writes, with the open handle that holds each one's lock.
_HELD: dict[str, Any] = {}


def environment() -> dict[str, Any]:
    """Device, precision and versions, recorded in every results file."""
    import jax

    import jaxinv

    device = jax.devices()[0]
    return {
        "jax": jax.__version__,
        "jaxinv": jaxinv.__version__,
        "backend": jax.default_backend(),
        "device": getattr(device, "device_kind", str(device)),
        "device_count": jax.device_count(),
        # getattr: jax's Config declares its flags at run time, so a type checker does not see them
        "precision": f"float32, matmul precision {getattr(jax.config, 'jax_default_matmul_precision') or 'default'}",
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def _parse(path: pathlib.Path) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """(configuration, result rows, bytes they span) of a results file, read up to the first line
    that is not whole JSON: one cut off by a kill, or still being written by a running job."""
    if not path.is_file():
        raise JaxinvError(f"{path} not found; pass a results file a benchmark wrote")
    good_bytes = 0
    records = []
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    for raw in lines:
        if raw.strip():
            try:
                records.append(json.loads(raw))
            except json.JSONDecodeError:
                break
        good_bytes += len(raw) + 1
    if not records or records[0].get("kind") != "config":
        raise JaxinvError(f"{path} is not a jaxinv results file; pass another output path")
    return records[0]["config"], [r for r in records[1:] if r.get("kind") == "result"], good_bytes


def read_results(path: str | os.PathLike) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(configuration, result rows) of a results file, without writing to it: safe while another
    process appends, whose last line, not yet whole, is left out."""
    config, rows, _ = _parse(pathlib.Path(path))
    return config, rows


def _hold(path: pathlib.Path) -> None:
    """Take an exclusive lock on ``path`` for the rest of this process (created if missing), so
    that a second process cannot append to it; this process may open it again (a resume)."""
    key = str(path.resolve())
    if fcntl is None or key in _HELD:
        return
    handle = open(path, "ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise JaxinvError(f"{path} is being written by another run; wait for it to finish (it resumes"
                          " from the file) or pass another output path") from None
    _HELD[key] = handle


class ResultsFile:
    """A JSON-lines file of results keyed by ``key_field``, bound to one configuration.

    ``read_only``: the rows as they stand, for a table built while a run may still be appending;
    the file must exist, and is neither locked nor written (`append` is refused)."""

    def __init__(self, path: str | os.PathLike, config: dict[str, Any], *, key_field: str = "key",
                 read_only: bool = False):
        self.path = pathlib.Path(path)
        self.config = json.loads(json.dumps(config))  # normalised like a round trip
        self.key_field = key_field
        self.read_only = read_only
        self._rows: list[dict[str, Any]] = []
        if read_only:
            self._load()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _hold(self.path)
        if self.path.stat().st_size > 0:
            self._load()
        else:
            header = {"kind": "config", "config": self.config, "environment": environment()}
            self._append_line(header, truncate=True)

    def _load(self) -> None:
        config, self._rows, good_bytes = _parse(self.path)
        if config != self.config:
            differs = sorted(k for k in set(self.config) | set(config) if self.config.get(k) != config.get(k))
            raise JaxinvError(
                f"{self.path} was written by another configuration (differs in: {', '.join(differs)});"
                " use another output file or delete it to start over"
            )
        if not self.read_only and good_bytes < self.path.stat().st_size:
            with open(self.path, "r+b") as f:
                f.truncate(good_bytes)

    def _append_line(self, record: dict[str, Any], *, truncate: bool = False) -> None:
        line = (json_text(record, sort_keys=True) + "\n").encode()
        with open(self.path, "wb" if truncate else "ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The finished results in the file, in the order written (a copy)."""
        return list(self._rows)

    def done(self) -> set[str]:
        """The keys (``key_field``, as text) of the results already in the file: a resumed run skips them."""
        return {str(r[self.key_field]) for r in self._rows}

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append finished results (each with ``key_field``); a key already present is refused."""
        if self.read_only:
            raise JaxinvError(f"{self.path} was opened read-only; open it without read_only to append")
        done = self.done()
        for row in rows:
            key = str(row[self.key_field])
            if key in done:
                raise JaxinvError(f"result {key!r} is already in {self.path}; a result is recorded once")
            record = {"kind": "result", **row}
            self._append_line(record)
            self._rows.append(record)
            done.add(key)

    def replace(self, rows: Iterable[dict[str, Any]]) -> None:
        """Put each of ``rows`` in place of the recorded row with its key (a result made again, whose
        every column must come from the remade one); the file is rewritten whole, atomically, and
        held again. A key not recorded is refused: `append` records new results."""
        if self.read_only:
            raise JaxinvError(f"{self.path} was opened read-only; open it without read_only to replace rows")
        fresh = {str(row[self.key_field]): {"kind": "result", **row} for row in rows}
        absent = sorted(set(fresh) - self.done())
        if absent:
            raise JaxinvError(f"result {absent[0]!r} is not in {self.path}; append it instead of replacing it")
        self._rows = [fresh.get(str(r[self.key_field]), r) for r in self._rows]
        _, _, good_bytes = _parse(self.path)
        header = self.path.read_bytes()[:good_bytes].split(b"\n", 1)[0] + b"\n"
        lines = [json_text(r, sort_keys=True) + "\n" for r in self._rows]
        atomic_write_bytes(self.path, header + "".join(lines).encode())
        stale = _HELD.pop(str(self.path.resolve()), None)
        if stale is not None:
            stale.close()
        _hold(self.path)  # the lock was on the file replaced

