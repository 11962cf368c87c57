"""Bounds on what a hostile or careless input may cost: memory, threads, JSON depth and sizes.

Every check names what was asked and the bound it broke, so a refusal is one clear line, never a
``MemoryError`` or an hour of work.
"""

from __future__ import annotations

import functools
import json
import os
import stat
from pathlib import Path
from typing import Any

from .errors import InputError

MAX_JSON_DEPTH = 64  # manifests and input files nest a few levels; 64 leaves room and stops recursion
MAX_JSON_INT_DIGITS = 30  # ints beyond 10^30 are never sizes; json.loads would parse 10^5000 slowly
MAX_DIM = 1 << 31  # no axis of a recurrent model's tensor is longer than this
MEMORY_SHARE = 0.5  # a single tensor may take at most half of the machine's memory


@functools.cache
def memory_bytes() -> int:
    """Physical memory of this machine (a large number where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 40


def max_threads() -> int:
    """The most intra-op threads a session may ask for: ``max(64, 4 x cores)``."""
    return max(64, 4 * (os.cpu_count() or 1))


def check_tensor_bytes(what: str, shape: tuple[int, ...], itemsize: int) -> None:
    """Refuse a tensor of ``shape`` that could not fit in memory, before anything allocates it."""
    count = 1
    for d in shape:
        if d > MAX_DIM:
            raise InputError(f"{what}: dim {d} of {list(shape)} exceeds the bound {MAX_DIM}")
        count *= d
    size, limit = count * itemsize, int(memory_bytes() * MEMORY_SHARE)
    if size > limit:
        raise InputError(
            f"{what}: shape {list(shape)} needs {size / 2**30:.1f} GiB, over the {limit / 2**30:.1f} GiB "
            "bound (half of this machine's memory)"
        )


def check_total_bytes(what: str, size: int) -> None:
    """Refuse buffers of ``size`` bytes in all that could not fit in memory, before allocating them."""
    limit = int(memory_bytes() * MEMORY_SHARE)
    if size > limit:
        raise InputError(
            f"{what}: needs {size / 2**30:.1f} GiB, over the {limit / 2**30:.1f} GiB bound (half of this "
            "machine's memory)"
        )


def regular_file(path: str | os.PathLike[str]) -> int:
    """The size of ``path`` in bytes: a regular file (links followed), refused before it is opened,
    since opening a FIFO waits for a writer and a device such as /dev/zero never ends."""
    try:
        info = os.stat(path)
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({err.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a folder"
            if stat.S_ISDIR(info.st_mode)
            else "a FIFO"
            if stat.S_ISFIFO(info.st_mode)
            else "a device or socket"
        )
        raise InputError(f"{path}: expected a regular file, got {kind}")
    return info.st_size


def read_text_file(path: str | os.PathLike[str]) -> str:
    """A UTF-8 text input (a BOM is dropped), refused when it is not a regular file or could not fit
    in memory as text."""
    check_total_bytes(str(path), 8 * regular_file(path))  # bytes -> str and the parsed rows
    return Path(path).read_text(encoding="utf-8-sig")


def _int(text: str) -> int:
    digits = text.lstrip("-")
    if len(digits) > MAX_JSON_INT_DIGITS:
        raise ValueError(f"integer with {len(digits)} digits exceeds the bound of {MAX_JSON_INT_DIGITS}")
    return int(text)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nesting deeper than {MAX_JSON_DEPTH} levels")
        level = [
            v
            for item in level
            if isinstance(item, dict | list)
            for v in (item.values() if isinstance(item, dict) else item)
            if isinstance(v, dict | list)
        ]
    return depth


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses (``ValueError``) what edgernn never writes: nesting deeper than
    :data:`MAX_JSON_DEPTH`, ints longer than :data:`MAX_JSON_INT_DIGITS` digits and duplicate keys.
    A leading byte-order mark is skipped, as in every text file edgernn reads."""
    text = text.removeprefix("\ufeff")
    try:
        value = json.loads(text, parse_int=_int, object_pairs_hook=_unique)
    except RecursionError:
        raise ValueError(f"nesting deeper than {MAX_JSON_DEPTH} levels") from None
    _depth(value)
    return value
