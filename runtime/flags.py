"""What every command checks of its flags before any work: numbers finite and in range, and output
paths that can be written without touching an input.

Only click and the standard library load here, so each stage's CLI can use it at import time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from .bundle import check_outside
from .errors import InputError
from .fileio import unwritable_file, unwritable_folder

MAX_SEED = 2**32 - 1  # numpy's and torch's seeds both take 32-bit values
MAX_COUNT = 10**7  # warm-up calls, timed calls, epochs, steps: beyond this a run would never end
MAX_SECONDS = 24 * 3600.0  # a duration longer than a day is a typo


def seed_range() -> click.IntRange:
    """A seed: 0 to 2**32 - 1."""
    return click.IntRange(0, MAX_SEED)


def count_range(low: int = 1, high: int = MAX_COUNT) -> click.IntRange:
    """A count of calls, steps or epochs: ``low`` to ``high`` (10**7 by default)."""
    return click.IntRange(low, high)


class FiniteFloat(click.FloatRange):
    """click's FloatRange that also refuses NaN and infinity (FloatRange lets NaN through every bound,
    and inf through an open top)."""

    name = "finite float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (through links and ``..``); a missing path is compared
    by its resolved name."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_outputs(outputs: dict[str, Path | None], reads: Iterable[Path | None]) -> None:
    """Refuse, before any work, an output file that could not be written or would replace an input.

    ``outputs`` maps each flag to its file (None: not given); ``reads`` are the files and folders
    the command reads (a folder, such as a bundle, covers every file inside it). Each output must be
    a file path (not a folder) in an existing folder, none of the inputs, outside every input folder,
    and no other output's path; what exists there must be a regular file or a link to one (see
    :func:`edgernn.runtime.fileio.unwritable_file`: devices, FIFOs, sockets, dangling links refused)."""
    sources = [Path(p) for p in reads if p is not None]
    given = [(flag, Path(path)) for flag, path in outputs.items() if path is not None]
    for i, (flag, path) in enumerate(given):
        if path.is_dir():
            raise InputError(f"{flag} {path}: expected a file path, got a folder")
        why = unwritable_file(path)
        if why is not None:
            raise InputError(
                f"{flag} {path}: is {why}; expected a new path, a regular file or a link to one "
                "(nothing else is replaced)"
            )
        if not path.parent.is_dir():
            raise InputError(f"{flag} {path}: expected a file in an existing folder, found no such folder")
        for source in sources:
            if source.is_dir():
                check_outside(flag, path, source)
            elif same_file(path, source):
                raise InputError(
                    f"{flag} {path}: is the input {source}; expected a path that is none of the command's "
                    "inputs (writing it would replace the input)"
                )
        for other, earlier in given[:i]:
            if same_file(path, earlier):
                raise InputError(f"{flag} {path}: is also {other}'s file; expected a different path for each")


def check_output_folder(flag: str, path: Path | None) -> None:
    """Refuse, before any work, an output folder that exists as anything but a real folder (a link,
    a file, a device, a FIFO): it would be replaced or written through."""
    if path is None:
        return
    why = unwritable_folder(path)
    if why is not None:
        raise InputError(
            f"{flag} {path}: is {why}; expected a new path or a real folder (nothing else is replaced)"
        )
