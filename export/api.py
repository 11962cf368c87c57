"""``edgernn.export.export``: PyTorch module -> verified bundle with native recurrent ops."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import torch

import edgernn
from edgernn.runtime.bundle import MANIFEST_NAME
from edgernn.runtime.errors import ExportError
from edgernn.runtime.fileio import atomic_write_text, sha256_file, staged_dir
from edgernn.runtime.manifest import TOPOLOGIES, FileEntry, InputSpec, Manifest, OutputSpec, StateSpec

from .config import AUTO_ORDER, EXPORTERS, ExportConfig
from .graph import summarize
from .onnx_export import finalize, metadata_props, run_exporter
from .verify import Check, GraphIO, Verifier
from .wrapper import ExportWrapper, RecurrentLayer, count_state_tensors, find_recurrent, state_names


@dataclass(frozen=True)
class ExportMeta:
    """What the module itself cannot tell: names, normalisation, labels, and files to ship."""

    name: str = "model"
    input: InputSpec | None = None  # default: derived from the example input
    output: OutputSpec | None = None  # default: kind "raw", size from the module's output
    condition: InputSpec | None = None  # one_to_many: spec of the vector init_state() takes
    data_files: dict[str, Path] = field(default_factory=dict)  # bundle name -> source file
    source_files: dict[str, Path] = field(default_factory=dict)  # the PyTorch checkpoint, for baselines
    torch_metric: dict[str, Any] | None = None  # the PyTorch model's test metric, for quantize to compare


@dataclass(frozen=True)
class ExportReport:
    """What an export produced and every check it passed."""

    bundle: Path
    exporter: str
    checks: tuple[Check, ...]
    attempts: dict[str, str]
    native_nodes: dict[str, int]
    manifest: Manifest

    @property
    def max_abs_diff(self) -> float:
        return max((c.max_abs_diff for c in self.checks), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "exporter": self.exporter,
            "attempts": self.attempts,
            "native_nodes": self.native_nodes,
            "max_abs_diff": self.max_abs_diff,
            "checks": [c.to_dict() for c in self.checks],
        }


def export(
    module: torch.nn.Module,
    example_inputs: torch.Tensor | tuple[torch.Tensor, ...],
    out_dir: str | Path,
    *,
    topology: str = "many_to_many",
    state: bool = True,
    lengths: bool = False,
    opset: int = 17,
    exporter: str = "auto",
    atol: float = 1e-5,
    rtol: float = 1e-4,
    allow_unrolled: bool = False,
    ort_format: bool = False,
    meta: ExportMeta | None = None,
    real_inputs: np.ndarray | None = None,
    real_lengths: np.ndarray | None = None,
) -> ExportReport:
    """Export ``module`` to a bundle in ``out_dir`` and prove it before writing anything.

    ``module.forward(x, state=None) -> (y, state)`` when ``state`` (state is a tensor, or a tuple
    such as ``(h, c)``); ``module.forward(x) -> y`` otherwise. With ``lengths`` it must accept
    ``lengths=`` (a ``[batch]`` int64 tensor) and use packed sequences. ``one_to_many`` modules
    also need ``init_state(cond) -> state``. Raises :class:`ExportError` listing each failed check.
    """
    config = ExportConfig(
        topology=topology,
        state=state,
        lengths=lengths,
        opset=opset,
        exporter=exporter,
        atol=atol,
        rtol=rtol,
        allow_unrolled=allow_unrolled,
        ort_format=ort_format,
    )
    return export_with_config(
        module, example_inputs, out_dir, config, meta or ExportMeta(), real_inputs, real_lengths
    )


def export_with_config(
    module, example_inputs, out_dir, config: ExportConfig, meta: ExportMeta, real_x=None, real_lengths=None
) -> ExportReport:
    """:func:`export` with an :class:`ExportConfig` (what the CLI calls)."""
    if config.topology not in TOPOLOGIES:
        raise ExportError(f"topology: expected one of {', '.join(TOPOLOGIES)}, got {config.topology!r}")
    if config.exporter not in EXPORTERS:
        raise ExportError(f"exporter: expected one of {', '.join(EXPORTERS)}, got {config.exporter!r}")
    layers = find_recurrent(module, allow_unrolled=config.allow_unrolled)
    x = example_inputs[0] if isinstance(example_inputs, tuple | list) else example_inputs
    if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3):
        raise ExportError(
            f"example input: expected a [batch, time(, features)] tensor, got {type(x).__name__}"
        )
    was_training = module.training
    module.eval()
    try:
        return _export(module, x, Path(out_dir), config, meta, layers, real_x, real_lengths)
    finally:
        module.train(was_training)


def _export(module, x, out_dir, config, meta, layers, real_x, real_lengths) -> ExportReport:
    n_state = count_state_tensors(module, x) if config.state else 0
    with torch.no_grad():
        out = module(x)
    y, state = (out[0], out[1]) if n_state else ((out[0] if isinstance(out, tuple) else out), ())
    state = [state] if isinstance(state, torch.Tensor) else list(state)
    _check_output(y, x, config.topology)
    state_in, state_out = state_names(n_state)
    shapes = tuple((s.shape[0], s.shape[2]) for s in state)
    batch, time = x.shape[0], x.shape[1]
    args = (x, *(torch.zeros(r, batch, h) for r, h in shapes))
    if config.lengths:
        args += (torch.full((batch,), time, dtype=torch.int64),)
    input_names = ["x", *state_in, *(["lengths"] if config.lengths else [])]
    output_names = ["y", *state_out]
    per_step = config.topology != "many_to_one"
    io_dims = {
        "x": ["batch", "time", x.shape[2]] if x.dim() == 3 else ["batch", "time"],
        "y": ["batch", "time", y.shape[-1]] if per_step else ["batch", y.shape[-1]],
        "lengths": ["batch"],
        **{n: [r, "batch", h] for n, (r, h) in zip(state_in + state_out, shapes + shapes, strict=True)},
    }
    dynamic = {n: {i: d for i, d in enumerate(dims) if isinstance(d, str)} for n, dims in io_dims.items()}
    manifest = _manifest(config, meta, layers, x, y, state_in, state_out, shapes)
    bidirectional = any(layer.bidirectional for layer in layers)
    io = GraphIO(
        state_shapes=shapes,
        features=x.shape[2] if x.dim() == 3 else None,
        vocab_size=_vocab(module, meta),
        lengths=config.lengths,
        per_step=per_step,
        streamable=bool(n_state) and not bidirectional,
        example_time=time,
        input_names=tuple(input_names),
    )
    wrapper = ExportWrapper(module, state_tensors=n_state, lengths=config.lengths).eval()
    metadata = metadata_props(manifest.to_dict(), edgernn.__version__)
    order = AUTO_ORDER if config.exporter == "auto" else (config.exporter,)
    attempts: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="edgernn-export-") as tmp:
        for name in order:
            path = Path(tmp) / f"{name}.onnx"
            try:
                run_exporter(
                    name,
                    wrapper,
                    args,
                    path,
                    input_names=input_names,
                    output_names=output_names,
                    dynamic=dynamic,
                    opset=config.opset,
                )
                model = finalize(
                    path,
                    io_dims={k: v for k, v in io_dims.items() if k in input_names + output_names},
                    metadata=metadata,
                )
            except ExportError as err:
                attempts[name] = str(err)
                continue
            except Exception as err:  # exporter internals raise anything; report it and try the next path
                attempts[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
                continue
            checks = [*_graph_checks(model, layers, config)]
            checks += Verifier(wrapper, path, io, config).checks(real_x, real_lengths)
            failed = [c for c in checks if not c.passed]
            if failed:
                attempts[name] = "; ".join(_describe(c) for c in failed)
                continue
            attempts[name] = "passed"
            return _write_bundle(
                out_dir, path, model, module, config, meta, manifest, checks, attempts, name, shapes, state_in
            )
    tried = " | ".join(f"{k}: {' '.join(v.split())}" for k, v in attempts.items())  # one line for the CLI
    raise ExportError(f"no exporter produced a model that passes verification; nothing was written. {tried}")


def _describe(check: Check) -> str:
    diff = f" (max abs diff {check.max_abs_diff:.3g})" if check.max_abs_diff else ""
    return f"{check.name}: {check.detail}{diff}"


def _check_output(y: torch.Tensor, x: torch.Tensor, topology: str) -> None:
    if topology == "many_to_one" and y.dim() != 2:
        raise ExportError(f"topology many_to_one: expected y of shape [batch, out], got {list(y.shape)}")
    if topology != "many_to_one" and (y.dim() != 3 or y.shape[1] != x.shape[1]):
        raise ExportError(
            f"topology {topology}: expected y of shape [batch, time={x.shape[1]}, out], got {list(y.shape)}"
        )


def _vocab(module, meta: ExportMeta) -> int | None:
    if meta.input is not None and meta.input.vocab_size:
        return meta.input.vocab_size
    emb = next((m for m in module.modules() if isinstance(m, torch.nn.Embedding)), None)
    return emb.num_embeddings if emb is not None else None


def _graph_checks(model: onnx.ModelProto, layers: list[RecurrentLayer], config: ExportConfig) -> list[Check]:
    summary = summarize(model)
    native = sum(1 for n in summary.recurrent if n.graph == "main")
    want = sum(layer.nodes for layer in layers)
    loops = summary.loop_scan_count
    ok = config.allow_unrolled or (native == want and loops == 0)
    frozen = [t.name for t in (*summary.inputs, *summary.outputs) if "batch" not in t.dims]
    return [
        Check("native recurrent ops", ok, 0.0, f"{native} native nodes (expected {want}), {loops} Loop/Scan"),
        Check(
            "symbolic batch/time dims",
            not frozen,
            0.0,
            f"frozen: {frozen}" if frozen else "batch on every I/O",
        ),
    ]


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


def _write_bundle(
    out_dir, model_path, model, module, config, meta, manifest, checks, attempts, exporter, shapes, state_in
) -> ExportReport:
    summary = summarize(model)
    native = {op: n for op, n in summary.op_counts.items() if op in ("LSTM", "GRU", "RNN")}
    validation = {
        "exporter": exporter,
        "attempts": attempts,
        "atol": config.atol,
        "rtol": config.rtol,
        "max_abs_diff": max((c.max_abs_diff for c in checks), default=0.0),
        "native_nodes": native,
        "streamable": manifest.streamable,
        "checks": [c.to_dict() for c in checks],
    }
    if meta.torch_metric is not None:
        validation["torch_metric"] = meta.torch_metric
    with staged_dir(out_dir) as tmp:
        shutil.copyfile(model_path, tmp / "model.onnx")
        roles = {"model.onnx": ("fp32", "model")}
        if config.topology == "one_to_many":
            from .init_export import export_init  # one_to_many only: cond -> initial state

            checks_init = export_init(
                module, tmp / "init.onnx", meta, shapes, state_in, config, model.metadata_props
            )
            validation["checks"] += [c.to_dict() for c in checks_init]
            roles["init.onnx"] = (None, "init")
        for rel, source in meta.data_files.items():
            shutil.copyfile(source, tmp / rel)
            roles[rel] = (None, "data")
        for rel, source in meta.source_files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp / rel)
            roles[rel] = (None, "source")
        if config.ort_format:
            from .ort_format import write_ort

            roles.update(write_ort(tmp / "model.onnx"))
        files = {
            rel: FileEntry(sha256_file(tmp / rel), (tmp / rel).stat().st_size, variant, role)
            for rel, (variant, role) in roles.items()
        }
        final = dataclasses.replace(manifest, files=files, validation=validation)
        atomic_write_text(tmp / MANIFEST_NAME, json.dumps(final.to_dict(), indent=2))
    return ExportReport(Path(out_dir), exporter, tuple(checks), attempts, native, final)
