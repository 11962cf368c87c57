"""Long-format CSV of labelled sequences, the way sensor recordings usually arrive: one row per time
step, a sequence-id column, an optional time column, feature columns and a label column::

    sequence,time,ax,ay,az,label
    walk-01,0.00,0.12,9.81,0.30,walk
    walk-01,0.02,0.15,9.79,0.28,walk
    ...

It is recognised by its column names: a sequence column named ``sequence``, ``sequence_id``,
``series`` or ``id``, and a label column named ``label`` or ``class``; an optional time column
``time``, ``t``, ``step`` or ``timestamp`` (numbers) orders the rows within each sequence (otherwise
the file order does). Every other column is a feature. Sequences keep their first-appearance
order; each must carry one label. The result is the arrays an NPZ would hold (``x`` zero-padded,
``lengths`` when the sequences differ in length, ``y`` as given), so everything after reading is
the NPZ path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgernn.runtime.csvinput import number_cell
from edgernn.runtime.errors import InputError

from .readers import _csv_rows

SEQUENCE_NAMES = ("sequence", "sequence_id", "series", "id")
LABEL_NAMES = ("label", "class")
TIME_NAMES = ("time", "t", "step", "timestamp")


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.lower() for h in header]
    return next((lowered.index(n) for n in names if n in lowered), None)


def is_long_format(path: Path) -> bool:
    """Whether the CSV's header names a sequence column and a label column."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            header = [h.strip() for h in f.readline().split(",")]
    except (OSError, UnicodeDecodeError):
        return False
    return _find(header, SEQUENCE_NAMES) is not None and _find(header, LABEL_NAMES) is not None


def read_long_csv(path: Path) -> dict[str, np.ndarray]:
    """The NPZ-like arrays of a long-format CSV (``x``, ``y``, and ``lengths`` when ragged)."""
    header, body = _csv_rows(path)
    seq, label = _find(header, SEQUENCE_NAMES), _find(header, LABEL_NAMES)
    time = _find(header, TIME_NAMES)
    features = [i for i in range(len(header)) if i not in (seq, label, time)]
    if not features:
        raise InputError(
            f"{path}: long format (columns {header[seq]!r}, {header[label]!r}) needs feature columns"
        )
    rows: dict[str, list] = {}
    labels: dict[str, tuple[int, str]] = {}
    for line, row in body:
        if len(row) != len(header):
            raise InputError(f"{path}: line {line}: {len(row)} cells, expected {len(header)} like the header")
        key, cls = row[seq].strip(), row[label].strip()
        first = labels.setdefault(key, (line, cls))
        if first[1] != cls:
            raise InputError(
                f"{path}: line {line}: sequence {key!r} has label {cls!r}, but {first[1]!r} on line {first[0]}; "
                "expected one label per sequence"
            )
        order = (
            number_cell(path, line, repr(header[time]), row[time])
            if time is not None
            else len(rows.get(key, ()))
        )
        values = [number_cell(path, line, repr(header[i]), row[i]) for i in features]
        rows.setdefault(key, []).append((order, values))
    series = [
        np.array([v for _, v in sorted(steps, key=lambda s: s[0])], np.float32) for steps in rows.values()
    ]
    steps = max(len(s) for s in series)
    x = np.zeros((len(series), steps, len(features)), np.float32)
    for i, s in enumerate(series):
        x[i, : len(s)] = s
    y = np.array([labels[k][1] for k in rows])
    arrays = {"x": x, "y": _as_ids(y)}
    lengths = np.array([len(s) for s in series], np.int64)
    if (lengths != steps).any():
        arrays["lengths"] = lengths
    return arrays


def _as_ids(y: np.ndarray) -> np.ndarray:
    """Integer labels stay integers (their values are kept as labels); anything else stays text."""
    try:
        values = y.astype(np.int64)
    except ValueError:
        return y
    return values if np.array_equal(values.astype(str), y) else y
