"""The rows ``edgernn run`` prints or writes: ``[sequence,] [step,] [forecast time,] values [, warmup]``."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np


class Table:
    """Outputs as rows: ``[sequence,] [step,] values`` where values are labels + probabilities or numbers."""

    def __init__(self, session: Any, batch: int, stepped: bool, dated: Any = None) -> None:
        spec = session.manifest.output
        self.dated = dated  # a TimeCheck: each step's row gets the time it forecasts and a warm-up flag
        self.time_name = session.manifest.series.time_column if dated is not None else None
        self.classes = spec.kind == "classes"
        self.labels = spec.labels
        self.batch, self.stepped, self.name = batch, stepped, spec.name
        self.names = spec.names
        self.rows: list[list[Any]] = []
        self.header: list[str] | None = None

    def add(self, result: Any, step: int | None = None) -> list[list[Any]]:
        """Append the rows of one result (``output`` of ``[batch, out]`` or ``[batch, time, out]``)."""
        values = result.probabilities if self.classes else result.output
        labels = result.labels if self.classes else None
        values = (
            values.reshape(values.shape[0], -1, values.shape[-1])
            if values.ndim > 1
            else values[:, None, None]
        )
        if self.header is None:
            self.header = self._header(values.shape[-1], step is not None or values.shape[1] > 1)
        new = []
        for b in range(values.shape[0]):
            for t in range(values.shape[1]):
                row: list[Any] = [b] if self.batch > 1 else []
                index = step if step is not None else t
                if self.stepped or values.shape[1] > 1:
                    row.append(index)
                    row += [self.dated.forecast[index]] if self.dated else []
                if labels is not None:
                    row.append(np.asarray(labels).reshape(values.shape[0], -1)[b, t].item())
                row += [float(v) for v in values[b, t]]
                row += [int(index < self.dated.warmup)] if self.dated and self.stepped else []
                new.append(row)
        self.rows += new
        return new

    def _header(self, width: int, stepped: bool) -> list[str]:
        self.stepped = self.stepped or stepped
        cols = (["sequence"] if self.batch > 1 else []) + (["step"] if self.stepped else [])
        cols += [str(self.time_name)] if self.dated and self.stepped else []
        tail = ["warmup"] if self.dated and self.stepped else []
        if self.classes:
            names = self.labels or tuple(str(i) for i in range(width))
            return cols + ["label"] + [f"p_{n}" for n in names] + tail
        if self.names is not None and len(self.names) == width:
            return cols + list(self.names) + tail
        return cols + ([self.name] if width == 1 else [f"{self.name}_{i}" for i in range(width)]) + tail


def csv_line(row: list[Any]) -> str:
    """One CSV line; a field holding a comma, a quote or a newline (a label) is quoted."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")  # with "\n" here, a field holding one is quoted
    writer.writerow([f"{v:.7g}" if isinstance(v, float) else v for v in row])
    return buffer.getvalue()[:-1]
