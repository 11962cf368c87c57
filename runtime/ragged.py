"""Padded batches of sequences of different lengths for ``edgernn run``: an ``.npz`` with ``x`` and
``lengths`` (as ``edgernn train`` reads them) or JSON ``{"x": ..., "lengths": ...}``, and the refusal
of a padded batch without lengths for a bundle trained on ragged data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .arrayfiles import read_npz
from .errors import InputError
from .limits import read_text_file, strict_json


def read_npz_x(path: Path) -> np.ndarray:
    """The array 'x' of an .npz input (its 'lengths' are read by :func:`read_lengths`)."""
    arrays = read_npz(path, ("x",))
    if "x" not in arrays:
        raise InputError(f"{path}: expected an array 'x' (and optional 'lengths')")
    return arrays["x"]


def read_lengths(path: Path, batch: int) -> np.ndarray | None:
    """The valid steps of each sequence: an .npz array 'lengths', or a JSON object's key 'lengths'."""
    suffix = path.suffix.lower()
    lengths: Any = None
    if suffix == ".npz":
        lengths = read_npz(path, ("lengths",)).get("lengths")
    elif suffix == ".json":
        data = strict_json(read_text_file(path))
        lengths = data.get("lengths") if isinstance(data, dict) else None
    if lengths is None:
        return None
    array: np.ndarray = np.asarray(lengths)
    if array.ndim != 1 or len(array) != batch or array.dtype.kind not in "iu":
        raise InputError(
            f"{path}: 'lengths' must be {batch} integers (one per sequence), got {array.dtype} {list(array.shape)}"
        )
    result: np.ndarray = array.astype(np.int64)
    return result


def input_lengths(
    path: Path, session: Any, x: np.ndarray, stream: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The lengths an input file gives (checked against the bundle) or None, and ``x`` with its
    padding past them zeroed (see :func:`past_lengths_zeroed`)."""
    lengths = read_lengths(path, len(x))
    check_ragged(path, session, len(x), lengths)
    if lengths is not None and stream:
        raise InputError(f"{path}: --stream feeds every row; lengths are for whole sequences (drop --stream)")
    return past_lengths_zeroed(x, lengths), lengths


def check_ragged(path: Path, session: Any, batch: int, lengths: np.ndarray | None) -> None:
    """A bundle trained on sequences of different lengths reads a padded batch only with its lengths."""
    if lengths is None and batch > 1 and session.manifest.input.lengths:
        raise InputError(
            f"{path}: {batch} sequences without lengths, but the bundle was trained on sequences of different "
            "lengths, so padding would be read as data; give 'lengths' (an .npz array or a JSON key), or one "
            "sequence per file"
        )
    if lengths is not None and not session.manifest.input.lengths:
        raise InputError(
            f"{path}: has 'lengths', but the bundle has no lengths input; give equal-length sequences"
        )


def past_lengths_zeroed(x: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """``x`` (batch-first) with every step past its row's length set to 0: padding is never read, so
    a file padded with NaN (as ragged sets often are) runs as one padded with zeros."""
    if lengths is None or x.dtype.kind != "f" or x.ndim < 2 or len(lengths) != len(x):
        return x
    padding = np.arange(x.shape[1])[None, :] >= np.asarray(lengths)[:, None]
    if not padding.any():
        return x
    out: np.ndarray = x.copy()
    out[padding] = 0.0
    return out
