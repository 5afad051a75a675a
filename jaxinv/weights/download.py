"""Download official weight files: resumable, checksum-verified, atomic; then convert them.

A file is streamed to ``<home>/downloads/<file>.part``. An interrupted transfer keeps the
``.part`` and the next attempt (in the same call, or a later one) asks the server for the rest
with an HTTP ``Range`` request. Only a file whose checksum matches the published one is renamed
to its final name; a mismatch deletes the ``.part`` so that no corrupt bytes stay in the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import pathlib
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, BinaryIO

from jaxinv.errors import JaxinvError
from jaxinv.weights.cache import cache_home, convert, jaxinv_version, read_manifest
from jaxinv.weights.official import OfficialFile, entry as official_entry

__all__ = ["Checksum", "cached_download", "download", "fetch", "verify"]

Checksum = tuple[str, str]  # (algorithm, hex digest or sha256 prefix)
_CHUNK = 1 << 20


class _Interrupted(ConnectionError):
    """The server closed the connection before sending all the bytes it announced."""


# ---------------------------------------------------------------------------------------------
# Checksums


def _digest(path: pathlib.Path, algorithm: str) -> str:
    digest = hashlib.new("sha256" if algorithm == "sha256-prefix" else algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: str | os.PathLike[str], checksum: Checksum) -> bool:
    """Whether ``path`` matches ``(algorithm, value)``: sha1 / sha256 in full, or a sha256 prefix."""
    algorithm, value = checksum
    value = value.lower()
    if algorithm == "sha256-prefix":
        if len(value) < 8:
            raise JaxinvError(f"sha256 prefix {value!r} is too short to check anything; give at least 8 hex digits")
        return _digest(pathlib.Path(path), algorithm).startswith(value)
    if algorithm not in ("sha1", "sha256"):
        raise JaxinvError(f"unknown checksum algorithm {algorithm!r}; use sha1, sha256 or sha256-prefix")
    return _digest(pathlib.Path(path), algorithm) == value


# ---------------------------------------------------------------------------------------------
# Streaming with resume


@contextlib.contextmanager
def _exclusive(handle: BinaryIO, name: str) -> Iterator[None]:
    """Refuse to share a ``.part`` with another process downloading the same file (POSIX)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise JaxinvError(f"another process is downloading {name!r}; wait for it to finish") from None
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a ``Content-Range: bytes a-b/total`` or ``bytes */total``."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", header or "")
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(2)) if match.group(2) != "*" else None
    return start, total


