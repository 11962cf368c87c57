"""Repairs for two graph errors the dynamo exporter makes in an opset-17 model (seen on real models).

- ``torch.chunk`` becomes an opset-18 ``Split(num_outputs=k)`` inside an opset-17 graph, which
  onnx.checker rejects ("Unrecognized attribute: num_outputs"). Opset 13-17 ``Split`` without a
  ``split`` input cuts equal parts, one per output; where the axis is known and does not divide
  evenly, the sizes ``torch.chunk`` gives (``ceil(d / k)`` each, the rest last) are added as an input.
- ``x.squeeze(d)`` on a dim that is not 1 is a no-op in PyTorch but becomes ``Squeeze(axes=[d])``,
  which ONNX refuses. Axes whose size is known and not 1 are dropped; a Squeeze left with none
  becomes ``Identity``.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper


def repair(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with both repairs applied in place (returned for chaining)."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 18)
    if opset < 18:
        _split_num_outputs(model)
    _squeeze_non_one(model)
    return model


def _known_dims(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    """Each value's dims as shape inference sees them (None where symbolic or unknown)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # a model shape inference cannot read: nothing is known, nothing is changed
        return {}
    graph = inferred.graph
    dims: dict[str, list[int | None]] = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        shape = value.type.tensor_type.shape
        if value.type.tensor_type.HasField("shape"):
            dims[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]
    for init in graph.initializer:
        dims[init.name] = list(init.dims)
    return dims


def _split_num_outputs(model: onnx.ModelProto) -> None:
    nodes = [n for n in model.graph.node if n.op_type == "Split" and _attr(n, "num_outputs") is not None]
    if not nodes:
        return
    for node in nodes:
        _drop_attr(node, "num_outputs")
    dims = _known_dims(model)
    for node in nodes:
        if len(node.input) > 1 and node.input[1]:
            continue
        shape = dims.get(node.input[0])
        axis = _attr(node, "axis") or 0
        size = shape[axis] if shape and -len(shape) <= axis < len(shape) else None
        parts = len(node.output)
        if size is None or size % parts == 0:
            continue  # equal parts: what opset 13-17 Split does without a split input
        step = math.ceil(size / parts)
        sizes = [step] * (parts - 1) + [size - step * (parts - 1)]
        name = f"{node.name or node.output[0]}_split_sizes"
        model.graph.initializer.append(numpy_helper.from_array(np.array(sizes, np.int64), name))
        node.input.append(name)


def _squeeze_non_one(model: onnx.ModelProto) -> None:
    squeezes = [n for n in model.graph.node if n.op_type == "Squeeze" and len(n.input) > 1]
    if not squeezes:
        return
    consts = _constants(model)
    dims = _known_dims(model)
    for node in squeezes:
        axes, shape = consts.get(node.input[1]), dims.get(node.input[0])
        if axes is None or not shape:
            continue
        keep = [int(a) for a in axes.reshape(-1) if shape[int(a)] is None or shape[int(a)] == 1]
        if len(keep) == axes.size:
            continue
        if keep:
            name = f"{node.name or node.output[0]}_axes"
            model.graph.initializer.append(numpy_helper.from_array(np.array(keep, np.int64), name))
            node.input[1] = name
        else:
            node.op_type = "Identity"
            del node.input[1:]


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    found = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            found[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return found


def _attr(node: onnx.NodeProto, name: str):
    found = next((a for a in node.attribute if a.name == name), None)
    return None if found is None else helper.get_attribute_value(found)


def _drop_attr(node: onnx.NodeProto, name: str) -> None:
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(kept)
