"""``edgernn run``: a bundle (or ``.onnx``) on a CSV/NPY/JSON input, outputs to CSV/NPY/JSON.

Only numpy, onnxruntime and click load on this path: no torch, onnx, matplotlib or rich.
"""

from __future__ import annotations

import io
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import click
import numpy as np

from .errors import InputError
from .fileio import atomic_write_bytes, atomic_write_text
from .vocab import AUTO, PROVIDER_NAMES, VARIANTS

FORMATS = (".csv", ".npy", ".json")


def read_input(path: Path) -> np.ndarray:
    """CSV (one row per time step, optional header), ``.npy`` or JSON (a nested list, or ``{"x": ...}``)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8-sig"))
            if isinstance(data, dict):
                if "x" not in data:
                    raise InputError(
                        f"{path}: expected a list or an object with key 'x', got keys {sorted(data)[:10]}"
                    )
                data = data["x"]
            return np.asarray(data)
        if suffix == ".csv":
            return _read_csv(path)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        detail = " ".join(str(err).split())
        detail = detail if len(detail) <= 200 else detail[:200] + "…"
        raise InputError(f"{path}: could not read it as {suffix[1:].upper()} ({detail})") from None
    raise InputError(
        f"{path}: expected an input file ending in {', '.join(FORMATS)}, got {suffix or 'no suffix'!r}"
    )


def _read_csv(path: Path) -> np.ndarray:
    """Rows of numbers (one per time step) after an optional header; a UTF-8 BOM and CRLF are fine."""
    lines = [
        (n, ln) for n, ln in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1) if ln.strip()
    ]
    header = lines[0][1].split(",") if lines and not _is_number(lines[0][1].split(",")[0]) else None
    body = lines[1:] if header else lines
    if not body:
        raise InputError(f"{path}: expected at least one row of values, found none")
    width = len(header) if header else len(body[0][1].split(","))
    numpy_says = ""
    try:
        values = np.loadtxt([ln for _, ln in body], delimiter=",", ndmin=2)
        if values.shape[1] == width:
            return values
    except ValueError as err:
        numpy_says = f" ({str(err)[:200]})"  # the loop below finds the bad line and cell to name them
    like = "the header" if header else f"line {body[0][0]}"
    for line, text in body:
        cells = text.split(",")
        if len(cells) != width:
            raise InputError(f"{path}: line {line} has {len(cells)} fields, expected {width} like {like}")
        for i, cell in enumerate(cells):
            if not _is_number(cell):
                name = repr(header[i].strip()) if header else str(i + 1)
                shown = repr(cell[:20]) + (f"… ({len(cell)} characters)" if len(cell) > 20 else "")
                raise InputError(f"{path}: line {line}, column {name}: {shown} is not a number")
    raise InputError(f"{path}: expected rows of numbers separated by commas{numpy_says}")


def _number(name: str, text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise InputError(f"--const {name}={text}: expected a number, got {text!r}") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _as_batch(array: np.ndarray, session: Any) -> np.ndarray:
    """Add the batch axis to a single sequence; token CSVs are one column of ids."""
    x = session.signature.x
    if session.manifest.input.kind == "tokens" and array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    return array[None] if array.ndim == len(x.dims) - 1 else array


class Table:
    """Outputs as rows: ``[sequence,] [step,] values`` where values are labels + probabilities or numbers."""

    def __init__(self, session: Any, batch: int, stepped: bool) -> None:
        spec = session.manifest.output
        self.classes = spec.kind == "classes"
        self.labels = spec.labels
        self.batch, self.stepped, self.name = batch, stepped, spec.name
        self.rows: list[list[Any]] = []
        self.header: list[str] | None = None

    def add(self, result: Any, step: int | None = None) -> list[list[Any]]:
        """Append the rows of one result (``output`` of ``[batch, out]`` or ``[batch, time, out]``)."""
        values = result.probabilities if self.classes else result.output
        labels = result.labels if self.classes else None
        values = (
            values.reshape(values.shape[0], -1, values.shape[-1])
            if values.ndim > 1
            else values[:, None, None]
        )
        if self.header is None:
            self.header = self._header(values.shape[-1], step is not None or values.shape[1] > 1)
        new = []
        for b in range(values.shape[0]):
            for t in range(values.shape[1]):
                row: list[Any] = [b] if self.batch > 1 else []
                if self.stepped or values.shape[1] > 1:
                    row.append(step if step is not None else t)
                if labels is not None:
                    row.append(np.asarray(labels).reshape(values.shape[0], -1)[b, t].item())
                row += [float(v) for v in values[b, t]]
                new.append(row)
        self.rows += new
        return new

    def _header(self, width: int, stepped: bool) -> list[str]:
        self.stepped = self.stepped or stepped
        cols = (["sequence"] if self.batch > 1 else []) + (["step"] if self.stepped else [])
        if self.classes:
            names = self.labels or tuple(str(i) for i in range(width))
            return cols + ["label"] + [f"p_{n}" for n in names]
        return cols + ([self.name] if width == 1 else [f"{self.name}_{i}" for i in range(width)])


def csv_line(row: list[Any]) -> str:
    return ",".join(f"{v:.7g}" if isinstance(v, float) else str(v) for v in row)


def write_output(path: Path, table: Table, results: list[Any], session: Any) -> None:
    """Write ``.csv`` (the table), ``.npy`` (the main output in real units; probabilities for classes)
    or ``.json`` (both, plus the provider and variant that ran)."""
    suffix = path.suffix.lower()
    classes = table.classes
    arrays = [r.probabilities if classes else r.output for r in results]
    stacked = arrays[0] if len(arrays) == 1 else np.stack(arrays, axis=1)
    if suffix == ".csv":
        text = "\n".join([",".join(table.header or []), *(csv_line(r) for r in table.rows)]) + "\n"
        atomic_write_text(path, text)
    elif suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, stacked)
        atomic_write_bytes(path, buffer.getvalue())
    elif suffix == ".json":
        data = {"provider": session.provider, "variant": session.variant, "output": stacked.tolist()}
        if classes:
            labels = [r.labels for r in results]
            data["labels"] = (labels[0] if len(labels) == 1 else np.stack(labels, axis=1)).tolist()
        atomic_write_text(path, json.dumps(data) + "\n")
    else:
        raise InputError(
            f"--out {path}: expected a file ending in {', '.join(FORMATS)}, got {suffix or 'none'!r}"
        )


def _pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise InputError(f"{what}: expected NAME=VALUE, got {item!r}")
        out[key] = value
    return out


@click.command("run")
@click.argument("bundle", type=click.Path(exists=True, path_type=Path))
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), help="Write to .csv/.npy/.json."
)
@click.option("--provider", default=AUTO, show_default=True, type=click.Choice([AUTO, *PROVIDER_NAMES]))
@click.option(
    "--variant",
    default="auto",
    show_default=True,
    type=click.Choice([AUTO, *VARIANTS]),
)
@click.option("--stream", is_flag=True, help="Feed rows one at a time; print each output as it comes.")
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads (default: ORT's)."
)
@click.option("--fallback", default="warn", show_default=True, type=click.Choice(["warn", "error", "silent"]))
@click.option("--state-map", multiple=True, metavar="IN=OUT", help="State pair of a bare .onnx (repeatable).")
@click.option(
    "--const", "constants", multiple=True, metavar="NAME=VALUE", help="Pin an extra input (repeatable)."
)
def run_command(
    bundle: Path,
    input_path: Path,
    out_path: Path | None,
    provider: str,
    variant: str,
    stream: bool,
    threads: int | None,
    fallback: str,
    state_map: tuple[str, ...],
    constants: tuple[str, ...],
) -> None:
    """Run BUNDLE (a bundle folder or an .onnx file) on INPUT (.csv rows = time steps, .npy or .json).

    Prints CSV to stdout unless --out is given. With --stream, rows are fed one at a time through a
    stream that carries the state, and each step's output is printed as soon as it is computed.
    """
    from .session import Session

    pinned = {k: _number(k, v) for k, v in _pairs(constants, "--const").items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = Session.load(
            bundle,
            provider=provider,
            variant=variant,
            threads=threads,
            fallback=fallback,
            state_map=_pairs(state_map, "--state-map") or None,
            constants=pinned or None,
        )
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)
    if session.inferred_state:
        pairs = ", ".join(f"{p.input} -> {p.output} ({p.rule})" for p in session.inferred_state)
        click.echo(f"note: {bundle.name}: state pairs inferred from the graph: {pairs}", err=True)
    if out_path is not None and out_path.suffix.lower() not in FORMATS:
        raise InputError(f"--out {out_path}: expected a file ending in {', '.join(FORMATS)}")
    if out_path is not None and not out_path.parent.is_dir():
        raise InputError(f"--out {out_path}: expected a file in an existing folder, found no such folder")
    x = _as_batch(read_input(input_path), session)
    frames = session.signature.x.time_axis is None  # third-party frame models: each row is one call
    table = Table(session, batch=x.shape[0] if not frames else 1, stepped=stream or frames)
    echo = out_path is None
    if stream or frames:
        results = _stream(session, x, frames, table, echo=stream and echo)
        if echo and not stream:
            _print(table.header, table.rows)
    else:
        results = [session.run(x)]
        table.add(results[0])
        if echo:
            _print(table.header, table.rows)
    if out_path is not None:
        write_output(out_path, table, results, session)


def _stream(session: Any, x: np.ndarray, frames: bool, table: Table, *, echo: bool) -> list[Any]:
    rows = x if frames else np.moveaxis(x, session.signature.x.time_axis, 0)
    s = session.stream(1 if frames else x.shape[0])
    results = []
    for t, row in enumerate(rows):
        result = s.step(row[None] if frames else row)
        results.append(result)
        new = table.add(result, step=t)
        if echo:
            if t == 0:
                click.echo(",".join(table.header or []))
            for r in new:
                click.echo(csv_line(r))
            sys.stdout.flush()
    return results


def _print(header: list[str] | None, rows: list[list[Any]]) -> None:
    click.echo(",".join(header or []))
    for row in rows:
        click.echo(csv_line(row))
