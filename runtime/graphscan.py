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

from .modelfile import _Corrupt, _fields

RECURRENT_OPS = ("LSTM", "GRU", "RNN")
_MODEL_GRAPH = 7
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 1, 5, 11, 12
_NODE_INPUT, _NODE_OUTPUT, _NODE_OP_TYPE, _NODE_ATTRIBUTE, _NODE_DOMAIN = 1, 2, 4, 5, 7
_ATTR_NAME, _ATTR_INT, _ATTR_STRING, _ATTR_GRAPH, _ATTR_GRAPHS = 1, 3, 4, 6, 11
_TENSOR_NAME = 8
_VALUE_NAME = 1


@dataclass(frozen=True)
class Node:
    """One node of the main graph; ``subgraphs``: it holds graphs (If, Loop, Scan) whose reads of
    outer values this scan does not follow."""

    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    direction: str = "forward"  # LSTM/GRU/RNN only
    subgraphs: bool = False


@dataclass(frozen=True)
class GraphScan:
    """The main graph's nodes, inputs, outputs and initializer names."""

    nodes: tuple[Node, ...] = ()
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    initializers: frozenset[str] = field(default_factory=frozenset)

    @property
    def directions(self) -> set[str]:
        """Directions of the main graph's recurrent nodes (empty when it has none)."""
        return {n.direction for n in self.nodes if n.op_type in RECURRENT_OPS and n.domain in ("", "ai.onnx")}


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


def _node(buf: memoryview, start: int, end: int) -> Node:
    inputs, outputs, op_type, domain, direction, subgraphs = [], [], "", "", "forward", False
    for f, w, lo, hi in _fields(buf, start, end):
        if w != 2:
            continue
        text = bytes(buf[lo:hi]) if f != _NODE_ATTRIBUTE else b""
        if f == _NODE_INPUT:
            inputs.append(text.decode())
        elif f == _NODE_OUTPUT:
            outputs.append(text.decode())
        elif f == _NODE_OP_TYPE:
            op_type = text.decode()
        elif f == _NODE_DOMAIN:
            domain = text.decode()
        elif f == _NODE_ATTRIBUTE:
            name, value, graph = _attribute(buf, lo, hi)
            subgraphs |= graph
            if name == "direction" and value is not None:
                direction = value
    return Node(op_type, domain, tuple(inputs), tuple(outputs), direction, subgraphs)


def _attribute(buf: memoryview, start: int, end: int) -> tuple[str, str | None, bool]:
    """(name, string value or None, whether it holds a graph)."""
    name, value, graph = "", None, False
    for f, w, lo, hi in _fields(buf, start, end):
        if f == _ATTR_NAME and w == 2:
            name = bytes(buf[lo:hi]).decode()
        elif f == _ATTR_STRING and w == 2:
            value = bytes(buf[lo:hi]).decode()
        elif f in (_ATTR_GRAPH, _ATTR_GRAPHS):
            graph = True
    return name, value, graph


def _first_string(buf: memoryview, start: int, end: int, number: int) -> str:
    for f, w, lo, hi in _fields(buf, start, end):
        if f == number and w == 2:
            return bytes(buf[lo:hi]).decode()
    return ""
