"""Read an ONNX graph the way edgernn cares about it: recurrent nodes, loops, dims, weights.

Used by ``edgernn inspect`` and by export's graph requirements, so both see the same facts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import onnx
from onnx import AttributeProto, TensorProto

from edgernn.runtime.errors import BundleError
from edgernn.runtime.modelfile import ORT_FORMAT, read_model

RECURRENT_OPS = ("LSTM", "GRU", "RNN", "DynamicQuantizeLSTM")
LOOP_OPS = ("Loop", "Scan")
QUANTIZED_OPS = (
    "DynamicQuantizeLSTM",
    "MatMulInteger",
    "DynamicQuantizeLinear",
    "DynamicQuantizeMatMul",
    "MatMulIntegerToFloat",
    "QLinearMatMul",
    "QuantizeLinear",
    "DequantizeLinear",
    "QGemm",
)


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: name, element type and dims (ints or symbolic names)."""

    name: str
    dtype: str
    dims: tuple[int | str, ...]


@dataclass(frozen=True)
class RecurrentNode:
    """One LSTM/GRU/RNN node; ``graph`` is ``main`` or the path of the subgraph holding it."""

    name: str
    op_type: str
    domain: str
    direction: str
    hidden_size: int | None
    layout: int
    graph: str
    has_sequence_lens: bool
    activations: tuple[str, ...] = ()  # as the node names them; () means the op's defaults


@dataclass(frozen=True)
class WeightStats:
    """Initializers of one element type: how many and how many bytes."""

    dtype: str
    count: int
    size_bytes: int


@dataclass(frozen=True)
class GraphSummary:
    """What ``inspect`` reports about one model file."""

    ir_version: int
    producer: str
    opsets: dict[str, int]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    op_counts: dict[str, int]
    recurrent: tuple[RecurrentNode, ...]
    loop_scan_count: int
    weights: tuple[WeightStats, ...]
    quantized_ops: dict[str, int]
    quantization: str
    metadata: dict[str, str]
    external_data: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_model(path: str | Path) -> onnx.ModelProto:
    """Parse an ONNX file from bytes read once, without following external data, then run
    ``onnx.checker`` on it.

    :class:`BundleError` if it is not ONNX, fails the checker, or keeps external data outside its
    folder (refused before anything opens that data)."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: expected an ONNX file, found no such file")
    model_bytes = read_model(path)
    if model_bytes.format == ORT_FORMAT:
        raise BundleError(f"{path}: an ORT-format model; inspect reads ONNX (protobuf) models")
    try:
        model = onnx.load_from_string(model_bytes.data)
    except Exception as err:  # protobuf raises DecodeError and others; all mean "not ONNX"
        raise BundleError(
            f"{path}: expected an ONNX model, could not parse it ({type(err).__name__})"
        ) from None
    if not model.HasField("graph") or not model.graph.node:
        raise BundleError(f"{path}: expected an ONNX model with a graph, found an empty one")
    try:
        onnx.checker.check_model(_inlined(model, dict(model_bytes.external)))
    except (onnx.checker.ValidationError, ValueError) as err:  # ValueError: a garbled offset/length
        raise BundleError(f"{path}: fails the ONNX checker: {' '.join(str(err).split())}") from None
    return model


def _inlined(model: onnx.ModelProto, external: dict[str, bytes]) -> onnx.ModelProto:
    """A copy of ``model`` whose external initializers carry the bytes that were read, so the
    checker never looks for files (it would resolve them against the working directory)."""
    if not external:
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for tensor in copy.graph.initializer:
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in tensor.external_data}
        blob = external.get(info.get("location", ""), b"")
        offset = int(info.get("offset", 0))
        length = int(info.get("length", len(blob) - offset))
        del tensor.external_data[:]
        tensor.data_location = TensorProto.DEFAULT
        tensor.raw_data = blob[offset : offset + length]
    return copy


def _dtype(elem_type: int) -> str:
    return TensorProto.DataType.Name(elem_type).lower() if elem_type else "undefined"


def _tensor_info(value: onnx.ValueInfoProto) -> TensorInfo:
    tensor = value.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim)
    return TensorInfo(value.name, _dtype(tensor.elem_type), dims)


def iter_graphs(graph: onnx.GraphProto, path: str = "main"):
    """Yield ``(path, graph)`` for ``graph`` and every subgraph (If/Loop/Scan bodies), depth first."""
    yield path, graph
    for node in graph.node:
        for attr in node.attribute:
            where = f"{path}/{node.name or node.op_type}.{attr.name}"
            if attr.type == AttributeProto.GRAPH:
                yield from iter_graphs(attr.g, where)
            elif attr.type == AttributeProto.GRAPHS:
                for i, sub in enumerate(attr.graphs):
                    yield from iter_graphs(sub, f"{where}[{i}]")


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _tensor_bytes(t: TensorProto) -> int:
    if t.raw_data:
        return len(t.raw_data)
    count = 1
    for d in t.dims:
        count *= d
    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    except (KeyError, TypeError):
        itemsize = 0
    return count * itemsize


def summarize(model: onnx.ModelProto) -> GraphSummary:
    """Collect inputs/outputs, op histogram (subgraphs included), recurrent nodes and weights."""
    ops: Counter[str] = Counter()
    recurrent = []
    weights: dict[str, list[int]] = {}
    external = False
    for path, graph in iter_graphs(model.graph):
        for t in graph.initializer:
            stats = weights.setdefault(_dtype(t.data_type), [0, 0])
            stats[0] += 1
            stats[1] += _tensor_bytes(t)
            external |= t.data_location == TensorProto.EXTERNAL
        for node in graph.node:
            ops[node.op_type] += 1
            if node.op_type in RECURRENT_OPS:
                recurrent.append(
                    RecurrentNode(
                        name=node.name,
                        op_type=node.op_type,
                        domain=node.domain or "ai.onnx",
                        direction=_attr(node, "direction", "forward"),
                        hidden_size=_attr(node, "hidden_size", None),
                        layout=_attr(node, "layout", 0),
                        graph=path,
                        has_sequence_lens=len(node.input) > 4 and bool(node.input[4]),
                        activations=tuple(
                            a.decode() if isinstance(a, bytes) else a for a in _attr(node, "activations", [])
                        ),
                    )
                )
    quantized = {op: n for op, n in sorted(ops.items()) if op in QUANTIZED_OPS}
    return GraphSummary(
        ir_version=model.ir_version,
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        opsets={(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        inputs=tuple(_tensor_info(v) for v in model.graph.input),
        outputs=tuple(_tensor_info(v) for v in model.graph.output),
        op_counts=dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        recurrent=tuple(recurrent),
        loop_scan_count=sum(ops[op] for op in LOOP_OPS),
        weights=tuple(WeightStats(k, v[0], v[1]) for k, v in sorted(weights.items())),
        quantized_ops=quantized,
        quantization=_quantization_kind(quantized, weights),
        metadata={p.key: p.value for p in model.metadata_props},
        external_data=external,
    )


def _quantization_kind(quantized: dict[str, int], weights: dict[str, list[int]]) -> str:
    if "QuantizeLinear" in quantized or "DequantizeLinear" in quantized:
        return "int8 static (QDQ)"
    if quantized:
        return "int8 dynamic"
    if "float16" in weights:
        return "fp16"
    return "none"
