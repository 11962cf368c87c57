"""The nodes of a model's main graph, read from the protobuf itself (the runtime never imports onnx).

A bare third-party ``.onnx`` says little through onnxruntime's NodeArgs: names and shapes. To pair
state inputs with outputs where the names say nothing (Keras and Paddle converters), and to refuse
streaming a reverse or bidirectional recurrence, the runtime needs the node list: op type, inputs,
outputs and the ``direction`` of recurrent nodes. This walks the wire format like ``modelfile`` does
and skips every tensor payload.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path

from .modelfile import _Corrupt, _fields, _varint

RECURRENT_OPS = ("LSTM", "GRU", "RNN")
_MODEL_GRAPH = 7
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 1, 5, 11, 12
_NODE_INPUT, _NODE_OUTPUT, _NODE_OP_TYPE, _NODE_ATTRIBUTE, _NODE_DOMAIN = 1, 2, 4, 5, 7
_ATTR_NAME, _ATTR_STRING, _ATTR_GRAPH, _ATTR_INTS, _ATTR_GRAPHS = 1, 4, 6, 8, 11
_TENSOR_NAME = 8
_VALUE_NAME = 1


@dataclass(frozen=True)
class Node:
    """One node of the main graph; ``subgraphs``: it holds graphs (If, Loop, Scan) whose reads of
    outer values this scan does not follow; ``inner_directions``: the directions of the recurrences
    inside those graphs, at any depth."""

    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    direction: str = "forward"  # LSTM/GRU/RNN only
    subgraphs: bool = False
    inner_directions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class GraphScan:
    """The main graph's nodes, inputs, outputs and initializer names."""

    nodes: tuple[Node, ...] = ()
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    initializers: frozenset[str] = field(default_factory=frozenset)

    @property
    def directions(self) -> set[str]:
        """Directions of every recurrence in the model, in the main graph or in any If/Loop/Scan body
        (empty when it has none): a reverse one anywhere means the model cannot stream."""
        found: set[str] = set()
        for node in self.nodes:
            found |= node.inner_directions
            if _recurrent(node.op_type, node.domain):
                found.add(node.direction)
        return found


def _recurrent(op_type: str, domain: str) -> bool:
    if domain in ("", "ai.onnx"):
        return op_type in (*RECURRENT_OPS, "Scan")
    return domain == "com.microsoft" and op_type == "DynamicQuantizeLSTM"


def scan_graph(source: str | os.PathLike[str] | bytes) -> GraphScan | None:
    """The main graph of an ONNX model (its bytes, or the file at a path), or None when it cannot be
    read (an ``.ort`` file, or bytes that do not parse: onnxruntime has loaded the model, so this only
    adds knowledge)."""
    try:
        if isinstance(source, bytes | bytearray | memoryview):
            return _scan(memoryview(source))
        with open(Path(source), "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            view = memoryview(data)
            try:
                return _scan(view)
            finally:
                view.release()
    except (OSError, ValueError, _Corrupt, UnicodeDecodeError):
        return None


def _scan(buf: memoryview) -> GraphScan | None:
    graph = next(
        ((lo, hi) for f, w, lo, hi in _fields(buf, 0, len(buf)) if f == _MODEL_GRAPH and w == 2), None
    )
    if graph is None:
        return None
    inputs: list[str] = []
    outputs: list[str] = []
    nodes, weights = [], set()
    for f, w, lo, hi in _fields(buf, *graph):
        if w != 2:
            continue
        if f == _GRAPH_NODE:
            nodes.append(_node(buf, lo, hi))
        elif f == _GRAPH_INITIALIZER:
            weights.add(_first_string(buf, lo, hi, _TENSOR_NAME))
        elif f in (_GRAPH_INPUT, _GRAPH_OUTPUT):
            (inputs if f == _GRAPH_INPUT else outputs).append(_first_string(buf, lo, hi, _VALUE_NAME))
    return GraphScan(tuple(nodes), tuple(inputs), tuple(outputs), frozenset(weights))


@dataclass
class _Parsed:
    op_type: str = ""
    domain: str = ""
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    direction: str = "forward"
    graphs: list[tuple[int, int]] = field(default_factory=list)  # byte ranges of its subgraphs


def _node(buf: memoryview, start: int, end: int) -> Node:
    node = _parse_node(buf, start, end)
    inner = _inner_directions(buf, node.graphs) if node.graphs else frozenset()
    return Node(
        node.op_type,
        node.domain,
        tuple(node.inputs),
        tuple(node.outputs),
        node.direction,
        bool(node.graphs),
        inner,
    )


def _parse_node(buf: memoryview, start: int, end: int) -> _Parsed:
    node = _Parsed()
    for f, w, lo, hi in _fields(buf, start, end):
        if w != 2:
            continue
        if f == _NODE_ATTRIBUTE:
            _attribute(buf, lo, hi, node)
        elif f == _NODE_INPUT:
            node.inputs.append(bytes(buf[lo:hi]).decode())
        elif f == _NODE_OUTPUT:
            node.outputs.append(bytes(buf[lo:hi]).decode())
        elif f == _NODE_OP_TYPE:
            node.op_type = bytes(buf[lo:hi]).decode()
        elif f == _NODE_DOMAIN:
            node.domain = bytes(buf[lo:hi]).decode()
    return node


def _attribute(buf: memoryview, start: int, end: int, node: _Parsed) -> None:
    """Read one attribute into ``node``: ``direction`` (LSTM/GRU/RNN), ``scan_input_directions``
    (a Scan that reads its sequence from the end is a reverse recurrence) and subgraphs."""
    name, ints = "", []
    value: bytes | None = None
    for f, w, lo, hi in _fields(buf, start, end):
        if f == _ATTR_NAME and w == 2:
            name = bytes(buf[lo:hi]).decode()
        elif f == _ATTR_STRING and w == 2:
            value = bytes(buf[lo:hi])  # any bytes (a Constant's string): decoded only for direction
        elif f in (_ATTR_GRAPH, _ATTR_GRAPHS) and w == 2:
            node.graphs.append((lo, hi))
        elif f == _ATTR_INTS:
            ints.extend(_varints(buf, lo, hi) if w == 2 else [_varint(buf, lo, hi)[0]])
    if name == "direction" and value is not None:
        node.direction = value.decode(errors="replace")
    elif name == "scan_input_directions" and any(ints):
        node.direction = "reverse"


def _varints(buf: memoryview, pos: int, end: int) -> list[int]:
    values = []
    while pos < end:
        value, pos = _varint(buf, pos, end)
        values.append(value)
    return values


def _inner_directions(buf: memoryview, graphs: list[tuple[int, int]]) -> frozenset[str]:
    """Directions of the recurrences in ``graphs`` and every graph nested in them (a stack, not
    recursion: bodies may nest thousands deep)."""
    found, stack = set(), list(graphs)
    while stack:
        for f, w, lo, hi in _fields(buf, *stack.pop()):
            if f == _GRAPH_NODE and w == 2:
                node = _parse_node(buf, lo, hi)
                if _recurrent(node.op_type, node.domain):
                    found.add(node.direction)
                stack.extend(node.graphs)
    return frozenset(found)


def _first_string(buf: memoryview, start: int, end: int, number: int) -> str:
    for f, w, lo, hi in _fields(buf, start, end):
        if f == number and w == 2:
            return bytes(buf[lo:hi]).decode()
    return ""
