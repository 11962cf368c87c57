"""Padded batches of sequences of different lengths for ``edgernn run``: an ``.npz`` with ``x`` and
``lengths`` (as ``edgernn train`` reads them) or JSON ``{"x": ..., "lengths": ...}``, and the refusal
of a padded batch without lengths for a bundle trained on ragged data."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .limits import read_text_file, strict_json


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """'x' and, when present, 'lengths' of an .npz (never unpickled)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "x" not in npz.files:
                raise InputError(
                    f"{path}: expected an array 'x' (and optional 'lengths'), got {sorted(npz.files)[:10]}"
                )
            return {k: npz[k] for k in ("x", "lengths") if k in npz.files}
    except zipfile.BadZipFile as err:
        raise ValueError(f"not an .npz file ({err})") from None


def read_lengths(path: Path, batch: int) -> np.ndarray | None:
    """The valid steps of each sequence: an .npz array 'lengths', or a JSON object's key 'lengths'."""
    suffix = path.suffix.lower()
    if suffix == ".npz":
        lengths = read_npz(path).get("lengths")
    elif suffix == ".json":
        data = strict_json(read_text_file(path))
        lengths = data.get("lengths") if isinstance(data, dict) else None
    else:
        return None
    if lengths is None:
        return None
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or len(lengths) != batch or lengths.dtype.kind not in "iu":
        raise InputError(
            f"{path}: 'lengths' must be {batch} integers (one per sequence), got {lengths.dtype} {lengths.shape}"
        )
    return lengths.astype(np.int64)


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
