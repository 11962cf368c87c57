"""Read a model file once, as bytes, and everything it reads with it; onnxruntime gets those bytes.

A model is read exactly once: the bytes that are hashed against a bundle's manifest are the bytes
onnxruntime parses, so a file swapped between the check and the load is never run. The format is
decided here, by the flatbuffer identifier ``ORTM`` at bytes 4..8 (ORT format) or else protobuf,
and the session is told that decision explicitly, so edgernn and onnxruntime always agree on it.

A protobuf tensor may keep its bytes in another file (``external_data`` with a ``location``). The
runtime cannot import onnx, so this walks the protobuf wire format itself, visiting only the
messages that can hold tensors (graphs, nodes, attributes, functions, sparse tensors). Each
location must be a relative path inside the model's folder (bare files) or a file the bundle lists
with its sha256 (bundles); the file is read here, once, and handed to onnxruntime from memory, so
onnxruntime never opens a path itself. onnxruntime takes files from memory only for the main
graph's initializers, so external data anywhere else (subgraphs, node attributes) is refused.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from .errors import BundleError
from .limits import memory_bytes

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
MODEL_GRAPH, GRAPH_INITIALIZER = 7, 5
TENSOR_NAME, TENSOR_EXTERNAL_DATA, ENTRY_KEY, ENTRY_VALUE = 8, 13, 1, 2
NODE_OP_TYPE = 4
ONNX_FORMAT, ORT_FORMAT = "ONNX", "ORT"  # values of onnxruntime's session.load_model_format
NESTED = (
    "in a subgraph or node attribute, which onnxruntime would read from disk itself; edgernn hands "
    "external data over from memory for the main graph's initializers only"
)
_ORT_FORMAT_ID = b"ORTM"  # flatbuffer file identifier of .ort files, at bytes 4..8


@dataclass(frozen=True)
class ModelBytes:
    """A model file as read once: its bytes, their sha256, its format, and its external files."""

    path: Path
    data: bytes
    sha256: str
    format: str  # ONNX_FORMAT | ORT_FORMAT
    external: tuple[tuple[str, bytes], ...] = ()  # (location as the model spells it, file bytes)


# (model path, tensor name, location) -> (the file to read, its expected sha256 or None)
Resolver = Callable[[Path, str, str], tuple[Path, "str | None"]]


class _Corrupt(Exception):
    def __init__(self, offset: int) -> None:
        self.offset = offset


def model_format(data: bytes | memoryview) -> str:
    """``ORT`` when ``data`` carries the ORT flatbuffer identifier, else ``ONNX`` (protobuf)."""
    return ORT_FORMAT if bytes(data[4:8]) == _ORT_FORMAT_ID else ONNX_FORMAT


def read_regular(path: Path, what: str = "model file") -> bytes:
    """The bytes of ``path``, which must be a regular file that fits in memory (never a FIFO or a
    device, which could block or never end)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise BundleError(f"{path}: could not open the {what} ({err.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BundleError(f"{path}: expected a regular {what}, found something else (a pipe or device)")
        if info.st_size > memory_bytes():
            raise BundleError(f"{path}: {info.st_size} bytes, more than this machine's memory")
        return f.read()


def read_model(
    path: str | os.PathLike[str], *, sha256: str | None = None, resolve: Resolver | None = None
) -> ModelBytes:
    """Read ``path`` once; refuse it (:class:`BundleError`) unless its sha256 is ``sha256`` (when
    given) and every external file it names passes ``resolve`` (default: a relative path inside
    the model's folder) and, where ``resolve`` gives one, matches its sha256."""
    path = Path(path)
    data = read_regular(path)
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise mismatch(path, sha256, digest)
    if not data:
        raise BundleError(f"{path}: expected an ONNX model, found an empty file")
    fmt = model_format(data)
    if fmt == ORT_FORMAT:
        return ModelBytes(path, data, digest, fmt)
    resolve = resolve or inside_folder
    targets: dict[str, tuple[Path, str | None]] = {}
    for name, location in _checked_refs(path, data):
        targets.setdefault(location, resolve(path, name, location))
    external = []
    for location, (target, want) in targets.items():
        blob = read_regular(target, "external data file")
        if want is not None and hashlib.sha256(blob).hexdigest() != want:
            raise mismatch(target, want, hashlib.sha256(blob).hexdigest())
        external.append((location, blob))
    return ModelBytes(path, data, digest, fmt, tuple(external))


def check_model_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Refuse ``path`` (:class:`BundleError`) unless it is an ORT-format model or a well-formed ONNX
    protobuf whose external data is main-graph initializers in files inside its folder; returns
    ``{tensor name: location}``. Reads the external files' names, never their contents."""
    path = Path(path)
    data = read_regular(path)
    if not data:
        raise BundleError(f"{path}: expected an ONNX model, found an empty file")
    if model_format(data) == ORT_FORMAT:
        return {}
    found = {}
    for name, location in _checked_refs(path, data):
        inside_folder(path, name, location)
        found[name] = location
    return found


def model_refs(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{tensor name: location}`` of a model's external data, unchecked (for reports)."""
    path = Path(path)
    data = read_regular(path)
    if model_format(data) == ORT_FORMAT:
        return {}
    return {name: location for name, location, _ in _refs(path, data)}


def op_types(data: bytes) -> set[str]:
    """The op types of every node of an ONNX model's bytes (as :func:`read_model` gives them),
    subgraphs and functions included; empty for an ORT-format model, whose flatbuffer this does not
    read. :class:`BundleError` when the protobuf is corrupt."""
    if model_format(data) == ORT_FORMAT:
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
        raise BundleError(
            f"expected an ONNX model, could not parse it (corrupt at byte {err.offset})"
        ) from None
    finally:
        view.release()


def mismatch(path: Path, want: str, got: str) -> BundleError:
    """The error for a file whose sha256 is not the manifest's."""
    return BundleError(
        f"{path}: sha256 mismatch (manifest {want[:12]}…, file {got[:12]}…); the file was changed after export"
    )


def _checked_refs(path: Path, data: bytes) -> list[tuple[str, str]]:
    """``(tensor name, location)`` of every external reference, each checked by its text; then any
    reference outside the main graph's initializers is refused."""
    refs = _refs(path, data)
    for name, location, _ in refs:
        check_location(path, name, location)
    for name, location, top in refs:
        if not top:
            raise _refuse(path, name, location, NESTED)
    return [(name, location) for name, location, _ in refs]


def _refs(path: Path, data: bytes) -> list[tuple[str, str, bool]]:
    view = memoryview(data)
    try:
        raw = _external_refs(view)
    except _Corrupt as err:
        raise BundleError(
            f"{path}: expected an ONNX model, could not parse it (truncated or corrupt at byte "
            f"{err.offset} of {len(data)})"
        ) from None
    finally:
        view.release()
    refs = []
    for name, location, top in raw:
        try:
            refs.append((name, location.decode("utf-8"), top))
        except UnicodeDecodeError:
            raise _refuse(path, name, location.decode("utf-8", "replace"), "which is not UTF-8") from None
    return refs


def _refuse(path: Path, name: str, location: str, why: str) -> BundleError:
    return BundleError(
        f"{path}: tensor {name!r} keeps its data in external file {location!r}, {why}; expected a "
        f"relative path inside {_folder(path)}"
    )


def _folder(path: Path) -> Path:
    return Path(os.path.realpath(path.absolute().parent))  # loaders resolve from the path as given


def check_location(path: Path, name: str, location: str) -> None:
    """Refuse an empty, absolute or climbing ``location`` (by its text alone, before any lookup)."""
    if not location or "\x00" in location:
        raise _refuse(path, name, location, "an empty or NUL-containing path")
    win = PureWindowsPath(location)
    if PurePosixPath(location).is_absolute() or win.drive or win.root:
        raise _refuse(path, name, location, "an absolute path")
    if ".." in win.parts:  # Windows parsing splits on both / and \
        raise _refuse(path, name, location, "a path that climbs out of the model's folder")


def inside_folder(path: Path, name: str, location: str) -> tuple[Path, None]:
    """The bare-file rule: ``location`` resolves (links followed) inside the model's folder."""
    folder = _folder(path)
    target = Path(os.path.realpath(folder / location))
    if not target.is_relative_to(folder):
        raise _refuse(
            path, name, location, f"which resolves (through a link) to {target}, outside the model's folder"
        )
    return target, None


def _external_refs(buf: memoryview) -> list[tuple[str, bytes, bool]]:
    """``(tensor name, location, in the main graph's initializers)`` for every tensor with external
    data, anywhere in the model."""
    refs: list[tuple[str, bytes, bool]] = []
    stack = [("ModelProto", 0, len(buf), False)]
    while stack:
        kind, start, end, top = stack.pop()
        if kind == "TensorProto":
            name, location = _tensor_location(buf, start, end)
            if location is not None:
                refs.append((name or f"<unnamed at byte {start}>", location, top))
            continue
        children = MESSAGE_FIELDS[kind]
        for field, wire, lo, hi in _fields(buf, start, end):
            if field in children:
                if wire != 2:
                    raise _Corrupt(lo)
                main = (kind == "ModelProto" and field == MODEL_GRAPH) or (top and field == GRAPH_INITIALIZER)
                stack.append((children[field], lo, hi, main))
    refs.reverse()
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


def _fields(buf: memoryview, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
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
