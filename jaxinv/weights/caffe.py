"""Caffe ``.caffemodel`` reader and writer, and a deploy ``.prototxt`` parser; no caffe needed.

A ``.caffemodel`` is a binary ``NetParameter`` protobuf (``src/caffe/proto/caffe.proto``). The
few messages used are decoded here from the protobuf wire format directly:

- current format: ``NetParameter.layer`` (field 100) of ``LayerParameter`` {name 1, type 2
  (string), blobs 7};
- V1 format: ``NetParameter.layers`` (field 2) of ``V1LayerParameter`` {name 4, type 5 (enum),
  blobs 6}, or the V0 ``V1LayerParameter.layer`` (field 1) {name 1, type 2 (string), blobs 50};
- ``BlobProto`` {num 1, channels 2, height 3, width 4 (legacy 4-D dims), data 5 (float32,
  packed or not), shape 7 (``BlobShape.dim`` 1, int64), double_data 8}.

Every read is bounds-checked: a truncated or foreign file raises `JaxinvError`, never reads
past the end of its buffer. Blobs come back canonical (see `jaxinv.weights`): convolution
weights (out, in/group, kh, kw), inner-product weights (out, in), biases 1-D.
"""

from __future__ import annotations

import math
import pathlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from jaxinv.errors import JaxinvError

__all__ = ["read_caffemodel", "write_caffemodel", "read_prototxt", "prototxt_layers",
           "V1_TYPES"]

Blobs = dict[str, list[np.ndarray]]

#: ``V1LayerParameter.LayerType`` values of caffe.proto (the ones the model zoo uses).
V1_TYPES = {
    "Concat": 3, "Convolution": 4, "Data": 5, "Dropout": 6, "Flatten": 8, "InnerProduct": 14,
    "LRN": 15, "Pooling": 17, "ReLU": 18, "Sigmoid": 19, "Softmax": 20, "SoftmaxWithLoss": 21,
    "Split": 22, "TanH": 23, "Eltwise": 25, "Accuracy": 1, "Deconvolution": 39,
}
_V1_NAMES = {v: k for k, v in V1_TYPES.items()}


class _Truncated(Exception):
    """The buffer ended inside a field, or a field is malformed."""


