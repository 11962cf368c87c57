"""The pipeline's output folder: made fresh, replaced (``--overwrite``, and ``demo`` always) or
continued (``--resume``), only ever replaced when a marker says a pipeline wrote it, and written by
one pipeline at a time (a lock on the folder, held for the whole run)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edgernn.runtime.errors import InputError
from edgernn.runtime.fileio import atomic_write_text, folder_lock
from edgernn.runtime.flags import check_output_folder

MARKER = ".edgernn-pipeline"  # written first into every pipeline output folder
FOLDERS = ("run", "run.targets-alone", "bundle")
FILES = ("report.md", "summary.json", "loss.png", "grad_norm.png", "latency.png", MARKER)
OWN = FOLDERS + FILES  # everything a pipeline writes in its folder, and all --overwrite removes


def is_pipeline_output(out: Path) -> bool:
    """Whether ``out`` holds a pipeline output (its marker)."""
    return (out / MARKER).is_file()


@contextmanager
def claim(
    out: Path, *, overwrite: bool = False, resume: bool = False, reads: Iterable[str | Path | None] = ()
) -> Iterator[None]:
    """Make ``out`` ready for a pipeline run and hold it for the ``with`` block; refuse anything that
    could lose someone else's files, and a second pipeline writing ``out`` at the same time.

    A new or empty folder is used as it is. A previous pipeline output is replaced with
    ``overwrite`` (only the files a pipeline writes are removed, after every one was checked) or
    continued with ``resume``. ``reads`` (the data file) must not be one of the paths a pipeline
    writes or removes."""
    out = Path(out)
    _check_reads(out, reads)
    if overwrite and resume:
        raise InputError("--overwrite and --resume: pass one (replace the previous output, or continue it)")
    check_output_folder("--out", out)
    if resume and not out.exists():
        raise InputError(f"--resume: {out} holds no pipeline output to continue; drop --resume")
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out, wait=False):
        _check_contents(out, overwrite, resume)
        if overwrite:
            _remove_own(out)
        if not (out / MARKER).exists():
            atomic_write_text(out / MARKER, json.dumps({"format": "edgernn-pipeline", "version": 1}) + "\n")
        yield


def _check_contents(out: Path, overwrite: bool, resume: bool) -> None:
    """What ``out`` holds allows the run: nothing, or a pipeline output with a flag saying what to do,
    whose own paths are all what a pipeline writes there (real folders, regular files)."""
    busy = any(out.iterdir())
    if busy and not is_pipeline_output(out):
        raise InputError(f"{out} already exists and is not an edgernn pipeline output; choose another --out")
    if resume and not busy:
        raise InputError(f"--resume: {out} holds no pipeline output to continue; drop --resume")
    if busy and not (overwrite or resume):
        raise InputError(
            f"{out} already holds a pipeline output; pass --overwrite to replace it or --resume to continue it"
        )
    for name in OWN:
        try:
            mode = os.lstat(out / name).st_mode
        except FileNotFoundError:
            continue
        folder = name in FOLDERS
        if not (stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode)):
            kind = (
                "a link" if stat.S_ISLNK(mode) else "not a " + ("real folder" if folder else "regular file")
            )
            raise InputError(
                f"--out {out}: {out / name} is {kind}; expected the {'folder' if folder else 'file'} a "
                "pipeline writes there (nothing was removed; move it away)"
            )


def _remove_own(out: Path) -> None:
    for name in OWN:
        path = out / name
        if name in FOLDERS and path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


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
