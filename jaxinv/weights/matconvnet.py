"""MatConvNet ``.mat`` models (simplenn and DagNN) → canonical Caffe-layout blobs.

MatConvNet's ``import-caffe.py`` (which built ``imagenet-caffe-ref.mat`` and
``imagenet-caffe-alex.mat``) changes three things relative to the ``.caffemodel``:

- filters are MATLAB (H, W, in/group, out); Caffe's are (out, in/group, H, W);
- conv1's input channels are flipped from BGR to RGB (and so is the mean image);
- fully connected layers become convolutions: fc6 is a 6×6×256×4096 filter bank, fc7 and fc8
  1×1 ones. Transposing to (out, in, H, W) and flattening gives Caffe's (C, H, W) order.

This module undoes them. Files saved with MATLAB ``-v7.3`` (HDF5) are not readable by SciPy;
re-save them with ``-v7``.

VGG-16 (``imagenet-vgg-verydeep-16.mat``, read with ``network="vgg16"``): its layers
``conv1_1`` … ``fc8`` are renamed to the network's torchvision names (``features.0`` …
``classifier.6``, the network's aliases), its RGB channels are kept (jaxinv's VGG-16 is RGB),
and its pre-processing, the file's ``averageImage`` (reduced to its mean pixel) subtracted
from 0-255 RGB with no scaling, becomes the blobs of the network's ``normalize`` node.

simplenn layout: ``layers`` is a cell (or struct) array of structs with ``name``, ``type`` and
either ``weights = {filters, biases}`` (MatConvNet ≥ beta 12) or ``filters`` / ``biases``
(older). DagNN layout: ``layers`` with ``params = {'conv1f', 'conv1b'}`` and a top-level
``params`` struct array of ``name`` / ``value``.
"""

from __future__ import annotations

import math
import os
import pathlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from jaxinv.errors import JaxinvError
from jaxinv.weights import Blobs

__all__ = ["read_mat", "read_mat_meta", "write_mat"]

_FIX = "use a MatConvNet model saved with MATLAB -v7 (such as imagenet-caffe-ref.mat)"


# ---------------------------------------------------------------------------------------------
# Reading MATLAB structures as loaded by scipy.io.loadmat(struct_as_record=False,
# squeeze_me=False): every value sits in a 2-D array, cells are object arrays.


def _unwrap(value: Any) -> Any:
    """Strip the 1×1 object arrays that wrap every struct and cell element."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.flat[0]
    return value


def _string(value: Any) -> str:
    value = _unwrap(value)
    if isinstance(value, np.ndarray):
        return "".join(str(v) for v in value.flat)
    return str(value)


def _elements(value: Any) -> Iterator[Any]:
    """The structs of a cell array or struct array, in MATLAB's linear order."""
    if isinstance(value, np.ndarray):
        for item in value.flatten(order="F"):
            yield _unwrap(item)
    else:
        yield _unwrap(value)


def _field(struct: Any, name: str) -> Any:
    return _unwrap(getattr(struct, name)) if hasattr(struct, name) else None


def _numeric(value: Any) -> np.ndarray | None:
    value = _unwrap(value)
    if isinstance(value, np.ndarray) and value.dtype != object and value.size > 0:
        return np.asarray(value, dtype=np.float32)
    return None


def _scipy_io() -> Any:
    try:
        import scipy.io
    except ImportError:
        raise JaxinvError("reading .mat files needs SciPy, which is not installed; pip install scipy") from None
    return scipy.io


def _load(path: pathlib.Path) -> dict[str, Any]:
    scipy_io = _scipy_io()

    try:
        contents = scipy_io.loadmat(str(path), struct_as_record=False, squeeze_me=False)
    except NotImplementedError:
        # SciPy raises this for HDF5-based v7.3 files.
        raise JaxinvError(
            f"{path.name!r} is a MATLAB v7.3 (HDF5) file, which SciPy cannot read; in MATLAB run"
            " net = load(file); save(file, '-struct', 'net', '-v7')"
        ) from None
    except (ValueError, TypeError, OSError, EOFError) as exc:
        raise JaxinvError(f"{path.name!r} is not a readable MATLAB .mat file ({exc}); {_FIX}") from None
    contents = {k: v for k, v in contents.items() if not k.startswith("__")}
    # save(file, 'net') instead of save(file, '-struct', 'net') nests everything one level.
    if "layers" not in contents and "net" in contents:
        net = _unwrap(contents["net"])
        contents = {name: getattr(net, name) for name in getattr(net, "_fieldnames", [])}
    if "layers" not in contents:
        raise JaxinvError(f"{path.name!r} has no 'layers' variable, so it is not a MatConvNet model; {_FIX}")
    return contents


