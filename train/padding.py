"""NaN padding of ragged samples: how unequal-length series usually arrive in one array (aeon's and
sktime's numpy layouts, a ``np.full(..., np.nan)`` filled row by row).

With ``lengths``, whatever lies past each length is padding, NaN included. Without them, a sample
whose missing values (every feature NaN) all sit at its end is read as that long: the lengths are
taken from the padding and said in a ``data:`` line. NaN anywhere else is refused, with its index.
"""

from __future__ import annotations

import os

import numpy as np

from edgernn.runtime.errors import InputError
from edgernn.runtime.ragged import past_lengths_zeroed

FROM_NAN = "lengths read from the trailing NaN padding of x"


def nan_padding(
    where: str | os.PathLike[str], arrays: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], bool]:
    """``arrays`` with x's padding zeroed (and ``lengths`` taken from it when absent); whether the
    lengths came from the padding. NaN inside a sequence is an :class:`InputError` naming it."""
    x = arrays.get("x")
    if x is None or x.dtype.kind != "f" or x.ndim not in (2, 3) or 0 in x.shape or np.isfinite(x).all():
        return arrays, False
    steps = x.shape[1]
    bad = ~np.isfinite(x.reshape(len(x), steps, -1)).all(-1)  # [N, T]: a step with a NaN or inf
    lengths = arrays.get("lengths")
    if lengths is not None:
        if lengths.ndim != 1 or len(lengths) != len(x) or lengths.dtype.kind not in "iu":
            return arrays, False  # the array checks say what is wrong with them
        valid = np.arange(steps)[None, :] < lengths[:, None]
        if (bad & valid).any():
            _refuse(where, x, bad & valid, "within its length")
        return {**arrays, "x": past_lengths_zeroed(x, lengths)}, False
    missing = np.isnan(x.reshape(len(x), steps, -1)).all(-1)  # every feature NaN
    trailing = np.flip(np.cumprod(np.flip(missing, 1), axis=1), 1).astype(bool)  # missing to the end
    if (bad & ~trailing).any():
        _refuse(
            where, x, bad & ~trailing, "before its last value (NaN only at the end of a sequence is padding)"
        )
    found = steps - trailing.sum(1)
    if (found < 1).any():
        i = int(np.flatnonzero(found < 1)[0])
        raise InputError(
            f"{where}: sequence {i} of array 'x' is NaN at every step; expected at least one value"
        )
    return {**arrays, "x": past_lengths_zeroed(x, found), "lengths": found.astype(np.int64)}, True


def _refuse(where: str | os.PathLike[str], x: np.ndarray, steps: np.ndarray, why: str) -> None:
    i, t = (int(v) for v in np.argwhere(steps)[0])
    row = x[i, t] if x.ndim == 3 else x[i, t : t + 1]
    f = int(np.flatnonzero(~np.isfinite(row))[0])
    index = (i, t, f) if x.ndim == 3 else (i, t)
    raise InputError(f"{where}: array 'x' has a NaN or infinite value at index {index}, {why}")
