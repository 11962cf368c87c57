"""``edgernn.export.export``: PyTorch module -> verified bundle with native recurrent ops."""

from __future__ import annotations

import dataclasses
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from edgernn._version import __version__
from edgernn.runtime.bundle import Bundle
from edgernn.runtime.manifest import InputSpec, Manifest, OutputSpec
from edgernn.runtime.records import Metric, SeriesRecord
from edgernn.runtime.vocab import TOPOLOGIES

from .bundle_writer import BundlePlan, check_out_dir, write_bundle
from .config import AUTO_ORDER, EXPORTERS, ExportConfig, with_overrides
from .errors import ExportError
from .example_split import lengths_in_example
from .graph import summarize
from .lengths_feed import LENGTHS_AS
from .onnx_export import finalize, metadata_props, run_exporter
from .trace import Traced, trace_module
from .verify import Check, Verifier
from .wrapper import RecurrentLayer, find_recurrent


@dataclass(frozen=True)
class ExportMeta:
    """What the module itself cannot tell: names, normalisation, labels, and files to ship."""

    name: str = "model"
    input: InputSpec | None = None  # default: derived from the example input
    output: OutputSpec | None = None  # default: kind "raw", size from the module's output
    condition: InputSpec | None = None  # one_to_many: spec of the vector init_state() takes
    data_files: dict[str, Path] = field(default_factory=dict)  # bundle name -> source file
    source_files: dict[str, Path | bytes] = field(
        default_factory=dict
    )  # the PyTorch checkpoint, for baselines
    torch_metric: Metric | None = None  # the PyTorch model's test metric, for quantize to compare
    series: SeriesRecord | None = None  # forecasts: time index and the graph's differencing
    recipe: dict[str, str] = field(default_factory=dict)  # the training recipe's choices, for the manifest


@dataclass(frozen=True)
class ExportReport:
    """What an export produced and every check it passed."""

    bundle: Path
    exporter: str
    checks: tuple[Check, ...]
    attempts: dict[str, str]
    native_nodes: dict[str, int]
    manifest: Manifest

    def as_bundle(self) -> Bundle:
        """The written bundle with its manifest already loaded (nothing is read back)."""
        return Bundle(self.bundle, self.manifest)

    @property
    def max_abs_diff(self) -> float:
        """The largest difference a gating check saw between PyTorch and onnxruntime (warnings aside)."""
        return max((c.max_abs_diff for c in self.checks if not c.warning), default=0.0)

    @property
    def warnings(self) -> tuple[Check, ...]:
        """Checks that failed on random inputs past the training length: recorded, not refused."""
        return tuple(c for c in self.checks if c.warning and not c.passed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
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
    example_inputs: torch.Tensor | tuple[Any, ...],
    out_dir: str | Path,
    config: ExportConfig | None = None,
    *,
    meta: ExportMeta | None = None,
    real_inputs: np.ndarray | None = None,
    real_lengths: np.ndarray | None = None,
    example_kwargs: dict[str, Any] | None = None,
    **overrides: Any,
) -> ExportReport:
    """Export ``module`` to a bundle in ``out_dir`` and prove it before writing anything.

    How to export and how hard to verify is an :class:`ExportConfig`; its fields may also be given
    as keywords (``export(m, x, "b", lengths=True)``), which replace the config's.

    ``example_inputs`` is ``x``, ``(x, state)``, or ``(x, ...)`` matched to forward's parameters by
    position, with ``example_kwargs`` matched by name: every tensor besides x, the state and the
    lengths (in dicts, tuples and dataclasses too) becomes a further named graph input, recorded in
    the manifest's ``inputs`` with its batch, time and own-length axes (probed, or declared in
    ``dims`` by its name); an item is the state only when forward returns a state of its shapes.
    Inside a dict x, x is the first float tensor of the highest rank, or the one ``main_input``
    names. The module takes its state the way it is written:
    ``forward(x, h)``, ``forward(x, hidden=None)``, ``forward(x, *, state=None)``..., the state a
    tensor, an ``(h, c)`` tuple or a list, returned as ``(y, state)``. ``state="auto"`` exports the
    state as graph I/O when forward takes one after ``x`` and returns it; zeros of the right shape
    stand in when the example gives none. ``time_major``: the module reads ``x`` as ``[time, batch,
    ...]`` (default: read from the state's batch dim); the graph always takes ``[batch, time, ...]``.
    ``dims={"x": {0: "batch", 2: "time"}}`` declares x's batch and time axes when x is laid out
    otherwise (channel-first, rank 4...; probed when not given): the graph takes ``[batch, time,
    features]`` with x's other axes flattened into the features.
    ``topology`` defaults to what ``y``'s shape says. ``min_length`` defaults to the fewest steps
    PyTorch runs the module on; verification starts there and the runtime refuses shorter inputs.
    An example that gives the lengths (``(x, input_lengths)``) turns ``lengths`` on. With ``lengths`` the
    module must accept ``lengths=`` (a ``[batch]`` int64 tensor; with
    ``lengths_as="fraction"``, float fractions of the padded length, tried anyway when steps fail).
    ``one_to_many`` modules also need ``init_state(cond) -> state``. ``real_inputs`` (model space,
    ``[n, time, ...]``) adds a parity check on real data. Raises :class:`ExportError` listing each
    failed check.
    """
    config = with_overrides(config or ExportConfig(), overrides)
    _check_choices(config)
    check_out_dir(Path(out_dir))  # before any work: export never removes what it did not write
    layers = find_recurrent(module, allow_unrolled=config.allow_unrolled)
    was_training = module.training
    module.eval()
    if not config.lengths:
        example_inputs, example_kwargs, given = lengths_in_example(module, example_inputs, example_kwargs)
        config = dataclasses.replace(config, lengths=given)
    try:
        traced = trace_module(module, example_inputs, config, meta or ExportMeta(), layers, example_kwargs)
        config = dataclasses.replace(config, topology=traced.topology, min_length=traced.min_length)
        return _export(traced, Path(out_dir), config, meta or ExportMeta(), layers, real_inputs, real_lengths)
    finally:
        module.train(was_training)