# ---------------------------------------------------------------------------------------------
# Layout conversion


def _as_4d(filters: np.ndarray) -> np.ndarray:
    # MATLAB drops trailing singleton dimensions: a conv with one output is H×W×in.
    if filters.ndim > 4:
        raise JaxinvError(f"a filter bank has {filters.ndim} dimensions; {_FIX}")
    return filters.reshape(filters.shape + (1,) * (4 - filters.ndim))


def _to_caffe(name: str, filters: np.ndarray, biases: np.ndarray | None, *, fc: bool,
              flip_rgb: bool) -> list[np.ndarray]:
    """MATLAB (H, W, in, out) filters → Caffe (out, in, H, W), or (out, in·H·W) for fc."""
    weight = np.transpose(_as_4d(filters), (3, 2, 0, 1))
    if flip_rgb:
        weight = weight[:, ::-1]
    if fc:
        weight = weight.reshape(weight.shape[0], -1)
    out = weight.shape[0]
    if biases is None:
        bias = np.zeros(out, np.float32)  # a conv without bias term adds zero
    else:
        bias = biases.reshape(-1)
        if bias.size != out:
            raise JaxinvError(f"layer {name!r} has {bias.size} biases for {out} filters; {_FIX}")
    return [np.ascontiguousarray(weight, np.float32), np.ascontiguousarray(bias, np.float32)]


def _is_fc(name: str, expected: Mapping[str, list[tuple[int, ...]]] | None) -> bool:
    """Caffe InnerProduct layers stored as convs: known from the network or from the name."""
    if expected is not None and name in expected:
        return len(expected[name][0]) == 2
    return name.startswith("fc")


def _simplenn_params(layers: Any) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    for index, layer in enumerate(_elements(layers)):
        name = _string(_field(layer, "name")) if hasattr(layer, "name") else f"layer{index + 1}"
        weights = _field(layer, "weights")
        if isinstance(weights, np.ndarray) and weights.dtype == object:
            values = [_numeric(v) for v in weights.flatten(order="F")]
        elif hasattr(layer, "filters"):
            values = [_numeric(_field(layer, "filters")), _numeric(_field(layer, "biases"))]
        else:
            values = [_numeric(weights)] if weights is not None else []
        if values and values[0] is not None:
            kind = _string(_field(layer, "type")) if hasattr(layer, "type") else "conv"
            if kind not in ("conv", "dagnn.Conv"):
                # bnorm, convt, ... carry weights that are not a Caffe conv/fc layer's.
                raise JaxinvError(f"layer {name!r} of type {kind!r} has weights jaxinv cannot convert; {_FIX}")
            yield name, values[0], values[1] if len(values) > 1 else None


def _dagnn_params(layers: Any, params: Any) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    values = {_string(_field(p, "name")): _numeric(_field(p, "value")) for p in _elements(params)}
    used: set[str] = set()
    for layer in _elements(layers):
        names = [_string(n) for n in _elements(_field(layer, "params"))] if hasattr(layer, "params") else []
        names = [n for n in names if n]
        weight = values.get(names[0]) if names else None
        if weight is not None and weight.ndim >= 2:
            used.update(names)
            yield _string(_field(layer, "name")), weight, values.get(names[1]) if len(names) > 1 else None
    # DagNN files without layer→param links: pair 'conv1f'/'conv1b' or 'conv1_filter'/'conv1_bias'.
    for pname, value in values.items():
        match = re.fullmatch(r"(.+?)(?:f|_filters?|_weights?)", pname)
        if pname in used or value is None or match is None or value.ndim < 2:
            continue
        stem = match.group(1)
        bias = next((values[b] for b in (stem + "b", stem + "_bias", stem + "_biases") if b in values), None)
        yield stem, value, bias


