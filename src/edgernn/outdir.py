"""The pipeline's output folder: made fresh, replaced (``--overwrite``, and ``demo`` always) or
continued (``--resume``), and only ever replaced when a marker says a pipeline wrote it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from edgernn.runtime.errors import InputError
from edgernn.runtime.fileio import atomic_write_text

MARKER = ".edgernn-pipeline"  # written first into every pipeline output folder
OWN = ("run", "bundle", "report.md", "summary.json", "loss.png", "grad_norm.png", "latency.png", MARKER)


def is_pipeline_output(out: Path) -> bool:
    """Whether ``out`` holds a pipeline output (its marker)."""
    return (out / MARKER).is_file()


def prepare(
    out: Path, *, overwrite: bool = False, resume: bool = False, reads: Iterable[str | Path | None] = ()
) -> None:
    """Make ``out`` ready for a pipeline run; refuse anything that could lose someone else's files.

    A new or empty folder is used as it is. A previous pipeline output is replaced with
    ``overwrite`` (only the files a pipeline writes are removed) or continued with ``resume``.
    ``reads`` (the data file) must not be one of the paths a pipeline writes or removes.
    """
    _check_reads(out, reads)
    if overwrite and resume:
        raise InputError("--overwrite and --resume: pass one (replace the previous output, or continue it)")
    busy = out.exists() and (not out.is_dir() or any(out.iterdir()))
    if busy and not is_pipeline_output(out):
        raise InputError(f"{out} already exists and is not an edgernn pipeline output; choose another --out")
    if resume and not busy:
        raise InputError(f"--resume: {out} holds no pipeline output to continue; drop --resume")
    if busy and not (overwrite or resume):
        raise InputError(
            f"{out} already holds a pipeline output; pass --overwrite to replace it or --resume to continue it"
        )
    if busy and overwrite:
        for name in OWN:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    if not (out / MARKER).exists():
        atomic_write_text(out / MARKER, json.dumps({"format": "edgernn-pipeline", "version": 1}) + "\n")


def _check_reads(out: Path, reads: Iterable[str | Path | None]) -> None:
    """Refuse an input that is, or lies inside, one of the paths the pipeline writes in ``out``."""
    for read in reads:
        if read is None:
            continue
        real = Path(os.path.realpath(read))
        for name in OWN:
            if real.is_relative_to(os.path.realpath(out / name)):
                raise InputError(
                    f"--data {read}: is {out / name} or inside it, which the pipeline writes; expected "
                    f"the data outside {out}/{name}"
                )
