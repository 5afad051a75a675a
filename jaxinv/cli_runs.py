"""Where a command writes its results, so that two runs never mix their files.

Without ``--out`` each run gets a new folder, ``jaxinv-out/<command>-<YYYYmmdd-HHMMSS>`` (the
time the run started; ``-2``, ``-3``, … when that name is taken), created with an exclusive
``mkdir`` once there is something to write, so it is never another run's. ``--out DIR`` names
the folder; if it already holds a run's results (its ``summary.json`` or pictures, even those of
a run that stopped half-way), the command is refused before any work with one line naming
``--overwrite``. With ``--overwrite`` the earlier run's files are removed just before the new
ones are written (pictures first, ``summary.json`` last), and nothing of the earlier run stays.

``-q``/``--quiet`` (``--no-progress`` is its old name) turns off the progress bar and the
informational lines on stderr; results on stdout, warnings and errors stay. Without it the bar
shows when stderr is a terminal. Like the other CLI modules this one imports no JAX.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import os
import pathlib
import time

__all__ = ["DEFAULT_ROOT", "RESULT_PATTERNS", "Output", "add_output_options", "check_writable", "claim",
           "plan_output", "previous_results", "progress_option"]

#: The folder that holds a new folder per run when no ``--out`` is given.
DEFAULT_ROOT = "jaxinv-out"
#: The names of the files a command writes: a folder holding one of them holds a run's results.
RESULT_PATTERNS = ("reconstruction_*.png", "*_seed*.png", "original.png", "grid.png", "summary.json")


@dataclasses.dataclass(frozen=True)
class Output:
    """Where a run writes: ``folder`` (``--out``), or a new folder under ``root`` named
    ``<command>-<stamp>`` when ``folder`` is None; ``overwrite`` removes an earlier run's files."""

    command: str
    folder: pathlib.Path | None
    root: pathlib.Path
    stamp: str
    overwrite: bool


def add_output_options(parser: argparse.ArgumentParser, *, command: str) -> None:
    """``--out``, ``--overwrite`` and ``-q``/``--quiet`` (alias ``--no-progress``) of ``command``."""
    parser.add_argument("--out", metavar="DIR",
                        help=f"output folder, created if missing (default: a new folder per run,"
                             f" ./{DEFAULT_ROOT}/{command}-YYYYmmdd-HHMMSS); a folder that holds another run's"
                             " results is refused unless --overwrite")
    parser.add_argument("--overwrite", action="store_true",
                        help="with --out: remove the results of the earlier run there before writing these")
    parser.add_argument("-q", "--quiet", "--no-progress", dest="quiet", action="store_true",
                        help="no progress bar (shown by default when stderr is a terminal) and no informational"
                             " lines on stderr; --no-progress is its old name")


def progress_option(quiet: bool) -> bool | None:
    """The ``progress=`` for the Python API: False when quiet, else None (a bar when stderr is a terminal)."""
    return False if quiet else None


def check_writable(folder: pathlib.Path, *, what: str = "--out") -> None:
    """Refuse now a folder that cannot be made or written, so that it fails before any work;
    nothing is created until there is something to write."""
    from jaxinv.errors import JaxinvError

    if folder.exists() and not folder.is_dir():
        raise JaxinvError(f"{what} {folder} is a file; pass a folder as --out (it is created if missing)")
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise JaxinvError(f"{what} {folder}: {existing} is a file, not a folder; pass another folder as --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise JaxinvError(f"{what} {folder}: {existing} is not writable; pass a folder you can write as --out")


def previous_results(folder: pathlib.Path) -> list[pathlib.Path]:
    """The files in ``folder`` that a command writes (`RESULT_PATTERNS`), ``summary.json`` last."""
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if entry.is_file(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = [name for name in names if any(fnmatch.fnmatchcase(name, p) for p in RESULT_PATTERNS)]
    return [folder / name for name in sorted(found, key=lambda name: name == "summary.json")]


def _refusal(folder: pathlib.Path, found: list[pathlib.Path]) -> str:
    shown = ", ".join(p.name for p in found[-1:] + found[:-1][:2]) + (", …" if len(found) > 3 else "")
    return (f"--out {folder} already holds another run's results ({shown}); pass --overwrite to replace them,"
            f" another --out, or no --out for a new folder under ./{DEFAULT_ROOT}/")


def plan_output(args: argparse.Namespace, *, command: str) -> Output:
    """Check ``args.out`` before any work: writable, and free of another run's results unless
    ``args.overwrite``. Creates nothing."""
    from jaxinv.errors import JaxinvError

    stamp = time.strftime("%Y%m%d-%H%M%S")
    if args.out is None:
        root = pathlib.Path(DEFAULT_ROOT)
        check_writable(root, what="the default output folder")
        return Output(command, None, root, stamp, overwrite=False)
    folder = pathlib.Path(args.out)
    check_writable(folder)
    found = previous_results(folder)
    if found and not args.overwrite:
        raise JaxinvError(_refusal(folder, found))
    return Output(command, folder, folder.parent, stamp, overwrite=bool(args.overwrite))


def claim(output: Output) -> pathlib.Path:
    """The folder to write into, made now: a new one of its own for a default run; ``--out``
    with the earlier run's files removed (``--overwrite``), or refused if a run wrote there since."""
    from jaxinv.errors import JaxinvError

    if output.folder is None:
        output.root.mkdir(parents=True, exist_ok=True)
        for n in range(1, 10_000):
            folder = output.root / (f"{output.command}-{output.stamp}" + (f"-{n}" if n > 1 else ""))
            try:
                folder.mkdir()  # exclusive: a folder that exists is another run's
            except FileExistsError:
                continue
            return folder
        raise JaxinvError(f"{output.root} has 9999 folders of {output.command} runs started at {output.stamp};"
                          " pass --out DIR")
    found = previous_results(output.folder)
    if found and not output.overwrite:
        raise JaxinvError(_refusal(output.folder, found))
    for path in found:  # pictures first, summary.json last: a half-removed run still says it is one
        path.unlink(missing_ok=True)
    output.folder.mkdir(parents=True, exist_ok=True)
    return output.folder
