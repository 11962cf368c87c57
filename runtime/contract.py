"""The general contract at the edges: further inputs read from an ``.npz`` beside ``x`` (``edgernn
run``), further outputs gathered from results and saved, and the lines that show the contract."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .arrayfiles import read_npz
from .errors import InputError
from .manifest import Manifest, TensorSpec
from .result import Result
from .validate import describe


def spec_line(kind: str, spec: TensorSpec) -> str:
    """``input cond: [batch, 4] float32 <- forward(cond=...)``: one further input or output."""
    arrow = "<-" if kind == "input" else "->"
    module = f" {arrow} {spec.module}" if spec.module else ""
    span = (
        f" values in [{_bound(spec.low)}, {_bound(spec.high)}]"
        if (spec.low, spec.high) != (None, None)
        else ""
    )
    return f"{kind} {spec.name}: {describe(spec.shape, spec.dtype)}{span}{module}"


def _bound(value: float | None) -> str:
    return "..." if value is None else f"{value:g}"


def contract_lines(manifest: Manifest | Mapping[str, Any]) -> list[str]:
    """What a bundle of the general contract takes and gives beside ``x``, ``lengths``, the state and
    ``y``: one line per further input and output (dims, dtype, where the module takes or gives it).
    Dims name x's ``batch`` and ``time``; any other name is a length of its own. ``manifest`` may be
    its dict (``Manifest.to_dict()``, as ``edgernn inspect`` reports it)."""
    if not isinstance(manifest, Manifest):
        manifest = Manifest.from_dict(manifest)
    if not manifest.inputs and not manifest.outputs:
        return []
    lines = [
        f"contract: {manifest.input.name} and {len(manifest.inputs)} further input(s) in, "
        f"{manifest.output.name} and {len(manifest.outputs)} further output(s) out"
    ]
    lines += [spec_line("input", s) for s in manifest.inputs]
    lines += [spec_line("output", s) for s in manifest.outputs]
    return lines


def read_named_inputs(path: Path, manifest: Manifest, unbatched: bool) -> dict[str, np.ndarray] | None:
    """The further inputs of ``manifest`` from the arrays of the same names in the ``.npz`` at
    ``path`` (None when the bundle takes none). ``unbatched``: ``x`` was one sequence without its
    batch axis, so each batched input gets one too."""
    if not manifest.inputs:
        return None
    names = [s.name for s in manifest.inputs]
    if path.suffix.lower() != ".npz":
        raise InputError(
            f"{path}: this bundle takes further inputs ({', '.join(names)}) beside "
            f"{manifest.input.name!r}; give an .npz with arrays of those names"
        )
    arrays = read_npz(path, names)
    for spec in manifest.inputs:
        if spec.name not in arrays:
            raise InputError(
                f"{path}: expected an array {spec.name!r} ({describe(spec.shape, spec.dtype)}) beside "
                f"{manifest.input.name!r}; the bundle takes {', '.join(names)}"
            )
        if unbatched and spec.batched and arrays[spec.name].ndim == len(spec.shape) - 1:
            arrays[spec.name] = np.expand_dims(arrays[spec.name], spec.shape.index("batch"))
    return arrays


def split_timed(
    manifest: Manifest, inputs: dict[str, np.ndarray] | None, time: int
) -> tuple[dict[str, tuple[np.ndarray, int]], dict[str, np.ndarray] | None]:
    """For ``--stream``: the further inputs with x's time axis (each with that axis, checked to hold
    ``time`` steps, to be sliced step by step) and the ones without it (held by the stream)."""
    timed, held = {}, {}
    for spec in manifest.inputs:
        if inputs is None or spec.name not in inputs:
            continue
        value = inputs[spec.name]
        if "time" not in spec.shape:
            held[spec.name] = value
            continue
        axis = spec.shape.index("time")
        if value.ndim != len(spec.shape) or value.shape[axis] != time:
            raise InputError(
                f"input {spec.name!r}: expected {describe(spec.shape, spec.dtype)} with x's {time} steps "
                f"on axis {axis}, got {list(value.shape)}"
            )
        timed[spec.name] = (value, axis)
    return timed, held or None


def named_outputs(manifest: Manifest, results: list[Result]) -> dict[str, np.ndarray]:
    """Each further output over the whole input: from one whole-sequence result, or stacked along
    its time axis from a stream's steps (one without a time axis: the last step's)."""
    gathered = {}
    for spec in manifest.outputs:
        values = [r.outputs[spec.name] for r in results]
        if len(values) == 1:
            gathered[spec.name] = values[0]
        elif "time" in spec.shape:
            gathered[spec.name] = np.stack(values, axis=spec.shape.index("time"))
        else:
            gathered[spec.name] = values[-1]
    return gathered


def outputs_note(gathered: dict[str, Any]) -> str:
    """What stdout leaves out: the further outputs, with their shapes."""
    shapes = ", ".join(f"{k} {list(np.shape(v))} {np.asarray(v).dtype}" for k, v in gathered.items())
    return f"further outputs not printed: {shapes}; --out FILE.npz or FILE.json saves them"