def read_mat(path: str | os.PathLike[str], *, network: str | None = None, to_bgr: bool = True) -> Blobs:
    """Read a MatConvNet model into canonical blobs (Caffe layouts, BGR conv1).

    Args:
      path: a simplenn or DagNN ``.mat`` file saved with ``-v7`` or older.
      network: the jaxinv network it holds, if known; its tabled shapes decide which layers
        are fully connected (otherwise, layers named ``fc*``).
      to_bgr: flip the first convolution's input channels from MatConvNet's RGB back to
        Caffe's BGR (True for models imported from Caffe, the networks jaxinv ships).
    """
    from jaxinv.weights.official import expected_shapes
    from jaxinv.weights.statedict import family_of

    path = pathlib.Path(path)
    contents = _load(path)
    expected = expected_shapes(network) if network else None
    family = family_of(network)
    to_bgr = to_bgr and family != "vgg16"
    if "params" in contents and not isinstance(contents["params"], dict):
        found = list(_dagnn_params(contents["layers"], contents["params"]))
    else:
        found = list(_simplenn_params(contents["layers"]))
    if not found:
        raise JaxinvError(f"{path.name!r} has layers but no weights; {_FIX}")
    blobs: Blobs = {}
    for position, (name, filters, biases) in enumerate(found):
        if name in blobs:
            raise JaxinvError(f"{path.name!r} has two layers named {name!r}; rename one in MATLAB")
        first = position == 0 and _as_4d(filters).shape[2] == 3
        blobs[name] = _to_caffe(name, filters, biases, fc=_is_fc(name, expected),
                                flip_rgb=to_bgr and first)
    if network is not None and family == "vgg16":  # family_of(None) is ''
        return _as_vgg16(blobs, network, _meta_of(contents, to_bgr=False)["average_image"])
    return blobs


#: VGG's published mean pixel (RGB), used when a VGG-16 .mat carries no average image.
VGG_MEAN_RGB = (123.68, 116.779, 103.939)


def _as_vgg16(blobs: Blobs, network: str, average: np.ndarray | None) -> Blobs:
    """MatConvNet VGG-16 layer names -> the network's; its mean pixel, scale 1, as ``normalize``."""
    from jaxinv.networks import spec

    aliases = dict(spec(network).aliases)
    mean = VGG_MEAN_RGB if average is None else average.reshape(-1, 3).mean(axis=0, dtype=np.float64)
    out: Blobs = {"normalize": [np.asarray(mean, np.float32), np.ones(3, np.float32)]}
    out.update({aliases.get(name, name): arrays for name, arrays in blobs.items()})
    return out


def read_mat_meta(path: str | os.PathLike[str], *, to_bgr: bool = True) -> dict[str, Any]:
    """The model's pre-processing data: ``average_image`` (H, W, 3, BGR if ``to_bgr``),
    ``image_size`` and ``classes`` (descriptions), each None when the file lacks it."""
    return _meta_of(_load(pathlib.Path(path)), to_bgr=to_bgr)


def _meta_of(contents: dict[str, Any], *, to_bgr: bool) -> dict[str, Any]:
    meta = _unwrap(contents.get("meta"))
    normalization = _field(meta, "normalization") if meta is not None else _unwrap(contents.get("normalization"))
    classes = _field(meta, "classes") if meta is not None else _unwrap(contents.get("classes"))
    average: np.ndarray | None = (_numeric(_field(normalization, "averageImage")) if normalization is not None
                                  else None)
    if average is not None:
        # A mean pixel may be stored 1x1x3, 1x3 or 3x1; a mean image is H x W x 3.
        height, width = (1, 1) if average.size == 3 else average.shape[:2]
        average = average.reshape(height, width, -1)
        if to_bgr and average.shape[-1] == 3:
            average = average[..., ::-1]
    size = _numeric(_field(normalization, "imageSize")) if normalization is not None else None
    descriptions = None
    if classes is not None and hasattr(classes, "description"):
        descriptions = [_string(d) for d in _elements(_field(classes, "description"))]
    return {
        "average_image": None if average is None else np.ascontiguousarray(average),
        "image_size": None if size is None else tuple(int(v) for v in size.reshape(-1)),
        "classes": descriptions,
    }


# ---------------------------------------------------------------------------------------------
# Writing (tests, and handing weights back to MATLAB users)


