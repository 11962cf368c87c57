"""``ExportConfig``: every knob of an export, each default with its reason."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import ExportError

C = TypeVar("C")

EXPORTERS = ("auto", "torchscript", "dynamo")
# Tried in this order by exporter="auto"; the first that passes verification wins. Both give native
# recurrent nodes for every case of the export matrix, and their graphs run equally fast; TorchScript
# (deprecated upstream) exports in ~0.1 s where dynamo takes ~1.4 s plus ~8 s of warm-up in a fresh
# process, so it stays first while it exists. Without it (removed, or failing), dynamo exports alone.
AUTO_ORDER = ("torchscript", "dynamo")


@dataclass(frozen=True)
class ExportConfig:
    """How to export and how hard to verify. CLI flags of ``edgernn export`` map onto these fields."""

    topology: str | None = None  # many_to_one | many_to_many | one_to_many; None: read from y's shape
    state: bool | str = "auto"  # auto: stateful when forward takes a state after x and returns one
    lengths: bool = False  # add an int64 `lengths` input mapped to the op's sequence_lens
    lengths_as: str | None = None  # steps | fraction (of the padded length); None: steps, else fractions
    # {"x": {axis: "batch" | "time"}}: x's layout when not [batch, time, ...]; a further input's by its
    # graph name ({"encoder_outputs": {0: "memory_time", 1: "batch"}}); None: probed
    dims: dict | None = None
    main_input: str | None = None  # which tensor inside x (a dict, tuple...) is x; None: the first
    # float tensor of the highest rank
    main_output: str | None = None  # which tensor of a dict/NamedTuple output is y; None: see further_outputs
    time_major: bool | None = None  # module reads x as [time, batch, ...]; None: from the state's batch dim
    min_length: int | None = None  # fewest steps the module runs on; None: probed on PyTorch
    opset: int = 17  # 17 loads in older edge runtimes and has every recurrent op we need
    exporter: str = "auto"  # auto | torchscript | dynamo
    atol: float = 1e-5  # fp32 tolerance: exporter and ORT kernels agree to ~1e-6 on tiny models
    rtol: float = 1e-4
    # the streaming checks' atol (None: atol); chaining many calls through the state adds float32
    # rounding a whole-sequence call does not have, so a caller may allow it more
    stream_atol: float | None = None
    # 1 = the shortest length the module runs on (min_length), 0 = the example's, -1 = 2x example + 3
    verify_lengths: tuple[int, ...] = (1, 0, -1)
    verify_batches: tuple[int, ...] = (1, 3)  # two batch sizes, one of them 1 (the streaming case)
    stream_chunk: int = 3  # chunk size for the chunked-streaming check
    allow_unrolled: bool = False  # accept Loop/Scan or missing native nodes (never by default)
    ort_format: bool = False  # also write model.ort + required-operators config for minimal builds
    seed: int = 0  # random verification inputs are reproducible


def with_overrides(config: C, overrides: dict[str, Any]) -> C:
    """``config`` with the fields named in ``overrides`` replaced (a stage's keyword shortcuts); an
    unknown name is one :class:`ExportError` listing the fields there are."""
    fields = {f.name for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ExportError(
            f"{type(config).__name__}: no field {', '.join(map(repr, unknown))}; expected some of {', '.join(sorted(fields))}"
        )
    return dataclasses.replace(config, **overrides) if overrides else config  # type: ignore[type-var]
