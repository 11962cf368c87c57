"""Check an ONNX file before any loader opens it: it parses, and its external data stays in its folder.

A tensor may keep its bytes in another file (``external_data`` with a ``location``). Bundles travel
between machines and people, so a model file must not make onnxruntime or onnx read ``../secret``,
``/etc/passwd`` or a symlink that leads out of the model's folder. The runtime cannot import onnx,
so this walks the protobuf wire format itself, visiting only the messages that can hold tensors
(graphs, nodes, attributes, functions, sparse tensors) and skipping every payload it does not need.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from .errors import BundleError

# Field numbers of onnx.proto (a test checks them against onnx's own descriptors).
MESSAGE_FIELDS = {
    "ModelProto": {7: "GraphProto", 20: "TrainingInfoProto", 25: "FunctionProto"},
    "TrainingInfoProto": {1: "GraphProto", 2: "GraphProto"},
    "GraphProto": {1: "NodeProto", 5: "TensorProto", 15: "SparseTensorProto"},
    "FunctionProto": {7: "NodeProto"},
    "NodeProto": {5: "AttributeProto"},
    "AttributeProto": {
        5: "TensorProto",
        6: "GraphProto",
        10: "TensorProto",
        11: "GraphProto",
        22: "SparseTensorProto",
        23: "SparseTensorProto",
    },
    "SparseTensorProto": {1: "TensorProto", 2: "TensorProto"},
}
TENSOR_NAME, TENSOR_EXTERNAL_DATA, ENTRY_KEY, ENTRY_VALUE = 8, 13, 1, 2
NODE_OP_TYPE = 4
_ORT_FORMAT_ID = b"ORTM"  # flatbuffer identifier of .ort files (bytes 4..8); they hold no external data


class _Corrupt(Exception):
    def __init__(self, offset: int) -> None:
        self.offset = offset


def check_model_file(path: str | os.PathLike) -> dict[str, str]:
    """Refuse ``path`` (:class:`BundleError`) unless it is a well-formed ONNX protobuf whose external
    data locations are relative paths inside its folder; returns ``{tensor name: location}``."""
    path = Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise BundleError(f"{path}: expected an ONNX model, found an empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data[4:8] == _ORT_FORMAT_ID:
                return {}
            view = memoryview(data)
            try:
                refs = _external_refs(view)
            except _Corrupt as err:
                raise BundleError(
                    f"{path}: expected an ONNX model, could not parse it (truncated or corrupt at byte "
                    f"{err.offset} of {size})"
                ) from None
            finally:
                view.release()
    folder = Path(os.path.realpath(path.absolute().parent))  # loaders resolve from the path as given
    for name, raw in refs.items():
        _check_location(path, folder, name, raw)
    return {name: raw.decode("utf-8") for name, raw in refs.items()}


def op_types(path: str | os.PathLike) -> set[str]:
    """The op types of every node in an ONNX file, subgraphs and functions included (empty for an
    ``.ort`` file, whose flatbuffer this does not read). Call it on a file :func:`check_model_file`
    accepted."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[4:8] == _ORT_FORMAT_ID:
            return set()
        view = memoryview(data)
        try:
            found, stack = set(), [("ModelProto", 0, len(view))]
            while stack:
                kind, start, end = stack.pop()
                children = MESSAGE_FIELDS.get(kind, {})
                for field, wire, lo, hi in _fields(view, start, end):
                    if kind == "NodeProto" and field == NODE_OP_TYPE and wire == 2:
                        found.add(bytes(view[lo:hi]).decode("utf-8", "replace"))
                    elif field in children and children[field] != "TensorProto" and wire == 2:
                        stack.append((children[field], lo, hi))
            return found
        except _Corrupt as err:
            raise BundleError(f"{path}: could not parse it (corrupt at byte {err.offset})") from None
        finally:
            view.release()


def _check_location(path: Path, folder: Path, name: str, raw: bytes) -> None:
    def refuse(why: str) -> BundleError:
        return BundleError(
            f"{path}: tensor {name!r} keeps its data in external file {raw.decode('utf-8', 'replace')!r}, "
            f"{why}; expected a relative path inside {folder}"
        )

    try:
        location = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise refuse("which is not UTF-8") from None
    if not location or "\x00" in location:
        raise refuse("an empty or NUL-containing path")
    win = PureWindowsPath(location)
    if PurePosixPath(location).is_absolute() or win.drive or win.root:
        raise refuse("an absolute path")
    if ".." in win.parts:  # Windows parsing splits on both / and \
        raise refuse("a path that climbs out of the model's folder")
    target = Path(os.path.realpath(folder / location))
    if not target.is_relative_to(folder):
        raise refuse(f"which resolves (through a link) to {target}, outside the model's folder")


def _external_refs(buf: memoryview) -> dict[str, bytes]:
    """``{tensor name: location}`` for every tensor with external data, anywhere in the model."""
    refs: dict[str, bytes] = {}
    stack = [("ModelProto", 0, len(buf))]
    while stack:
        kind, start, end = stack.pop()
        if kind == "TensorProto":
            name, location = _tensor_location(buf, start, end)
            if location is not None:
                refs[name or f"<unnamed at byte {start}>"] = location
            continue
        children = MESSAGE_FIELDS[kind]
        for field, wire, lo, hi in _fields(buf, start, end):
            if field in children:
                if wire != 2:
                    raise _Corrupt(lo)
                stack.append((children[field], lo, hi))
    return refs


def _tensor_location(buf: memoryview, start: int, end: int) -> tuple[str, bytes | None]:
    name, location = "", None
    for field, wire, lo, hi in _fields(buf, start, end):
        if field in (TENSOR_NAME, TENSOR_EXTERNAL_DATA) and wire != 2:
            raise _Corrupt(lo)
        if field == TENSOR_NAME:
            name = bytes(buf[lo:hi]).decode("utf-8", "replace")
        elif field == TENSOR_EXTERNAL_DATA:
            entry = {f: bytes(buf[a:b]) for f, w, a, b in _fields(buf, lo, hi) if w == 2}
            if entry.get(ENTRY_KEY) == b"location":
                location = entry.get(ENTRY_VALUE, b"")
    return name, location


def _fields(buf: memoryview, pos: int, end: int):
    """Yield ``(field number, wire type, value start, value end)`` for each field in ``buf[pos:end]``."""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, stop = _varint(buf, pos, end)
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            stop = pos + length
        elif wire in (1, 5):
            stop = pos + (8 if wire == 1 else 4)
        else:  # groups (3, 4) do not occur in onnx.proto; 6 and 7 are not wire types
            raise _Corrupt(pos)
        if field == 0 or stop > end:
            raise _Corrupt(pos)
        yield field, wire, pos, stop
        pos = stop


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Corrupt(pos)
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