def _check_choices(config: ExportConfig) -> None:
    if config.topology is not None and config.topology not in TOPOLOGIES:
        raise ExportError(f"topology: expected one of {', '.join(TOPOLOGIES)}, got {config.topology!r}")
    if config.exporter not in EXPORTERS:
        raise ExportError(f"exporter: expected one of {', '.join(EXPORTERS)}, got {config.exporter!r}")
    if config.lengths_as not in (None, *LENGTHS_AS):
        raise ExportError(f"lengths_as: expected steps, fraction or None, got {config.lengths_as!r}")
    if config.state not in (True, False, "auto"):
        raise ExportError(f"state: expected True, False or 'auto', got {config.state!r}")


def _export(traced: Traced, out_dir: Path, config, meta, layers, real_x, real_lengths) -> ExportReport:
    """Try each exporter in turn; the first graph that passes every check becomes the bundle."""
    wrapper = traced.wrapper
    metadata = metadata_props(traced.manifest.to_dict(), __version__)
    if traced.calling.module_io():  # what inspect shows beside the manifest's contract
        metadata["edgernn.module_io"] = traced.calling.module_io()
    order = AUTO_ORDER if config.exporter == "auto" else (config.exporter,)
    attempts: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="edgernn-export-") as tmp:
        for name in order:
            path = Path(tmp) / f"{name}.onnx"
            try:
                model = _run_one(name, wrapper, traced, path, metadata, config)
            except ExportError as err:
                attempts[name] = str(err)
                continue
            except Exception as err:  # exporter internals raise anything; report it and try the next path
                attempts[name] = _reason(err)
                continue
            unbatched = {f.name for f in traced.io.further if f.batch_axis is None}
            checks = [*_graph_checks(model, layers, config, unbatched)]
            classes = meta.output is not None and meta.output.kind == "classes" and not traced.io.per_step
            checks += Verifier(wrapper, path, traced.io, config).checks(real_x, real_lengths, classes)
            failed = [c for c in checks if c.refused]
            if failed:
                attempts[name] = "; ".join(_describe(c) for c in failed)
                continue
            attempts[name] = "passed"
            plan = BundlePlan(
                out_dir, path, model, wrapper.module, config, meta, traced, tuple(checks), attempts, name
            )
            return write_bundle(plan)
    tried = " | ".join(f"{k}: {' '.join(v.split())}" for k, v in attempts.items())  # one line for the CLI
    name = type(wrapper.module).__name__
    raise ExportError(
        f"{name}: no exporter produced a model that passes verification; nothing was written. {tried}"
    )


def _run_one(
    name: str, wrapper, traced: Traced, path: Path, metadata, config: ExportConfig
) -> onnx.ModelProto:
    run_exporter(
        name,
        wrapper,
        traced.args,
        path,
        input_names=list(traced.input_names),
        output_names=list(traced.output_names),
        dynamic=traced.dynamic,
        opset=config.opset,
    )
    names = set(traced.input_names) | set(traced.output_names)
    return finalize(path, io_dims={k: v for k, v in traced.io_dims.items() if k in names}, metadata=metadata)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _reason(err: BaseException) -> str:
    """One line for an exporter failure: our own ExportError when one caused it (torch.onnx wraps
    what the model raised during capture), else the first line of the deepest cause, with torch's
    colour codes removed and data-dependent control flow named."""
    chain, cause = [], err
    while cause is not None and len(chain) < 20:
        if isinstance(cause, ExportError):
            return str(cause)
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    deepest = next((c for c in reversed(chain) if str(c).strip()), err)
    text = _ANSI.sub("", str(deepest)).strip().splitlines()[0][:300] if str(deepest).strip() else ""
    data_dependent = any("data-dependent" in str(c) or "DataDependent" in type(c).__name__ for c in chain)
    flow = "data-dependent control flow (a branch on a tensor's values): " if data_dependent else ""
    return f"{flow}{type(deepest).__name__}: {text}"


def _describe(check: Check) -> str:
    diff = f" (max abs diff {check.max_abs_diff:.3g})" if check.max_abs_diff else ""
    return f"{check.name}: {check.detail}{diff}"


def _graph_checks(
    model: onnx.ModelProto,
    layers: list[RecurrentLayer],
    config: ExportConfig,
    unbatched: set[str] = frozenset(),
) -> list[Check]:
    summary = summarize(model)
    native = sum(1 for n in summary.recurrent if n.graph == "main")
    want = sum(layer.nodes for layer in layers)
    loops = summary.loop_scan_count
    ok = config.allow_unrolled or (native == want and loops == 0)
    frozen = [
        t.name
        for t in (*summary.inputs, *summary.outputs)
        if "batch" not in t.dims and t.name not in unbatched
    ]
    return [
        Check("native recurrent ops", ok, 0.0, f"{native} native nodes (expected {want}), {loops} Loop/Scan"),
        Check(
            "symbolic batch/time dims",
            not frozen,
            0.0,
            f"frozen: {frozen}" if frozen else "batch on every I/O",
        ),
    ]
