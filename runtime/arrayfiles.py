"""The one reader of ``.npy`` and ``.npz`` files: every entry point (``run``, ``train``, ``quantize
--eval``/``--calib``, the pipeline) reads arrays here, and checks a batch of sequences with
:func:`check_arrays`.

Nothing here unpickles: an object array is refused. A file must be a regular file (a FIFO would
wait for a writer forever); a ``.npy`` header is checked (shape, dtype, the bytes it promises)
before numpy allocates, and an ``.npz``'s members must fit in memory in all.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

import numpy as np

from .errors import InputError
from .limits import check_tensor_bytes, check_total_bytes, regular_file
from .manifest import FLOAT32_MAX

PER_SAMPLE = ("y", "lengths", "mask", "cond")  # one entry per sequence of 'x'
_NO_PICKLE = "it holds Python objects; edgernn never unpickles (allow_pickle=False), save plain arrays"


def read_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """One array from a ``.npy`` file, its header checked before anything is allocated."""
    path = Path(path)
    regular_file(path)
    try:
        dtype, shape = _npy_header(path)
    except ValueError as err:
        raise InputError(f"{path}: could not read it as NPY ({_short(err)})") from None
    if len(shape) == 0:
        raise InputError(f"{path}: expected an array of rows (at least 1 dimension), got a 0-d scalar")
    array: np.ndarray = np.load(path, allow_pickle=False)
    return array


def _npy_header(path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(f)
        except Exception as err:  # numpy parses the header as a Python literal: many ways to fail
            raise ValueError(f"its .npy header cannot be read: {type(err).__name__}: {err}") from None
        data_bytes = os.fstat(f.fileno()).st_size - f.tell()
    if dtype.hasobject:
        raise ValueError(f"{_NO_PICKLE}: dtype {dtype}")
    check_tensor_bytes(str(path), tuple(shape), dtype.itemsize)
    want = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if want != data_bytes:
        raise InputError(
            f"{path}: header promises shape {list(shape)} {dtype} ({want} bytes), the file holds {data_bytes}"
        )
    return dtype, tuple(shape)


def read_npz(path: str | os.PathLike[str], keys: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """The named arrays of an ``.npz`` file, all of them or those in ``keys`` (others are not read);
    never unpickled, their total size bounded first."""
    path = Path(path)
    regular_file(path)
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError(f"it holds one array, not named arrays ({data.dtype} {list(data.shape)})")
        with data:
            members = data.zip.infolist() if data.zip is not None else []
            check_total_bytes(str(path), sum(int(info.file_size) for info in members))
            arrays = {k: data[k] for k in data.files if keys is None or k in keys}
            foreign = [k for k, v in arrays.items() if not isinstance(v, np.ndarray)]
            if foreign:
                raise ValueError(f"member {foreign[0]!r} is not an .npy array")
    except InputError:
        raise
    except Exception as err:  # a damaged or foreign file fails in numpy or zipfile in many ways
        if "allow_pickle" in str(err):
            raise InputError(f"{path}: {_NO_PICKLE}") from None
        raise InputError(
            f"{path}: expected an .npz file of named arrays, could not read it ({type(err).__name__}: {_short(err)})"
        ) from None
    return arrays


def _short(err: BaseException) -> str:
    detail = " ".join(str(err).split())
    return detail if len(detail) <= 200 else detail[:200] + "…"


def check_arrays(
    where: str | os.PathLike[str], arrays: dict[str, np.ndarray], required: tuple[str, ...] = ("x",)
) -> None:
    """A batch of sequences: ``x`` ``[sequences, time(, features)]`` and the ``required`` arrays
    present; every array finite numbers (``labels``: strings); ``y``, ``lengths``, ``mask`` and
    ``cond`` one entry per sequence; ``lengths`` integers within the time axis of ``x``."""
    missing = [k for k in required if k not in arrays]
    if missing:
        raise InputError(
            f"{where}: missing array {missing[0]!r} (found: {', '.join(sorted(arrays)) or 'none'})"
        )
    for key, array in arrays.items():
        _check_values(where, key, array)
    x = arrays["x"]
    if x.ndim not in (2, 3) or 0 in x.shape:
        raise InputError(f"{where}: array 'x': expected [sequences, time(, features)], got {list(x.shape)}")
    for key in PER_SAMPLE:
        if key in arrays and (arrays[key].ndim == 0 or len(arrays[key]) != len(x)):
            got = list(arrays[key].shape)
            raise InputError(f"{where}: array {key!r}: expected one entry per sequence ({len(x)}), got {got}")
    if "y" in arrays and arrays["y"].ndim > 3:
        raise InputError(f"{where}: array 'y': expected at most 3 dimensions, got {arrays['y'].ndim}")
    lengths = arrays.get("lengths")
    if lengths is not None and (
        lengths.ndim != 1 or lengths.dtype.kind not in "iu" or lengths.min() < 1 or lengths.max() > x.shape[1]
    ):
        raise InputError(
            f"{where}: array 'lengths': expected [{len(x)}] integers in [1, {x.shape[1]}] (the time axis of x), "
            f"got {list(lengths.shape)} {lengths.dtype} in [{lengths.min()}, {lengths.max()}]"
        )


def _check_values(where: str | os.PathLike[str], key: str, array: np.ndarray) -> None:
    if key == "y" and array.dtype.kind in "US":  # class labels as text: training maps them to ids
        return
    if key == "labels":
        if array.dtype.kind not in "US":
            raise InputError(f"{where}: array 'labels': expected strings, got dtype {array.dtype}")
        return
    if array.dtype.kind not in "biuf":
        raise InputError(f"{where}: array {key!r}: expected numbers, got dtype {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise InputError(f"{where}: array {key!r} has a NaN or infinite value at index {bad}")
    if (
        array.dtype.kind == "f"
        and array.dtype.itemsize > 4
        and array.size
        and np.abs(array).max() > FLOAT32_MAX
    ):
        bad = tuple(int(i) for i in np.argwhere(np.abs(array) > FLOAT32_MAX)[0])
        raise InputError(
            f"{where}: array {key!r} has a value beyond the float32 range (±{FLOAT32_MAX:.3g}) that models "
            f"compute in, at index {bad}"
        )
