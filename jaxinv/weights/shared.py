"""Where a network's weights are found when none are given: the cache, then a shared folder.

The shared folder holds official Caffe files as the Caffe model zoo lays them out,
``<folder>/<stem>/<stem>.caffemodel`` (``squeezenet_v1.1/squeezenet_v1.1.caffemodel``,
``bvlc_googlenet/bvlc_googlenet.caffemodel``). It is ``$JAXINV_SHARED_WEIGHTS`` when set, else,
in a source checkout of jaxinv, the checkout's sibling ``../shared/weights``; an installed
package has no default one. The test suite, the benchmarks and the command line all find the
shared weights through `shared_folder` and `shared_file`, so they find the same files.
"""

from __future__ import annotations

import os
import pathlib

__all__ = ["SHARED_ENV", "locate_weights", "shared_candidates", "shared_file", "shared_folder"]

#: The environment variable naming the shared weights folder.
SHARED_ENV = "JAXINV_SHARED_WEIGHTS"


def _checkout() -> pathlib.Path | None:
    """The source checkout jaxinv is imported from (the folder with its pyproject.toml), or None."""
    root = pathlib.Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "jaxinv" / "__init__.py").is_file() else None


def shared_folder() -> pathlib.Path | None:
    """``$JAXINV_SHARED_WEIGHTS`` if set, else a source checkout's ``../shared/weights``, else None.

    The folder need not exist; `shared_file` says whether it holds a network's file.
    """
    given = os.environ.get(SHARED_ENV)
    if given:
        return pathlib.Path(given).expanduser()
    root = _checkout()
    return None if root is None else root.parent / "shared" / "weights"


def _caffe_files(network: str) -> list[str]:
    """The file names of network ``network``'s official Caffe files (`jaxinv.weights.official`)."""
    from jaxinv.weights.official import entries

    return [row.file for row in entries() if row.network == network and row.format == "caffemodel"]


def shared_candidates(network: str) -> list[pathlib.Path]:
    """Where the shared folder would hold network ``network``'s official Caffe files, in
    `jaxinv.weights.official`'s order; empty without a shared folder or a Caffe file."""
    folder = shared_folder()
    if folder is None:
        return []
    return [folder / pathlib.PurePath(file).stem / file for file in _caffe_files(network)]


def shared_file(network: str) -> pathlib.Path | None:
    """The first of `shared_candidates` that is a file, or None."""
    return next((path for path in shared_candidates(network) if path.is_file()), None)


def locate_weights(network: str) -> pathlib.Path:
    """The weights of ``network`` when none are given: its converted file in the cache, else the
    shared folder's Caffe file; else a one-line `JaxinvError` naming every place looked at and
    the fixes (``--weights``, ``jaxinv weights download``/``convert``, ``$JAXINV_SHARED_WEIGHTS``)."""
    from jaxinv.errors import JaxinvError
    from jaxinv.weights.cache import cache_home, cached_path

    try:
        cached = cached_path(network)
    except (FileNotFoundError, LookupError):  # no cache folder or manifest yet
        cached = None
    if cached is not None and cached.is_file():
        return cached
    found = shared_file(network)
    if found is not None:
        return found
    looked = [f"the cache ({cache_home() / f'{network}.safetensors'})"]
    layout = [f"{pathlib.PurePath(file).stem}/{file}" for file in _caffe_files(network)]
    shared = f", or set {SHARED_ENV} to a folder holding {layout[0]}" if layout else ""
    if shared_candidates(network):
        looked.append(f"the shared folder ({', '.join(str(p) for p in shared_candidates(network))})")
    elif shared:
        looked.append(f"a shared folder (${SHARED_ENV} is not set)")
    raise JaxinvError(f"no weights for {network}: none given and none found in {' or '.join(looked)}; pass"
                      f" --weights PATH (Python: weights=PATH), cache them with {_fixes(network)}{shared}")


def _fixes(network: str) -> str:
    """The commands that put ``network``'s weights in the cache."""
    from jaxinv.weights.official import entries

    official = next((row.name for row in entries() if row.network == network), None)
    convert = f"`jaxinv weights convert FILE --name {network}`"
    return convert if official is None else f"`jaxinv weights download {official}` or {convert}"
