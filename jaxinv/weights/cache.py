"""The converted-weights cache: safetensors files plus a manifest of where they came from.

Layout of the cache folder (``JAXINV_HOME``, default the user's cache directory + ``jaxinv``)::

    <home>/<name>.safetensors     canonical blobs of network <name>
    <home>/manifest.json          one entry per converted file (see ``weights/README.md``)
    <home>/downloads/             official files fetched by ``jaxinv.weights.download``

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so
a reader sees either the old file or the new one, never a half-written one, and a conversion
that fails leaves the cache as it was.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib
import json
import os
import pathlib
import re
import sys
import types
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.files import _fsync, _temp_beside, atomic_path
from jaxinv.weights import Blobs

__all__ = [
    "MANIFEST",
    "cache_home",
    "cached_path",
    "convert",
    "file_sha256",
    "read_manifest",
    "read_safetensors",
    "replacement_notice",
    "write_safetensors",
]

MANIFEST = "manifest.json"
_FORMAT = "jaxinv-blobs"
_FORMAT_VERSION = "1"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


# ---------------------------------------------------------------------------------------------
# Folders, hashes, atomic writes


def cache_home(*, home: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """The cache folder: ``home`` if given, else ``$JAXINV_HOME``, else the platform cache dir.

    The platform cache dir is ``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux,
    ``~/Library/Caches`` on macOS and ``%LOCALAPPDATA%`` on Windows, plus ``jaxinv``. The folder
    is not created here: readers must not create folders as a side effect.
    """
    if home is not None:
        return pathlib.Path(home).expanduser()
    env = os.environ.get("JAXINV_HOME")
    if env:
        return pathlib.Path(env).expanduser()
    if sys.platform == "win32":
        base = pathlib.Path(os.environ.get("LOCALAPPDATA") or pathlib.Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = pathlib.Path.home() / "Library" / "Caches"
    else:
        base = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    return base / "jaxinv"


def file_sha256(path: str | os.PathLike[str], *, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks (weight files are hundreds of MB)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_name(name: str) -> str:
    """Refuse cache names that could escape the cache folder or clash with its own files."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in ("manifest", "downloads"):
        raise JaxinvError(
            f"invalid weights name {name!r}; use letters, digits, '_', '-', '.' or '+'"
            " (for example 'caffenet')"
        )
    return name


