"""What a profile measured: one :class:`CellResult` per sweep point, gathered in a :class:`ProfileReport`,
and the budget gate over them. Everything round-trips through JSON (isolated cells come back as JSON).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgernn.runtime.errors import InputError

from .stats import LatencyStats, OpBreakdown


@dataclass(frozen=True)
class Cell:
    """One point of the sweep."""

    variant: str
    provider: str  # as asked: cpu, cuda, tensorrt, openvino
    threads: int
    batch: int
    seq: int | None  # steps per sequence (stream: per stream); None: a frame model in sequence mode
    mode: str
    streams: int | None = None  # stream mode: this many one-sequence streams stepped by a StreamBatcher

    @property
    def rows(self) -> int:
        """Sequences advanced by one timed call: the streams of a batcher, else the batch."""
        return self.streams or self.batch

    @property
    def label(self) -> str:
        """``int8/cpu/1t/b1/T100/sequence`` (``s64`` for 64 batched streams): how messages and the
        budget gate name a cell."""
        seq = "-" if self.seq is None else self.seq
        rows = f"s{self.streams}" if self.streams else f"b{self.batch}"
        return f"{self.variant}/{self.provider}/{self.threads}t/{rows}/T{seq}/{self.mode}"


@dataclass(frozen=True)
class BaselineResult:
    """A baseline (PyTorch eager, torch.compile) timed on the same inputs as its cell."""

    name: str
    latency: LatencyStats | None = None
    first_ms: float | None = None  # first call: for torch.compile, the compilation
    speedup: float | None = None  # baseline p50 / onnxruntime p50: how much faster edgernn runs
    max_abs_diff: float | None = None  # against onnxruntime's output on the same inputs
    interleaved: bool = True  # False under --isolate: timed in the parent, after the cell
    error: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineResult:
        """Rebuild from :func:`dataclasses.asdict` output."""
        lat = data.get("latency")
        return cls(**{**data, "latency": LatencyStats(**lat) if lat else None})


@dataclass(frozen=True)
class CellResult:
    """Everything measured for one cell; ``error`` says why a cell could not run."""

    cell: Cell
    latency: LatencyStats | None = None  # per call (sequence mode) or per step (stream mode)
    sequences_per_s: float | None = None
    steps_per_s: float | None = None
    session_ms: float | None = None  # Session.load of this variant/provider/threads (cells share it)
    first_ms: float | None = None  # the first call at this cell's shape (allocations, kernel choice)
    peak_rss_mib: float | None = None  # --isolate only: the fresh process's peak resident set
    model_bytes: int | None = None
    provider_ran: str | None = None  # the EP the session reports it runs on
    input_shape: tuple[int, ...] | None = None  # one timed call's data input
    ops: OpBreakdown | None = None
    baselines: tuple[BaselineResult, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (nested dataclasses as dicts)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CellResult:
        """Rebuild from :meth:`to_dict` output."""
        lat, ops, shape = data.get("latency"), data.get("ops"), data.get("input_shape")
        return cls(
            **{
                **data,
                "cell": Cell(**data["cell"]),
                "latency": LatencyStats(**lat) if lat else None,
                "ops": OpBreakdown.from_dict(ops) if ops else None,
                "input_shape": tuple(shape) if shape is not None else None,
                "baselines": tuple(BaselineResult.from_dict(b) for b in data.get("baselines", ())),
            }
        )

    def baseline(self, name: str) -> BaselineResult | None:
        """The baseline called ``name``, if this cell has one."""
        return next((b for b in self.baselines if b.name == name), None)


@dataclass(frozen=True)
class ProfileReport:
    """A whole sweep: where it ran, what it fed, and every cell."""

    target: str
    kind: str  # "bundle" or "onnx"
    machine: dict[str, Any]
    config: dict[str, Any]
    inputs: dict[str, Any]  # data input, constants, free dims as chosen
    accuracy: dict[str, dict[str, Any]]  # per variant, from the manifest's export and quantize records
    notes: tuple[str, ...]
    cells: tuple[CellResult, ...]

    @property
    def measured(self) -> list[CellResult]:
        """Cells with latency numbers."""
        return [c for c in self.cells if c.latency is not None]

    @property
    def failed(self) -> list[CellResult]:
        """Cells that could not run, each with its error."""
        return [c for c in self.cells if c.error is not None]

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready dicts and lists."""
        return {
            "target": self.target,
            "kind": self.kind,
            "machine": self.machine,
            "config": self.config,
            "inputs": self.inputs,
            "accuracy": self.accuracy,
            "notes": list(self.notes),
            "cells": [c.to_dict() for c in self.cells],
        }


def over_budget(report: ProfileReport, budgets: Mapping[str, float]) -> list[str]:
    """``"label: p99 6.21 ms > 5 ms"`` for every measured cell over a budget (``{"p99_ms": 5.0}``).

    Raises :class:`InputError` when a budget is set but no cell was measured: a gate that checks
    nothing must not pass.
    """
    if not budgets:
        return []
    if not report.measured:
        asked = ", ".join(f"--max-{k.replace('_', '-')} {v:g}" for k, v in budgets.items())
        raise InputError(f"budget {asked}: expected measured cells to check, got none")
    over = []
    for c in report.measured:
        for key, limit in budgets.items():
            value = getattr(c.latency, key)
            if value > limit:
                over.append(f"{c.cell.label}: {key.split('_')[0]} {value:.3f} ms > {limit:g} ms")
    return over
