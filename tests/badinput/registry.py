"""The corpus registry. A case builds its bad input in its own folder and returns what to run: a list
of ``edgernn`` arguments (CLI) or a callable (Python API). ``expect`` holds fragments of the one message.

The cases live in ``cases_files`` (model files, bundles, checkpoints) and ``cases_values`` (tensors,
input files, flags); importing this package's ``all_cases`` registers both."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgernn.runtime import EdgernnError, Session

from . import inputs


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Path, inputs.Base], list | Callable]
    expect: tuple[str, ...]
    exit_code: int = 1  # CLI cases; click usage errors exit 2
    error: type[Exception] = EdgernnError  # API cases
    torch: bool = False


CASES: dict[str, Case] = {}


def case(id: str, *expect: str, exit_code: int = 1, error: type[Exception] = EdgernnError, torch=False):
    def register(build):
        CASES[id] = Case(id, build, expect, exit_code, error, torch)
        return build

    return register


def load_session(base: inputs.Base) -> Session:
    """The good bundle on the CPU, one thread."""
    return Session.load(base.bundle, provider="cpu", threads=1)


def write_csv(tmp: Path, text: str, name: str = "x.csv") -> Path:
    (tmp / name).write_bytes(text.encode("utf-8"))
    return tmp / name
