"""What one forward pass on the example tells about a module: its graph I/O, dims and manifest."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import onnx
import onnxruntime
import torch

import edgernn
from edgernn.runtime.manifest import InputSpec, Manifest, OutputSpec, StateSpec

from .config import ExportConfig
from .errors import ExportError
from .verify import GraphIO
from .wrapper import RecurrentLayer, count_state_tensors, state_names


@dataclass(frozen=True)
class Traced:
    """The graph to export: example arguments, I/O names and dims, and the manifest it implies."""

    args: tuple[torch.Tensor, ...]  # x, zero states[, lengths]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    state_in: tuple[str, ...]
    shapes: tuple[tuple[int, int], ...]  # (layers*directions, hidden) per state tensor
    io_dims: dict[str, list[int | str]]  # every graph input/output -> declared dims
    dynamic: dict[str, dict[int, str]]  # symbolic axes per name, as the exporters take them
    io: GraphIO
    manifest: Manifest


def trace_module(
    module: torch.nn.Module, x: torch.Tensor, config: ExportConfig, meta: Any, layers: list[RecurrentLayer]
) -> Traced:
    """Run ``module`` on ``x`` once and describe the graph an export must produce."""
    n_state = count_state_tensors(module, x) if config.state else 0
    with torch.no_grad():
        out = module(x)
    y, state = (out[0], out[1]) if n_state else ((out[0] if isinstance(out, tuple) else out), ())
    state = [state] if isinstance(state, torch.Tensor) else list(state)
    _check_output(y, x, config.topology)
    state_in, state_out = state_names(n_state, getattr(module, "state_names", None))
    shapes = tuple((s.shape[0], s.shape[2]) for s in state)
    batch, time = x.shape[0], x.shape[1]
    args = (x, *(torch.zeros(r, batch, h) for r, h in shapes))
    if config.lengths:
        args += (torch.full((batch,), time, dtype=torch.int64),)
    per_step = config.topology != "many_to_one"
    io_dims: dict[str, list[int | str]] = {
        "x": ["batch", "time", x.shape[2]] if x.dim() == 3 else ["batch", "time"],
        "y": ["batch", "time", y.shape[-1]] if per_step else ["batch", y.shape[-1]],
        "lengths": ["batch"],
        **{n: [r, "batch", h] for n, (r, h) in zip(state_in + state_out, shapes + shapes, strict=True)},
    }
    input_names = ("x", *state_in, *(("lengths",) if config.lengths else ()))
    io = GraphIO(
        state_shapes=shapes,
        features=x.shape[2] if x.dim() == 3 else None,
        vocab_size=_vocab(module, meta),
        lengths=config.lengths,
        per_step=per_step,
        streamable=bool(n_state) and not any(layer.bidirectional for layer in layers),
        example_time=time,
        input_names=input_names,
    )
    return Traced(
        args=args,
        input_names=input_names,
        output_names=("y", *state_out),
        state_in=tuple(state_in),
        shapes=shapes,
        io_dims=io_dims,
        dynamic={n: {i: d for i, d in enumerate(dims) if isinstance(d, str)} for n, dims in io_dims.items()},
        io=io,
        manifest=_manifest(config, meta, layers, x, y, state_in, state_out, shapes),
    )


def _check_output(y: torch.Tensor, x: torch.Tensor, topology: str) -> None:
    if topology == "many_to_one" and y.dim() != 2:
        raise ExportError(f"topology many_to_one: expected y of shape [batch, out], got {list(y.shape)}")
    if topology != "many_to_one" and (y.dim() != 3 or y.shape[1] != x.shape[1]):
        raise ExportError(
            f"topology {topology}: expected y of shape [batch, time={x.shape[1]}, out], got {list(y.shape)}"
        )


def _vocab(module: torch.nn.Module, meta: Any) -> int | None:
    if meta.input is not None and meta.input.vocab_size:
        return meta.input.vocab_size
    emb = next((m for m in module.modules() if isinstance(m, torch.nn.Embedding)), None)
    return emb.num_embeddings if emb is not None else None


def _manifest(config, meta, layers, x, y, state_in, state_out, shapes) -> Manifest:
    first = layers[0] if layers else None
    tokens = x.dim() == 2
    input_spec = meta.input or InputSpec(
        name="x",
        features=None if tokens else int(x.shape[2]),
        dtype="int64" if tokens else "float32",
        kind="tokens" if tokens else "features",
    )
    input_spec = dataclasses.replace(input_spec, name="x", lengths="lengths" if config.lengths else None)
    output_spec = dataclasses.replace(meta.output or OutputSpec(kind="raw"), name="y", size=int(y.shape[-1]))
    return Manifest(
        name=meta.name,
        input=input_spec,
        output=output_spec,
        state=tuple(
            StateSpec(i, o, (r, "batch", h)) for i, o, (r, h) in zip(state_in, state_out, shapes, strict=True)
        ),
        condition=meta.condition,
        series=meta.series,
        topology=config.topology,
        cell=first.cell if first else None,
        layers=first.layers if first else None,
        hidden_size=first.hidden_size if first else None,
        bidirectional=any(layer.bidirectional for layer in layers),
        opset=config.opset,
        producer={
            "edgernn": edgernn.__version__,
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
    )
