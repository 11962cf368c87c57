"""Run one of torch's two ONNX exporters on the wrapper, then give the file clean, checked I/O."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch

from .errors import ExportError
from .graph_repair import repair

Dims = Sequence[int | str]


def run_exporter(
    exporter: str,
    wrapper: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    *,
    input_names: list[str],
    output_names: list[str],
    dynamic: dict[str, dict[int, str]],
    opset: int,
) -> None:
    """Export ``wrapper(*args)`` to ``path`` with ``exporter`` ("torchscript" or "dynamo")."""
    with warnings.catch_warnings(), _quiet_fds():
        warnings.simplefilter("ignore")  # tracer, deprecation and batch-size notes: verification decides
        if exporter == "torchscript":
            torch.onnx.export(
                wrapper,
                args,
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=dynamic,
                do_constant_folding=True,
            )
        elif exporter == "dynamo":
            _export_dynamo(wrapper, args, path, input_names, output_names, dynamic, opset)
        else:
            raise ExportError(f"exporter: expected torchscript or dynamo, got {exporter!r}")


@contextlib.contextmanager
def _quiet_fds():
    """Silence what the exporters print from C++ and onnxscript; failures still raise."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _export_dynamo(wrapper, args, path, input_names, output_names, dynamic, opset) -> None:
    """The dynamo exporter with native recurrent nodes: every nn.LSTM/GRU/RNN is swapped for a custom
    op shim while it runs, and translated by ``rnn_onnx`` (public APIs only: torch.library custom ops
    and ``custom_translation_table``)."""
    from .packed_capture import defer_packing
    from .rnn_onnx import fold_weight_preparation, translation_table
    from .rnn_ops import swap_rnn_modules

    dims: dict[str, torch.export.Dim] = {}

    def spec(name: str):
        axes = dynamic.get(name)
        if not axes:
            return None
        return {axis: dims.setdefault(label, torch.export.Dim.AUTO) for axis, label in axes.items()}

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with swap_rnn_modules(wrapper), defer_packing(wrapper):
        program = torch.onnx.export(
            wrapper,
            args,
            dynamo=True,
            opset_version=opset,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=_shapes_for_varargs([spec(n) for n in input_names]),
            custom_translation_table=translation_table(),
            optimize=True,
            verbose=False,
        )
    fold_weight_preparation(program.model)
    program.save(str(path))
    model = onnx.load(str(path))
    repair(model)  # torch.chunk's opset-18 Split and Squeeze on dims that are not 1
    onnx.save(model, str(path))


def _shapes_for_varargs(specs: list):
    """dynamic_shapes matching ``forward(x, *rest)``: ``(x_spec,)`` or ``(x_spec, (rest...))``."""
    return (specs[0],) if len(specs) == 1 else (specs[0], tuple(specs[1:]))


def finalize(path: Path, *, io_dims: dict[str, Dims], metadata: dict[str, str]) -> onnx.ModelProto:
    """Name symbolic dims on the declared I/O, add metadata, run onnx's full check, save in place.

    ``io_dims`` maps every graph input/output to its declared dims, e.g. ``{"x": ["batch", "time", 4]}``.
    Fixed sizes are checked against what the exporter declared; symbolic ones replace whatever
    name it chose (such as ``Concat158_dim_1``).
    """
    model = onnx.load(str(path))
    for value in [*model.graph.input, *model.graph.output]:
        if value.name not in io_dims:
            raise ExportError(f"exported graph has an unexpected input/output {value.name!r}")
        want = io_dims[value.name]
        shape = value.type.tensor_type.shape
        if len(shape.dim) != len(want):
            raise ExportError(
                f"exported {value.name!r}: expected rank {len(want)} {list(want)}, got rank {len(shape.dim)}"
            )
        for dim, target in zip(shape.dim, want, strict=True):
            if isinstance(target, str):
                dim.Clear()
                dim.dim_param = target
            elif dim.HasField("dim_value") and dim.dim_value != target:
                raise ExportError(
                    f"exported {value.name!r}: expected dims {list(want)}, got size {dim.dim_value}"
                )
            else:
                dim.dim_value = target
    weights = {t.name for t in model.graph.initializer}
    kept = [v for v in model.graph.value_info if v.name not in weights]  # dynamo lists initializers too
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept)
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        raise ExportError(
            f"exported model fails onnx.checker (full check with shape inference): {err}"
        ) from None
    onnx.save(model, str(path))
    return model


def metadata_props(manifest_dict: dict, edgernn_version: str) -> dict[str, str]:
    """metadata_props that make a bare .onnx self-describing (the manifest minus its file list)."""
    body = {k: v for k, v in manifest_dict.items() if k not in ("files", "validation", "quantization")}
    state = "; ".join(
        f"{s['input']}->{s['output']} [{', '.join(str(d) for d in s['shape'])}]"
        for s in manifest_dict["state"]
    )
    return {
        "edgernn.manifest": json.dumps(body, separators=(",", ":")),
        "edgernn.version": edgernn_version,
        "edgernn.cell": str(manifest_dict.get("cell")),
        "edgernn.topology": str(manifest_dict.get("topology")),
        "edgernn.state": state or "none",
        "edgernn.normalisation": json.dumps(
            {"input_mean": manifest_dict["input"]["mean"], "input_std": manifest_dict["input"]["std"]}
        ),
    }
