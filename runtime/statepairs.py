"""Which graph inputs of a bare third-party ``.onnx`` are state fed back from which outputs.

Three rules, tried in this order (the order that found every pair of 25 catalogued third-party
models with no false pair); each pair records the rule that found it:

``name``   naming conventions, gated by dtype and shape: ``state -> stateN``, ``h -> hn``,
           ``h0 -> hN``, ``h -> h_out``/``_new``/``_next``, ``next_x``/``new_x``/``out_x``,
           ``in_cache0 -> out_cache0``, ``initial_h -> Y_h``, ``past* -> present*``.
           Never ``input -> output``: silero's data I/O is named exactly that.
``trace``  the input reaches an LSTM/GRU/RNN node's ``initial_h``/``initial_c`` and that node's
           ``Y_h``/``Y_c`` reaches the output, through shape-only ops (converters' unnamed I/O).
``shape``  (weak) a leftover input and output, neither the graph's first, whose dtype and shape
           match each other and nothing else, and (when the graph can be read) where the output
           depends on the input. The first input and output are data: data in/out often share a shape.

Shapes are compared with wildcards: declared output shapes are often symbolic or rank-only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import BundleError
from .graphscan import RECURRENT_OPS, GraphScan, Node

_SUFFIXES = ("N", "n", "_out", "_new", "_next", ".out", "Out", "_n")
_PREFIXES = ("new_", "next_", "out_", "new", "next")
_PASS_OPS = {
    "Identity",
    "Squeeze",
    "Unsqueeze",
    "Reshape",
    "Slice",
    "Gather",
    "Concat",
    "Transpose",
    "Cast",
    "Split",
    "Expand",
    "Flatten",
}


@dataclass(frozen=True)
class StatePair:
    """A state input, the output that feeds it back, and the rule that paired them."""

    input: str
    output: str
    rule: str


def name_rule(i: str, o: str) -> str | None:
    """The naming convention that links input ``i`` to output ``o``, or None."""
    for suffix in _SUFFIXES:
        if o == i + suffix:
            return f"x -> x{suffix}"
    for prefix in _PREFIXES:
        if o == prefix + i:
            return f"x -> {prefix}x"
    if i.endswith("0") and o in (i[:-1] + "n", i[:-1] + "N", re.sub(r"_?0$", "_out", i)):
        return "x0 -> xn/xN/x_out"
    m = re.fullmatch(r"(.*?)(^|_)in(_|$)(.*)", i)
    if m and o == f"{m.group(1)}{m.group(2)}out{m.group(3)}{m.group(4)}":
        return "*in* -> *out*"
    if i.startswith("initial_") and o == "Y_" + i[len("initial_") :]:
        return "initial_h -> Y_h"
    if i.startswith("past") and o == "present" + i[len("past") :]:
        return "past* -> present*"
    return None


def compatible(a: Any, b: Any) -> bool:
    """Same dtype and rank, and equal wherever both dims are fixed (an unknown rank matches any)."""
    if a.type != b.type:
        return False
    if a.shape is None or b.shape is None:
        return True
    if len(a.shape) != len(b.shape):
        return False
    return all(
        not (isinstance(x, int) and isinstance(y, int)) or x == y
        for x, y in zip(a.shape, b.shape, strict=True)
    )


def infer_state_pairs(
    inputs: list[Any], outputs: list[Any], graph: GraphScan | None = None
) -> list[StatePair]:
    """State pairs of a bare graph. ``inputs``/``outputs``: onnxruntime NodeArgs (``name``, ``shape``,
    ``type``) of the inputs that are not pinned constants; ``graph``: its scanned nodes, when read.

    Where the rules disagree, the trace wins: a name pair that shares an input or output with a
    different traced pair is dropped (outputs named ``hn``/``cn`` that carry ``Y_c``/``Y_h``), and
    the traced pair's rule says which name pairing it overrode. Two traced pairings of one input or
    output are refused (:class:`BundleError` naming both)."""
    by_in, by_out = {a.name: a for a in inputs}, {a.name: a for a in outputs}

    def fits(pairs: Iterator[StatePair]) -> list[StatePair]:
        return [p for p in pairs if compatible(by_in[p.input], by_out[p.output])]

    traced = _one_to_one(fits(_by_trace(inputs, outputs, graph, inputs, outputs)))
    named = fits(_by_name(inputs, outputs, graph, inputs, outputs))
    found, taken = [], set()
    for pair in named:
        rival = next((t for t in traced if _clash(t, pair)), None)
        if rival is None and pair.input not in taken and pair.output not in taken:
            found.append(pair)
            taken |= {pair.input, pair.output}
    for pair in traced:
        if pair.input not in taken and pair.output not in taken:
            overrode = [f"{n.input} -> {n.output}" for n in named if _clash(pair, n)]
            note = f" (over the name rule's {', '.join(overrode)})" if overrode else ""
            found.append(StatePair(pair.input, pair.output, pair.rule + note))
            taken |= {pair.input, pair.output}
    free_in = [a for a in inputs if a.name not in taken]
    free_out = [a for a in outputs if a.name not in taken]
    found += fits(_by_shape(free_in, free_out, graph, inputs, outputs))
    return found


def _clash(a: StatePair, b: StatePair) -> bool:
    """Two different pairings that share an input or an output."""
    return (a.input, a.output) != (b.input, b.output) and (a.input == b.input or a.output == b.output)


def _one_to_one(pairs: list[StatePair]) -> list[StatePair]:
    """Traced pairs without repeats; two traces pairing one input or output differently are refused."""
    unique: list[StatePair] = []
    for pair in pairs:
        if any((q.input, q.output) == (pair.input, pair.output) for q in unique):
            continue
        other = next((q for q in unique if _clash(q, pair)), None)
        if other is not None:
            raise BundleError(
                f"state pairs disagree: {other.rule} pairs {other.input} -> {other.output}, {pair.rule} pairs "
                f"{pair.input} -> {pair.output}; expected one pairing per state input and output (pass "
                "state_map to say which)"
            )
        unique.append(pair)
    return unique


def _by_name(
    free_in: list[Any], free_out: list[Any], graph: GraphScan | None, inputs: list[Any], outputs: list[Any]
) -> Iterator[StatePair]:
    used: set[str] = set()
    for i in free_in:
        for o in free_out:
            rule = name_rule(i.name, o.name)
            if rule and o.name not in used and compatible(i, o):
                used.add(o.name)
                yield StatePair(i.name, o.name, f"name: {rule}")
                break


def _by_trace(
    free_in: list[Any], free_out: list[Any], graph: GraphScan | None, inputs: list[Any], outputs: list[Any]
) -> Iterator[StatePair]:
    if graph is None:
        return
    ins, outs = {a.name for a in free_in}, {a.name for a in free_out}
    producer = {o: n for n in graph.nodes for o in n.outputs}
    consumers: dict[str, list[Node]] = {}
    for n in graph.nodes:
        for name in n.inputs:
            consumers.setdefault(name, []).append(n)
    for node in graph.nodes:
        if node.op_type not in RECURRENT_OPS:
            continue
        slots = [(5, 1, "initial_h -> Y_h")] + (
            [(6, 2, "initial_c -> Y_c")] if node.op_type == "LSTM" else []
        )
        for slot_in, slot_out, what in slots:
            if len(node.inputs) <= slot_in or len(node.outputs) <= slot_out:
                continue
            sources = _back(node.inputs[slot_in], producer, ins, set())
            sinks = _forward(node.outputs[slot_out], consumers, outs, set())
            if len(sources) == 1 and len(sinks) == 1:
                yield StatePair(sources.pop(), sinks.pop(), f"trace: {node.op_type} {what}")


def _back(name: str, producer: dict[str, Node], inputs: set[str], seen: set[str]) -> set[str]:
    if not name or name in seen:
        return set()
    seen.add(name)
    if name in inputs:
        return {name}
    node = producer.get(name)
    if node is None or node.op_type not in _PASS_OPS:
        return set()
    reads = node.inputs if node.op_type == "Concat" else node.inputs[:1]
    return set().union(*(_back(r, producer, inputs, seen) for r in reads)) if reads else set()


def _forward(name: str, consumers: dict[str, list[Node]], outputs: set[str], seen: set[str]) -> set[str]:
    if not name or name in seen:
        return set()
    seen.add(name)
    found = {name} if name in outputs else set()
    for node in consumers.get(name, []):
        if node.op_type in _PASS_OPS:
            for out in node.outputs:
                found |= _forward(out, consumers, outputs, seen)
    return found


def _by_shape(
    free_in: list[Any], free_out: list[Any], graph: GraphScan | None, inputs: list[Any], outputs: list[Any]
) -> Iterator[StatePair]:
    first_in, first_out = inputs[0].name if inputs else None, outputs[0].name if outputs else None
    left_in = [a for a in free_in if a.name != first_in and a.shape is not None and len(a.shape) >= 2]
    left_out = [a for a in free_out if a.name != first_out]
    depends = _dependencies(graph) if graph is not None else None
    for i in left_in:
        matches = [o for o in left_out if compatible(i, o)]
        if len(matches) != 1 or sum(compatible(j, matches[0]) for j in left_in) != 1:
            continue
        o = matches[0]
        if depends is not None and i.name not in depends.get(o.name, {i.name}):
            continue
        yield StatePair(i.name, o.name, "shape: the only input and output of this dtype and shape")


def _dependencies(graph: GraphScan) -> dict[str, set[str]]:
    """Each value -> the graph inputs it is computed from (a node holding subgraphs may read any)."""
    inputs = set(graph.inputs) - graph.initializers
    depends: dict[str, set[str]] = {name: {name} for name in inputs}
    for node in graph.nodes:
        reads = set(inputs) if node.subgraphs else set()
        for name in node.inputs:
            reads |= depends.get(name, set())
        for out in node.outputs:
            depends[out] = reads
    return depends