def _fetch_once(url: str, part: pathlib.Path, *, progress: bool, timeout: float) -> None:
    """One HTTP request: append the missing bytes to ``part`` (or restart it) until EOF.

    Raises ``_Interrupted`` (or a network error) when the transfer stops early; ``part`` then
    holds every byte received so far, ready for the next Range request.
    """
    with open(part, "ab") as handle, _exclusive(handle, part.name[: -len(".part")]):
        have = handle.seek(0, os.SEEK_END)
        headers = {"User-Agent": f"jaxinv/{jaxinv_version()}", "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        request = urllib.request.Request(url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:
                # Nothing past our end: either the file is complete or .part is longer than
                # the file (a changed file). Keep it only in the first case.
                _, total = _content_range(exc.headers.get("Content-Range"))
                if total != have:
                    handle.truncate(0)
                    raise _Interrupted("the partial file is longer than the server's file; restarting") from None
                return
            raise
        with response:
            status = getattr(response, "status", 200)
            start, total = _content_range(response.headers.get("Content-Range"))
            if not (have and status == 206 and start == have):
                # The server ignored the Range request (or none was sent): start over.
                handle.truncate(0)
                have = 0
            length_header = response.headers.get("Content-Length")
            length = int(length_header) if length_header and length_header.isdigit() else None
            if total is None and length is not None:
                total = have + length
            received = 0
            with _progress_bar(total, have, part.name[: -len(".part")], enabled=progress) as bar:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    handle.write(chunk)
                    received += len(chunk)
                    bar(len(chunk))
            handle.flush()
            os.fsync(handle.fileno())
            # http.client returns b"" when the peer closes early instead of raising, so the
            # byte count is the only sign of a cut-off transfer.
            if length is not None and received < length:
                raise _Interrupted(f"connection closed after {have + received} of {total} bytes")


@contextlib.contextmanager
def _progress_bar(total: int | None, initial: int, name: str, *, enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield lambda n: None
        return
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        yield lambda n: None
        return
    with tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
              desc=name, file=sys.stderr, leave=False) as bar:
        yield bar.update


def _make_dirs(folder: pathlib.Path) -> list[pathlib.Path]:
    """Create ``folder`` and its missing parents; return those created, deepest last."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def _remove_empty(folders: list[pathlib.Path]) -> None:
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only succeeds when empty: never removes anything else


def fetch(url: str, dest: str | os.PathLike[str], *, checksum: Checksum | None, progress: bool = True,
          timeout: float = 60.0, attempts: int = 5) -> pathlib.Path:
    """Download ``url`` to ``dest`` via ``dest.part``, resuming, verifying, renaming atomically.

    Up to ``attempts`` requests are made; each after the first resumes with a Range request.
    If all fail, ``dest.part`` is kept so that a later call resumes. A checksum mismatch
    deletes ``dest.part`` and raises. ``checksum=None`` skips verification (the caller must
    have decided that explicitly).
    """
    dest = pathlib.Path(dest)
    part = dest.with_name(dest.name + ".part")
    created = _make_dirs(dest.parent)
    try:
        last: BaseException | None = None
        for _ in range(max(1, attempts)):
            try:
                _fetch_once(url, part, progress=progress, timeout=timeout)
                last = None
                break
            except urllib.error.HTTPError as exc:
                raise JaxinvError(f"download of {dest.name!r} from {url} failed: HTTP {exc.code} {exc.reason};"
                                  " check the URL (or pass --url with a mirror)") from None
            except (_Interrupted, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                last = exc
        if last is not None:
            kept = part.is_file() and part.stat().st_size > 0
            raise JaxinvError(
                f"download of {dest.name!r} from {url} failed after {attempts} attempts ({last});"
                + (" run the same command again to resume" if kept else " check the network and the URL")
            )
        if checksum is not None and not verify(part, checksum):
            part.unlink(missing_ok=True)
            raise JaxinvError(
                f"{dest.name!r} from {url} does not match its published {checksum[0]} {checksum[1]};"
                " the file is corrupt or not the official one and was deleted; try again or use another mirror"
            )
        os.replace(part, dest)
    except BaseException:
        if part.is_file() and part.stat().st_size == 0:
            part.unlink(missing_ok=True)
        _remove_empty(created)
        raise
    return dest


# ---------------------------------------------------------------------------------------------
# Official files


def _checksums(row: OfficialFile, sha256: str | None, allow_unverified: bool) -> list[Checksum]:
    checks: list[Checksum] = []
    if row.hash is not None and row.algorithm is not None:
        checks.append((row.algorithm, row.hash))
    if sha256 is not None:
        checks.append(("sha256", _given_sha256(sha256)))
    if not checks and not allow_unverified:
        raise JaxinvError(
            f"no checksum is published for {row.file!r}; pass --sha256 HEX to check it, or"
            " --allow-unverified to accept the download as it is"
        )
    return checks


def _given_sha256(sha256: str) -> str:
    """``sha256`` in lower case, or a one-line refusal when it is not 64 hex digits."""
    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise JaxinvError(f"--sha256 {sha256!r} is not 64 hex digits; give the file's full sha256")
    return sha256.lower()


def _matches_published(row: OfficialFile, source: dict[str, Any]) -> bool:
    """Whether a converted file's recorded digests match the official file's published checksum."""
    if row.hash is None or row.algorithm is None:
        return False
    if row.algorithm == "sha1":
        return source.get("sha1") == row.hash
    recorded = str(source.get("sha256", ""))
    return recorded.startswith(row.hash) if row.algorithm == "sha256-prefix" else recorded == row.hash


def cached_download(name: str, *, home: str | os.PathLike[str] | None = None,
                    sha256: str | None = None) -> pathlib.Path | None:
    """The cache's converted file of official file ``name`` if the cache already holds it, else None.

    Held means the manifest's entry for ``name``'s network came from that official download, or
    from a file the user converted whose bytes match the published checksum (sha256, its prefix,
    or the Caffe zoo's sha1; a file with no published checksum never counts: its name proves
    nothing); with ``sha256`` the source's sha256 must also be that. Reads the cache only.
    """
    row = official_entry(name)
    folder = cache_home(home=home)
    entry = read_manifest(home=folder)["entries"].get(row.network)
    path = folder / f"{row.network}.safetensors"
    if not entry or not path.is_file():
        return None
    source = entry.get("source", {})
    official = source.get("official")
    if official != row.name and (official is not None or not _matches_published(row, source)):
        return None
    if sha256 is not None and source.get("sha256") != _given_sha256(sha256):
        return None
    return path


def download(name: str, *, home: str | os.PathLike[str] | None = None, url: str | None = None,
             sha256: str | None = None, allow_unverified: bool = False, progress: bool = True,
             timeout: float = 60.0, attempts: int = 5, force: bool = False) -> pathlib.Path:
    """Download official file ``name`` (see ``jaxinv weights list``), verify it, convert it.

    Args:
      name: an official file name (``caffenet``, ``torchvision-alexnet``, ...).
      home: the cache folder (default ``$JAXINV_HOME`` or the user cache dir).
      url: a mirror to fetch from instead of the official URL; the published checksum
        still applies.
      sha256: the expected full sha256, for files with no published checksum (or to check
        a second one).
      allow_unverified: accept a file with no checksum at all (recorded as unverified).
      force: download and convert again even if the cache already holds this file; without
        it a file the cache holds (`cached_download`) is returned without any request.

    Returns the converted ``<home>/<network>.safetensors``.
    """
    row = official_entry(name)
    folder = cache_home(home=home)
    if not force and (done := cached_download(name, home=folder, sha256=sha256)) is not None:
        return done  # already converted: no request at all (`cached_download`)
    checks = _checksums(row, sha256, allow_unverified)
    source_url = url or row.url
    downloads = folder / "downloads"
    dest = downloads / row.file
    if dest.is_file() and not all(verify(dest, c) for c in checks):
        dest.unlink()  # a stale or damaged earlier download; fetch it again
    created = [p for p in [downloads, *downloads.parents] if not p.exists()][::-1]
    fetched: list[pathlib.Path] = []
    try:
        if not dest.is_file():
            fetched.append(dest)
            fetch(source_url, dest, checksum=checks[0] if checks else None, progress=progress,
                  timeout=timeout, attempts=attempts)
            for check in checks[1:]:
                if not verify(dest, check):
                    dest.unlink()
                    raise JaxinvError(f"{row.file!r} does not match the given {check[0]} {check[1]};"
                                      " it was deleted; check the value or the mirror")
        # The companion prototxt is not fetched: jaxinv's networks define the architecture and
        # the checksum already pins the weights, so a second (unverifiable) download adds only
        # a way to fail. `weights convert --prototxt` still checks against one a user has.
        info = {
            "official": row.name,
            "url": source_url,
            "checksum": [{"algorithm": a, "value": v, "verified": True} for a, v in checks] or None,
            "verified": bool(checks),
        }
        return convert(dest, name=row.network, home=folder, source_info=info)
    except BaseException as exc:
        # A failed call leaves no file it fetched (a cut-off transfer keeps only its .part,
        # to resume), so the cache never holds a download that did not convert.
        if not isinstance(exc, KeyboardInterrupt):
            for path in fetched:
                path.unlink(missing_ok=True)
        _remove_empty(created)
        raise
