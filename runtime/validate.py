"""Input checks that run before onnxruntime sees anything.

Each failure is an :class:`InputError` naming the input, the expected shape and dtype, and what was
given. Values that convert without loss (float64 -> float32, int32 -> int64, integral floats -> token
ids) are cast once; everything else is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InputError
from .limits import check_tensor_bytes

Dims = Sequence[int | str]


def describe(dims: Dims, dtype: Any) -> str:
    """``[batch, time, 40] float32``: the form every message uses for a shape and dtype."""
    return f"[{', '.join(str(d) for d in dims)}] {np.dtype(dtype).name}"


def _given(value: np.ndarray) -> str:
    return describe(value.shape, value.dtype)


def _fail(name: str, dims: Dims, dtype: Any, given: str, why: str) -> InputError:
    return InputError(f"input {name!r}: expected {describe(dims, dtype)}, got {given} ({why})")


def as_input(
    name: str,
    value: Any,
    dims: Dims,
    dtype: np.dtype,
    *,
    fixed: dict[int, int] | None = None,
    names: Sequence[str] = (),
    check_finite: bool = True,
) -> np.ndarray:
    """Return ``value`` as a C-contiguous array of ``dtype`` whose shape fits ``dims``.

    ``dims`` holds ints (fixed sizes) and names (any size >= 1); ``fixed`` pins axes to a size, such
    as the batch of a stream; ``names`` says what each axis is ("batch", "features") for messages.
    """
    if fixed:
        dims = [fixed.get(axis, d) for axis, d in enumerate(dims)]
    if isinstance(value, np.ma.MaskedArray):
        raise _fail(
            name, dims, dtype, "a masked array", "the mask would be dropped: fill it first (np.ma.filled)"
        )
    try:
        array = value if type(value) is np.ndarray else np.asarray(value)
    except Exception as err:  # whatever a foreign __array__ raises, the caller gets one InputError
        raise _fail(name, dims, dtype, type(value).__name__, f"not an array: {err}") from None
    if array.ndim != len(dims):
        raise _fail(name, dims, dtype, _given(array), f"rank {array.ndim}, expected rank {len(dims)}")
    if array.size == 0:
        raise _fail(name, dims, dtype, _given(array), "empty input")
    for axis, (want, got) in enumerate(zip(dims, array.shape, strict=True)):
        if isinstance(want, int) and got != want:
            raise _fail(
                name, dims, dtype, _given(array), f"{_axis_name(axis, dims, names)} {got}, expected {want}"
            )
    check_tensor_bytes(f"input {name!r}", array.shape, max(np.dtype(dtype).itemsize, array.dtype.itemsize))
    array = _cast(name, array, dims, dtype)
    if check_finite and array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise _fail(name, dims, dtype, _given(array), f"{bad} NaN or Inf value(s)")
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def _axis_name(axis: int, dims: Dims, names: Sequence[str]) -> str:
    if axis < len(names) and names[axis]:
        return names[axis] if names[axis] != "features" else "feature count"
    return f"size of axis {axis}"


def _cast(name: str, array: np.ndarray, dims: Dims, dtype: np.dtype) -> np.ndarray:
    if array.dtype == dtype:
        return array
    kind, want = array.dtype.kind, np.dtype(dtype).kind
    if want == "f" and kind in "fiu":
        top = float(np.finfo(dtype).max)
        with np.errstate(invalid="ignore"):
            beyond = (
                int(np.count_nonzero(np.abs(array) > top))
                if array.dtype.itemsize > np.dtype(dtype).itemsize or kind != "f"
                else 0
            )
        if beyond:
            raise _fail(
                name,
                dims,
                dtype,
                _given(array),
                f"{beyond} value(s) beyond the {np.dtype(dtype).name} range (±{top:.3g})",
            )
        return array.astype(dtype)
    if want in "iu" and kind == "f" and not (np.isfinite(array).all() and (array == np.round(array)).all()):
        raise _fail(name, dims, dtype, _given(array), "non-integral values cannot be token ids")
    if want in "iu" and kind in "iuf":
        info = np.iinfo(dtype)
        as_number = float if kind == "f" else int  # numpy would cast the bound to float16 and overflow
        low, high = (as_number(array.min()), as_number(array.max())) if array.size else (0, 0)
        if low < info.min or high > info.max:
            shown = [f"{v:.6g}" if kind == "f" else str(v) for v in (low, high)]
            raise _fail(
                name,
                dims,
                dtype,
                _given(array),
                f"values in [{shown[0]}, {shown[1]}] beyond the {np.dtype(dtype).name} range",
            )
        return array.astype(dtype)
    raise _fail(
        name, dims, dtype, _given(array), f"dtype {array.dtype.name} cannot be cast to {np.dtype(dtype).name}"
    )


def check_tokens(name: str, array: np.ndarray, vocab_size: int | None, dims: Dims) -> None:
    """Token ids must lie in ``[0, vocab_size)``."""
    if vocab_size is None:
        return
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= vocab_size:
        raise _fail(
            name,
            dims,
            array.dtype,
            _given(array),
            f"token ids in [{low}, {high}], expected [0, {vocab_size - 1}]",
        )


def check_lengths(name: str, value: Any, batch: int, time: int, shortest: int = 1) -> np.ndarray:
    """``lengths`` is ``[batch]`` int64 with every entry in ``[shortest, time]``."""
    dims = [batch]
    lengths = as_input(name, value, dims, np.dtype(np.int64), names=("batch",))
    low, high = int(lengths.min()), int(lengths.max())
    if low < shortest or high > time:
        raise _fail(
            name,
            dims,
            np.int64,
            _given(lengths),
            f"lengths in [{low}, {high}], expected [{shortest}, {time}]",
        )
    return lengths


def check_min_length(name: str, time: int, min_length: int, how: str = "") -> None:
    """A model whose ``min_length`` is over 1 (say, a head that reads its last 3 steps) cannot run on
    fewer steps; say so before onnxruntime fails somewhere inside the graph."""
    if time < min_length:
        raise InputError(
            f"input {name!r}: this model needs at least {min_length} time steps per call (its min_length), "
            f"got {time}{how}"
        )