# --------------------------------------------------------------------------- wire format


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= end or shift > 63:
            raise _Truncated("varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of a message in ``buf[start:end]``.

    Values: int (varint), (start, end) (length-delimited), int (fixed32/fixed64, raw bits).
    """
    pos = start
    value: int | tuple[int, int]
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise _Truncated("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise _Truncated("length-delimited field past the end")
            value, pos = (pos, pos + length), pos + length
        elif wire == 5:
            if pos + 4 > end:
                raise _Truncated("fixed32")
            value, pos = (pos, pos + 4), pos + 4
        elif wire == 1:
            if pos + 8 > end:
                raise _Truncated("fixed64")
            value, pos = (pos, pos + 8), pos + 8
        else:  # groups (3, 4) and 6, 7 never occur in caffe.proto
            raise _Truncated(f"wire type {wire}")
        yield field, wire, value


def _string(buf: memoryview, span: tuple[int, int]) -> str:
    return bytes(buf[span[0]:span[1]]).decode("utf-8", errors="replace")


def _packed_varints(buf: memoryview, span: tuple[int, int]) -> list[int]:
    out, pos = [], span[0]
    while pos < span[1]:
        value, pos = _varint(buf, pos, span[1])
        out.append(value)
    return out


def _blob(buf: memoryview, start: int, end: int) -> np.ndarray:
    legacy = {1: 1, 2: 1, 3: 1, 4: 1}
    shape: list[int] | None = None
    chunks: list[np.ndarray] = []
    for field, wire, value in _fields(buf, start, end):
        if field in legacy and wire == 0:
            legacy[field] = value
        elif field == 7 and wire == 2:
            shape = []
            for f, w, v in _fields(buf, *value):
                if f == 1 and w == 2:
                    shape.extend(_packed_varints(buf, v))
                elif f == 1 and w == 0:
                    shape.append(v)
        elif field in (5, 8) and wire in (2, 5, 1):
            dtype = "<f4" if field == 5 else "<f8"
            lo, hi = value
            if (hi - lo) % np.dtype(dtype).itemsize:
                raise _Truncated("float data of a length that is not a multiple of its size")
            chunks.append(np.frombuffer(buf[lo:hi], dtype).astype(np.float32))
    dims = tuple(shape) if shape is not None else tuple(legacy[k] for k in (1, 2, 3, 4))
    data = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if data.size != math.prod(dims):
        raise _Truncated(f"blob of shape {dims} holds {data.size} values")
    return data.reshape(dims)


def _canonical(kind: str, blobs: list[np.ndarray]) -> list[np.ndarray]:
    """Drop the leading singleton dims the V1 format pads to 4-D; biases 1-D."""
    out = []
    for i, b in enumerate(blobs):
        if i == 0 and kind == "InnerProduct":
            b = b.reshape(b.shape[-2], b.shape[-1]) if b.ndim > 2 else b
        elif i == 0 and kind in ("Convolution", "Deconvolution") and b.ndim < 4:
            b = b.reshape((1,) * (4 - b.ndim) + b.shape)
        elif i == 1:
            b = b.reshape(-1)
        out.append(np.ascontiguousarray(b, np.float32))
    return out


_V0_TYPES = {"conv": "Convolution", "innerproduct": "InnerProduct"}


def _layer(buf: memoryview, span: tuple[int, int], fields: tuple[int, int, int],
           v1: bool) -> tuple[str, str, list[np.ndarray]]:
    name_f, type_f, blob_f = fields
    name, kind, blobs = "", "", []
    for f, w, v in _fields(buf, *span):
        if f == name_f and w == 2:
            name = _string(buf, v)
        elif f == type_f and w == 0 and v1:
            kind = _V1_NAMES.get(v, str(v))
        elif f == type_f and w == 2:
            kind = _string(buf, v)
            kind = _V0_TYPES.get(kind, kind)
        elif f == blob_f and w == 2:
            blobs.append(_blob(buf, *v))
        elif v1 and f == 1 and w == 2 and not blobs:
            # V0 (pre-2014) layer nested in a V1 one: {name 1, type 2 (string), blobs 50}
            name0, kind0, blobs0 = _layer(buf, v, (1, 2, 50), False)
            name, kind, blobs = name or name0, kind or kind0, blobs0
    return name, kind, blobs


def _layers(buf: memoryview) -> Iterator[tuple[str, str, list[np.ndarray]]]:
    """(name, type, blobs) of each layer, either format."""
    for field, wire, value in _fields(buf, 0, len(buf)):
        if wire == 2 and field == 100:
            yield _layer(buf, value, (1, 2, 7), False)
        elif wire == 2 and field == 2:
            yield _layer(buf, value, (4, 5, 6), True)


# --------------------------------------------------------------------------- reader


def read_caffemodel(path: str | pathlib.Path, *,
                    prototxt: str | pathlib.Path | None = None) -> Blobs:
    """Canonical blobs of a ``.caffemodel`` (current or V1 format).

    With ``prototxt`` (the deploy net), also check that each Convolution / InnerProduct layer
    of the prototxt has weights whose output count and kernel size match it.
    """
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JaxinvError(f"cannot read {str(path)!r} ({exc.strerror}); check the path") from None
    buf = memoryview(data)
    blobs: Blobs = {}
    try:
        for name, kind, layer_blobs in _layers(buf):
            if layer_blobs:
                blobs[name] = _canonical(kind, layer_blobs)
    except _Truncated as exc:
        raise JaxinvError(
            f"{path.name} is not a valid Caffe model ({exc}): the file is truncated or of"
            " another type; download the .caffemodel again") from None
    if not blobs:
        raise JaxinvError(
            f"{path.name} holds no Caffe layers with weights: it is not a .caffemodel (or is"
            " empty); pass the binary .caffemodel, not the prototxt or another file")
    if prototxt is not None:
        _check_against_prototxt(blobs, prototxt_layers(prototxt), path.name)
    return blobs


def _check_against_prototxt(blobs: Blobs, layers: list[dict[str, Any]], model: str) -> None:
    for layer in layers:
        kind = layer.get("type")
        params = layer.get("convolution_param") or layer.get("inner_product_param")
        if kind not in ("Convolution", "InnerProduct", "CONVOLUTION", "INNER_PRODUCT") or (
                params is None):
            continue
        name = layer.get("name")
        if name not in blobs:
            raise JaxinvError(
                f"{model} has no weights for layer {name!r} of the prototxt; use the"
                " .caffemodel that belongs to this prototxt")
        weight = blobs[name][0]
        num_output = int(params.get("num_output", weight.shape[0]))
        if weight.shape[0] != num_output:
            raise JaxinvError(
                f"{model} layer {name!r}: {weight.shape[0]} outputs, the prototxt says"
                f" {num_output}; use the .caffemodel that belongs to this prototxt")
        kernel = params.get("kernel_size")
        if kernel is not None and weight.ndim == 4 and weight.shape[2:] != (int(kernel),) * 2:
            raise JaxinvError(
                f"{model} layer {name!r}: kernel {weight.shape[2:]}, the prototxt says"
                f" {kernel}; use the .caffemodel that belongs to this prototxt")


# --------------------------------------------------------------------------- prototxt

_TOKEN = re.compile(r'\s*(?:#[^\n]*\n?\s*)*(?:("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|([{}:])|'
                    r'([^\s{}:#"\']+))')


def _tokens(text: str) -> Iterator[str]:
    pos = 0
    while True:
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            rest = text[pos:].strip()
            if rest and not rest.startswith("#"):
                raise JaxinvError(f"prototxt syntax error near {rest[:30]!r}; check the file")
            return
        pos = m.end()
        yield m.group(1) or m.group(2) or m.group(3)


def _scalar(tok: str) -> Any:
    if tok[0] in "\"'":
        return tok[1:-1].encode().decode("unicode_escape")
    for cast in (int, float):
        try:
            return cast(tok)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(tok, tok)


def _parse(tokens: list[str], pos: int, closing: bool) -> tuple[dict[str, Any], int]:
    """A text-format message: ``{key: [values]}`` (a repeated key keeps every value)."""
    out: dict[str, Any] = {}
    while pos < len(tokens):
        key = tokens[pos]
        if key == "}":
            if not closing:
                raise JaxinvError("prototxt has an unmatched '}'; check the file")
            return out, pos + 1
        pos += 1
        if pos < len(tokens) and tokens[pos] == ":":
            pos += 1
        if pos >= len(tokens):
            raise JaxinvError(f"prototxt ends after {key!r}; the file is truncated")
        if tokens[pos] == "{":
            value, pos = _parse(tokens, pos + 1, True)
        else:
            value, pos = _scalar(tokens[pos]), pos + 1
        out.setdefault(key, []).append(value)
    if closing:
        raise JaxinvError("prototxt ends inside a '{ ... }' block; the file is truncated")
    return out, pos


def _flatten(message: dict[str, Any], repeated: Sequence[str] = ("bottom", "top", "dim")) -> dict[str, Any]:
    out = {}
    for k, values in message.items():
        values = [_flatten(v) if isinstance(v, dict) else v for v in values]
        out[k] = values if k in repeated or len(values) > 1 else values[0]
    return out


def read_prototxt(path_or_text: str | pathlib.Path) -> dict[str, Any]:
    """Parse a text-format ``NetParameter`` into nested dicts (repeated keys → lists)."""
    text = str(path_or_text)
    if isinstance(path_or_text, pathlib.Path) or ("{" not in text and pathlib.Path(text).is_file()):
        text = pathlib.Path(path_or_text).read_text()
    message, _ = _parse(list(_tokens(text)), 0, False)
    return message


def prototxt_layers(path_or_text: str | pathlib.Path) -> list[dict[str, Any]]:
    """The layers of a deploy prototxt (``layer`` or V1 ``layers``), each a flat dict."""
    message = read_prototxt(path_or_text)
    return [_flatten(layer) for layer in message.get("layer", []) + message.get("layers", [])]


# --------------------------------------------------------------------------- writer


def _enc_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _enc_varint(field << 3 | wire)


def _len_field(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _enc_varint(len(payload)) + payload


def _enc_blob(array: np.ndarray, dims: tuple[int, ...], v1: bool) -> bytes:
    data = np.ascontiguousarray(array, "<f4").tobytes()
    if v1:
        head = b"".join(_key(f, 0) + _enc_varint(d) for f, d in zip((1, 2, 3, 4), dims))
    else:
        head = _len_field(7, _len_field(1, b"".join(_enc_varint(d) for d in dims)))
    return head + _len_field(5, data)


def _v1_dims(kind: str, index: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    if kind == "InnerProduct" and index == 0:
        return (1, 1) + shape[-2:]
    return (1,) * (4 - len(shape)) + shape if len(shape) <= 4 else shape


def write_caffemodel(path: str | pathlib.Path, blobs: Mapping[str, Sequence[np.ndarray]], *,
                     layer_types: Mapping[str, str], v1: bool = False,
                     name: str = "jaxinv") -> pathlib.Path:
    """Write canonical ``blobs`` as a binary ``.caffemodel`` (current format, or V1 with 4-D
    num/channels/height/width blob dims). ``layer_types[name]`` is the Caffe type string."""
    path = pathlib.Path(path)
    parts = [_len_field(1, name.encode())]
    for layer, arrays in blobs.items():
        kind = layer_types[layer]
        if v1:
            body = _len_field(4, layer.encode()) + _key(5, 0) + _enc_varint(V1_TYPES[kind])
            body += b"".join(_len_field(6, _enc_blob(a, _v1_dims(kind, i, np.shape(a)), True))
                             for i, a in enumerate(arrays))
            parts.append(_len_field(2, body))
        else:
            body = _len_field(1, layer.encode()) + _len_field(2, kind.encode())
            body += b"".join(_len_field(7, _enc_blob(a, tuple(np.shape(a)), False))
                             for a in arrays)
            parts.append(_len_field(100, body))
    with open(path, "wb") as f:
        for part in parts:
            f.write(part)
    return path