def _cell(*values: Any) -> np.ndarray:
    cell = np.empty((1, len(values)), dtype=object)
    for index, value in enumerate(values):
        cell[0, index] = value
    return cell


def _struct_array(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> np.ndarray:
    array = np.empty((1, len(rows)), dtype=[(f, object) for f in fields])
    for index, row in enumerate(rows):
        for f in fields:
            array[0, index][f] = row[f]
    return array


def _to_matlab(weight: np.ndarray, in_channels: int | None) -> np.ndarray:
    """Caffe (out, in, H, W) or fc (out, in·H·W) → MATLAB (H, W, in, out)."""
    weight = np.asarray(weight, np.float32)
    if weight.ndim == 2:
        out, flat = weight.shape
        channels = in_channels or flat
        side = math.isqrt(flat // channels) if flat % channels == 0 else 0
        if side * side * channels != flat:
            raise JaxinvError(f"cannot fold an fc weight of {flat} inputs over {channels} channels into a square")
        weight = weight.reshape(out, channels, side, side)
    return np.transpose(weight, (2, 3, 1, 0))


def write_mat(blobs: Mapping[str, list[np.ndarray]], path: str | os.PathLike[str], *,
              style: str = "weights", to_rgb: bool = True,
              average_image: np.ndarray | None = None) -> pathlib.Path:
    """Write canonical blobs as a MatConvNet model, atomically (inverse of :func:`read_mat`).

    Args:
      style: ``"weights"`` (simplenn, ``weights = {filters, biases}``), ``"filters"``
        (older simplenn fields) or ``"dagnn"`` (``params`` named ``<layer>f`` / ``<layer>b``).
      to_rgb: flip the first layer's input channels to RGB as MatConvNet's importer does.
      average_image: (H, W, 3) BGR mean, stored RGB in ``meta.normalization.averageImage``.

    Each weight layer gets a ReLU after it, so the file looks like a real network to readers.
    fc weights are folded into square filters over the previous layer's output channels.
    """
    from jaxinv.weights.cache import atomic_path

    scipy_io = _scipy_io()

    if style not in ("weights", "filters", "dagnn"):
        raise JaxinvError(f"unknown .mat style {style!r}; use 'weights', 'filters' or 'dagnn'")
    layers: list[dict[str, Any]] = []
    params: list[dict[str, Any]] = []
    previous_out: int | None = None
    for position, (name, arrays) in enumerate(blobs.items()):
        weight = np.asarray(arrays[0], np.float32)
        if position == 0 and to_rgb and weight.ndim == 4 and weight.shape[1] == 3:
            weight = weight[:, ::-1]
        filters = _to_matlab(weight, previous_out)
        biases = np.asarray(arrays[1], np.float32).reshape(1, -1)
        previous_out = weight.shape[0]
        if style == "weights":
            layers.append({"name": name, "type": "conv", "weights": _cell(filters, biases)})
        elif style == "filters":
            layers.append({"name": name, "type": "conv", "filters": filters, "biases": biases})
        else:
            layers.append({"name": name, "type": "dagnn.Conv", "params": _cell(name + "f", name + "b")})
            params += [{"name": name + "f", "value": filters}, {"name": name + "b", "value": biases}]
        relu: dict[str, Any] = {"name": f"relu_{name}", "type": "relu"}
        if style == "dagnn":
            relu = {"name": relu["name"], "type": "dagnn.ReLU", "params": np.empty((0, 0), dtype=object)}
        else:
            relu["weights"] = np.empty((0, 0), dtype=object)
        layers.append(relu)
    contents: dict[str, Any] = {}
    if style == "dagnn":
        # DagNN keeps struct arrays (one struct, N elements), not cells of structs.
        contents["layers"] = _struct_array(layers, ("name", "type", "params"))
        contents["params"] = _struct_array(params, ("name", "value"))
    else:
        contents["layers"] = _cell(*layers)
    meta: dict[str, Any] = {"normalization": {"imageSize": np.array([[227.0, 227.0, 3.0]])}}
    if average_image is not None:
        mean = np.asarray(average_image, np.float32)
        meta["normalization"]["averageImage"] = mean[..., ::-1] if to_rgb else mean
    contents["meta"] = meta
    path = pathlib.Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            scipy_io.savemat(handle, contents, format="5", do_compression=False)
    return path
