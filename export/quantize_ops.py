"""Make one quantized variant of an fp32 ONNX model with onnxruntime's own tools."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx

from edgernn.runtime.errors import InputError

from .graph import RECURRENT_OPS, summarize

CALIBRATION = ("minmax", "entropy", "percentile")
RECURRENT_FLOAT = ("LSTM", "GRU", "RNN")


def dynamic_int8(src: Path, dst: Path, *, weight_type: str, reduce_range: bool, per_channel: bool) -> None:
    """LSTM -> DynamicQuantizeLSTM and MatMul/Gemm -> MatMulInteger (int8 weights, CPU kernels)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs pre-processing advice at WARNING
    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8 if weight_type == "s8" else QuantType.QUInt8,
        reduce_range=reduce_range,
        per_channel=per_channel,
        op_types_to_quantize=["LSTM", "MatMul", "Gemm"],
    )
    _keep_metadata(src, dst)


def static_int8(
    src: Path, dst: Path, feeds: list[dict[str, np.ndarray]], *, method: str, per_channel: bool
) -> None:
    """QDQ int8 for the heads and projections, calibrated on real data; recurrent ops stay float."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if method not in CALIBRATION:
        raise InputError(f"calibration: expected one of {', '.join(CALIBRATION)}, got {method!r}")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[dict[str, np.ndarray]] = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    logging.getLogger().setLevel(logging.ERROR)
    quantize_static(
        str(src),
        str(dst),
        Reader(),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul", "Gemm", "Conv"],
        per_channel=per_channel,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        calibrate_method={
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }[method],
    )
    _keep_metadata(src, dst)


def fp16(src: Path, dst: Path, *, target: str) -> None:
    """fp16 weights and compute with fp32 I/O. Recurrent ops convert only for CUDA (cuDNN has the
    kernels); for a CPU target they are blocked and stay fp32."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    block = list(RECURRENT_FLOAT) if target == "cpu" else []
    converted = convert_float_to_float16(model, keep_io_types=True, op_block_list=block)
    sort_topologically(converted.graph)  # the converter appends its Casts last; onnx.checker refuses that
    onnx.save(converted, str(dst))
    _keep_metadata(src, dst)


def sort_topologically(graph: onnx.GraphProto) -> None:
    """Reorder ``graph.node`` so that every node comes after the nodes whose outputs it reads
    (including reads from inside its subgraphs), keeping the original order where it is free."""
    nodes = list(graph.node)
    producer = {name: i for i, node in enumerate(nodes) for name in node.output if name}
    order: list[int] = []
    state: dict[int, bool] = {}  # False: being visited, True: placed
    for root in range(len(nodes)):
        stack = [(root, False)]
        while stack:
            i, expanded = stack.pop()
            if expanded:
                state[i] = True
                order.append(i)
            elif i not in state:
                state[i] = False
                stack.append((i, True))
                for name in reversed(_reads(nodes[i])):
                    j = producer.get(name)
                    if j is not None and j not in state:
                        stack.append((j, False))
    del graph.node[:]
    graph.node.extend(nodes[i] for i in order)


def _reads(node: onnx.NodeProto) -> list[str]:
    names = list(node.input)
    for attr in node.attribute:
        for sub in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs):
            names += [name for inner in sub.node for name in _reads(inner)]
    return names


def _keep_metadata(src: Path, dst: Path) -> None:
    """Carry the fp32 model's metadata_props (edgernn's self-description) into the variant."""
    a, b = onnx.load(str(src)), onnx.load(str(dst))
    del b.metadata_props[:]
    b.metadata_props.extend(a.metadata_props)
    onnx.save(b, str(dst))


def describe_ops(path: Path) -> tuple[dict[str, int], list[str], list[str]]:
    """(quantized op counts, recurrent nodes still float as "name (op)", fp16 tensors' dtype summary)."""
    summary = summarize(onnx.load(str(path), load_external_data=False))
    float_recurrent = [f"{n.name} ({n.op_type})" for n in summary.recurrent if n.op_type in RECURRENT_FLOAT]
    dtypes = [f"{w.dtype}×{w.count}" for w in summary.weights]
    return summary.quantized_ops, float_recurrent, dtypes


def is_quantized(path: Path) -> bool:
    """True when ``path`` already holds quantized or fp16 weights."""
    summary = summarize(onnx.load(str(path), load_external_data=False))
    return (
        bool(summary.quantized_ops)
        or summary.quantization == "fp16"
        or any(n.op_type == "DynamicQuantizeLSTM" for n in summary.recurrent if n.op_type in RECURRENT_OPS)
    )
