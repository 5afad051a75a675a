"""Files that are whole or absent: atomic writes, strict JSON, and no temporary files left behind.

Every file jaxinv writes goes through a temporary file in the same folder, flushed to disk
and renamed over the final name, so a reader (or a run killed with SIGKILL) sees the old file
or the whole new one, never a part. The final file gets the mode the user's umask gives, as
any other tool's would. Temporary files are named ``.NAME.PID.RANDOM.jaxinv-tmp``: one whose
process is gone was left by a killed run, and the next write into that folder removes it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pathlib
import secrets
from collections.abc import Iterator
from typing import Any

from jaxinv.errors import JaxinvError

__all__ = ["TEMP_SUFFIX", "atomic_path", "atomic_write_bytes", "write_json", "json_text",
           "remove_stale_temporaries", "umask", "undefined_as_null"]

#: The suffix that marks jaxinv's temporary files.
TEMP_SUFFIX = ".jaxinv-tmp"


def umask() -> int:
    """The process's file-mode creation mask (read, not changed, where the OS tells it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it and put it back
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[pathlib.Path]:
    """Delete the temporary files in ``folder`` whose writing process no longer runs.

    Returns the paths removed. Files of live processes (a concurrent run) are left alone.
    """
    removed: list[pathlib.Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX)):
            continue
        parts = entry.name[: -len(TEMP_SUFFIX)].rsplit(".", 2)
        if len(parts) != 3 or not parts[1].isdigit() or _pid_alive(int(parts[1])):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(pathlib.Path(entry.path))
    return removed


def _temp_beside(path: pathlib.Path) -> pathlib.Path:
    """A new empty temporary file in ``path``'s folder, with the mode the umask gives."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    os.close(fd)
    return tmp


def _fsync(path: pathlib.Path) -> None:
    # Without fsync a crash right after the rename can leave an empty file under the final name.
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, else vanishes.

    The temporary file lives in the same folder so that ``os.replace`` is a same-filesystem
    rename, which is atomic on POSIX and Windows. A writer that replaces the temporary file
    (as some libraries do) keeps the umask's mode too.
    """
    path = pathlib.Path(path)
    tmp = _temp_beside(path)
    try:
        yield tmp
        _fsync(tmp)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a file so that readers see the old file or the whole new one, never a part."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def json_text(value: Any, **options: Any) -> str:
    """``json.dumps`` that refuses NaN and infinities (they are not JSON) with a `JaxinvError`."""
    try:
        return json.dumps(value, allow_nan=False, **options)
    except ValueError as exc:
        raise JaxinvError(f"refusing to write a non-finite number into JSON ({exc}); this is a bug"
                          " in what computed it: please report it") from None


def undefined_as_null(value: Any) -> Any:
    """``value`` with NaN and infinities (an undefined statistic: a correlation over two
    points, a PSNR of identical pictures) replaced by None, so it writes as JSON ``null``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: undefined_as_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [undefined_as_null(v) for v in value]
    return value


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write ``value`` as strict JSON (no NaN or infinity), indented, atomically."""
    atomic_write_bytes(path, (json_text(value, indent=2) + "\n").encode())