@contextlib.contextmanager
def _locked(home: pathlib.Path) -> Iterator[None]:
    """Serialise manifest updates between processes sharing one cache (POSIX only)."""
    home.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: last writer wins
        yield
        return
    with open(home / ".lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def jaxinv_version() -> str:
    """The installed jaxinv version (package metadata, then ``jaxinv.__version__``)."""
    try:
        from importlib.metadata import PackageNotFoundError, version
        return version("jaxinv")
    except (ImportError, PackageNotFoundError):
        import jaxinv
        return str(getattr(jaxinv, "__version__", "unknown"))


# ---------------------------------------------------------------------------------------------
# safetensors files of canonical blobs


def _key(layer: str, index: int) -> str:
    return f"{layer}:{index}"


def write_safetensors(blobs: Mapping[str, list[np.ndarray]], path: str | os.PathLike[str]) -> pathlib.Path:
    """Write canonical blobs to a safetensors file, atomically; returns the path.

    Tensors are stored as ``"<layer>:<i>"`` (Caffe layer names contain ``/`` but never ``:``);
    the metadata keeps the layer order, which safetensors itself does not.
    """
    from safetensors.numpy import save_file

    path = pathlib.Path(path)
    tensors: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for layer, arrays in blobs.items():
        if ":" in layer:
            raise JaxinvError(f"layer name {layer!r} contains ':'; rename the layer")
        counts[layer] = len(arrays)
        for index, array in enumerate(arrays):
            tensors[_key(layer, index)] = np.ascontiguousarray(array, dtype=np.float32)
    # One metadata key only: safetensors keeps metadata in a hash map whose order varies
    # between runs, and identical blobs should give byte-identical files (same sha256).
    metadata = {_FORMAT: json.dumps({"format_version": _FORMAT_VERSION, "layers": counts})}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def read_safetensors(path: str | os.PathLike[str]) -> Blobs:
    """Read a jaxinv safetensors file back into canonical blobs, refusing incomplete files."""
    from safetensors import SafetensorError, safe_open
    from safetensors.numpy import load_file

    path = pathlib.Path(path)
    fix = "delete it and convert the weights again (jaxinv weights convert)"
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        # safetensors checks that the header's offsets cover the file exactly, which is what
        # catches a truncated copy.
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise JaxinvError(f"weights file {path.name!r} is incomplete or corrupt ({detail}); {fix}") from None
    if _FORMAT not in metadata:
        raise JaxinvError(f"{path.name!r} is a safetensors file but not one written by jaxinv; {fix}")
    try:
        counts = dict(json.loads(metadata[_FORMAT])["layers"])
    except (KeyError, TypeError, ValueError):
        raise JaxinvError(f"weights file {path.name!r} has no layer list in its metadata; {fix}") from None
    blobs: Blobs = {}
    for layer, count in counts.items():
        keys = [_key(layer, index) for index in range(int(count))]
        missing = [key for key in keys if key not in tensors]
        if missing:
            raise JaxinvError(f"weights file {path.name!r} lacks tensors {missing[:3]}; {fix}")
        blobs[layer] = [tensors[key] for key in keys]
    return blobs


# ---------------------------------------------------------------------------------------------
# The manifest


def read_manifest(*, home: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The manifest of the cache at ``home`` (an empty one when there is none yet)."""
    path = cache_home(home=home) / MANIFEST
    if not path.is_file():
        return {"format_version": 1, "entries": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise JaxinvError(f"cache manifest {str(path)!r} is unreadable ({exc}); delete it and convert again") from None
    manifest.setdefault("entries", {})
    return manifest


def cached_path(name: str, *, home: str | os.PathLike[str] | None = None, verify: bool = False) -> pathlib.Path | None:
    """The converted file of ``name`` if the cache has it (and the manifest lists it), else None.

    With ``verify=True`` the file's sha256 is checked against the manifest (a full read).
    """
    check_name(name)
    folder = cache_home(home=home)
    path = folder / f"{name}.safetensors"
    entry = read_manifest(home=folder)["entries"].get(name)
    if entry is None or not path.is_file():
        return None
    if verify and file_sha256(path) != entry.get("sha256"):
        raise JaxinvError(
            f"cached weights {str(path)!r} do not match the manifest's sha256; delete the file and"
            " convert or download again"
        )
    return path


# ---------------------------------------------------------------------------------------------
# Conversion


def _validate(name: str, blobs: Blobs) -> None:
    """Check the blobs fit network ``name`` before anything is written.

    The networks package is the authority when it provides a check; otherwise the shapes of
    the official networks in ``jaxinv.weights.official`` are used; other names pass unchecked.
    """
    networks: types.ModuleType | None
    try:
        networks = importlib.import_module("jaxinv.networks")
    except ImportError:  # pragma: no cover - the package always ships networks/
        networks = None
    check = None
    if networks is not None:
        # check_blobs only compares shapes; load() would also build the model.
        check = (getattr(networks, "check_blobs", None)
                 or getattr(getattr(networks, "registry", None), "check_blobs", None))
        if check is None and callable(getattr(networks, "load", None)):
            def check(net: str, values: Blobs) -> None:
                networks.load(net, weights=values)
    if check is not None:
        try:
            check(name, blobs)
        except JaxinvError:
            raise
        except (KeyError, ValueError, TypeError) as exc:
            raise JaxinvError(f"the weights do not fit network {name!r}: {exc}; check --name and the file") from None
        return
    from jaxinv.weights.official import check_shapes
    check_shapes(name, blobs)


def convert(
    src: str | os.PathLike[str],
    *,
    name: str,
    prototxt: str | os.PathLike[str] | None = None,
    home: str | os.PathLike[str] | None = None,
    source_info: Mapping[str, Any] | None = None,
) -> pathlib.Path:
    """Convert a weight file of any supported format into ``<home>/<name>.safetensors``.

    Reads ``src`` with :func:`jaxinv.weights.read_blobs`, checks the blobs against network
    ``name``, writes the safetensors file and records it in ``<home>/manifest.json`` (source
    file name, format and sha256, the converted file's sha256 and size, date, jaxinv version, plus
    ``source_info`` such as the download URL and published checksum). Nothing is written if any
    step fails. Returns the converted file's path.

    The cache holds one file per network: converting a second source file for ``name`` (a timm
    ViT after a torchvision one, say) replaces the first, and the new entry's ``replaced`` keeps
    the first's source and date; `replacement_notice` says so in one line (the CLI prints it).
    """
    from jaxinv.weights import read_blobs

    check_name(name)
    src = pathlib.Path(src)
    if prototxt is not None and src.suffix.lower() != ".caffemodel":
        raise JaxinvError(f"--prototxt applies only to .caffemodel files, not {src.name!r}; leave it out")
    blobs = read_blobs(src, network=name, prototxt=None if prototxt is None else pathlib.Path(prototxt))
    if not blobs:
        raise JaxinvError(f"no weights found in {src.name!r}; check it is the network's weight file")
    _validate(name, blobs)

    folder = cache_home(home=home)
    target = folder / f"{name}.safetensors"
    source = _source(src, name, prototxt, source_info)

    with _locked(folder):
        manifest = read_manifest(home=folder)
        manifest_path = folder / MANIFEST
        tmp_blobs = _temp_beside(target)
        tmp_manifest = _temp_beside(manifest_path)
        try:
            write_safetensors(blobs, tmp_blobs)
            entry = {
                "file": target.name,
                "sha256": file_sha256(tmp_blobs),
                "size": tmp_blobs.stat().st_size,
                "layers": len(blobs),
                "parameters": int(sum(int(np.size(a)) for arrays in blobs.values() for a in arrays)),
                "source": source,
                "converted": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "jaxinv_version": jaxinv_version(),
            }
            _note_replaced(entry, manifest["entries"].get(name))
            manifest["format_version"] = 1
            manifest["entries"][name] = entry
            tmp_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            _fsync(tmp_manifest)
            # Both new files are complete on disk before either replaces anything, so a failure
            # before this point leaves the old pair untouched. A failure between the two renames
            # leaves a file whose sha256 disagrees with the manifest: cached_path(verify=True)
            # reports it.
            os.replace(tmp_blobs, target)
            os.replace(tmp_manifest, manifest_path)
        finally:
            tmp_blobs.unlink(missing_ok=True)
            tmp_manifest.unlink(missing_ok=True)
    return target


def _source(src: pathlib.Path, name: str, prototxt: Any, source_info: Mapping[str, Any] | None) -> dict[str, Any]:
    """The manifest's ``source``: file name, format, sha256 (and sha1, the checksum the Caffe zoo
    publishes) and size, the prototxt, ``source_info``."""
    source: dict[str, Any] = {"file": src.name, "format": source_format(src, name), "sha256": file_sha256(src),
                              "sha1": file_sha256(src, algorithm="sha1"), "size": src.stat().st_size}
    if prototxt is not None:
        proto = pathlib.Path(prototxt)
        source["prototxt"] = {"file": proto.name, "sha256": file_sha256(proto)}
    source.update(dict(source_info or {}))
    return source


def _note_replaced(entry: dict[str, Any], previous: Mapping[str, Any] | None) -> None:
    """Keep in ``entry`` the source and date of the conversion it replaces, if another file's."""
    if previous and previous.get("source", {}).get("sha256") != entry["source"]["sha256"]:
        entry["replaced"] = {k: previous[k] for k in ("source", "converted") if k in previous}


_FORMATS = {".caffemodel": "Caffe", ".mat": "MatConvNet", ".pth": "torchvision", ".pt": "torchvision"}


def source_format(src: pathlib.Path, network: str) -> str:
    """Where a weight file comes from, in words: Caffe, MatConvNet, torchvision, timm or jaxinv."""
    suffix = src.suffix.lower()
    if suffix != ".safetensors":
        return _FORMATS.get(suffix, suffix.lstrip("."))
    from jaxinv.weights.statedict import family_of
    from jaxinv.weights.timm import is_timm_file

    return "timm" if family_of(network) and is_timm_file(src) else "jaxinv"


def _said(source: Mapping[str, Any], converted: str | None = None) -> str:
    file = str(source.get("file", "?"))
    kind = source.get("format") or _FORMATS.get(pathlib.Path(file).suffix.lower(), "a file")
    details = [file, f"sha256 {str(source.get('sha256', '?'))[:12]}"] + ([converted] if converted else [])
    return f"{kind} ({', '.join(details)})"


def replacement_notice(name: str, entry: Mapping[str, Any] | None) -> str | None:
    """One line saying which cached conversion of ``name`` the manifest ``entry`` replaced, or None.

    For example: ``replaced the cached vit_b_16 converted from torchvision (…) with the one from
    timm (…); convert … again to go back``.
    """
    if not entry or "replaced" not in entry:
        return None
    old = entry["replaced"]
    before = old.get("source", {})
    return (f"replaced the cached {name} converted from {_said(before, old.get('converted'))} with the one from"
            f" {_said(entry.get('source', {}))}; convert {before.get('file', 'the old file')} again"
            f" (--name {name}) to go back")
