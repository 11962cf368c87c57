"""``edgernn run``: a bundle (or ``.onnx``) on a CSV/NPY/JSON input, outputs to CSV/NPY/JSON.

Only numpy, onnxruntime and click load on this path: no torch, onnx, matplotlib or rich.
"""

from __future__ import annotations

import io
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import click
import numpy as np

from .arrayfiles import read_npy
from .contract import named_outputs, outputs_note, read_named_inputs, split_timed
from .csvinput import read_csv_rows
from .errors import InputError
from .fileio import atomic_write_bytes, atomic_write_text
from .flags import check_outputs
from .interrupt import interruptible
from .limits import max_threads, read_text_file, regular_file, strict_json
from .ragged import input_lengths, read_npz_x
from .table import Table, csv_line
from .timecheck import check_csv, counter_row
from .vocab import AUTO, PROVIDER_NAMES, VARIANTS

FORMATS = (".csv", ".npy", ".json", ".npz")  # an .npz out holds the main output and further outputs
INPUT_FORMATS = FORMATS  # .npz: 'x', optional 'lengths' (as edgernn train reads them), further inputs
MAX_ROW = 2**53  # the graph counts rows in float64, exact up to 2**53 (older bundles: float32, 2**24)


def read_input(path: Path, manifest: Any = None) -> tuple[np.ndarray, list[str]]:
    """CSV (one row per time step, optional header; columns by name for bundles that name them),
    ``.npy`` or JSON (a nested list, or ``{"x": ...}``); returns the values and notes for the user."""
    suffix = path.suffix.lower()
    if suffix in INPUT_FORMATS:
        regular_file(path)  # before any open: a FIFO would wait for a writer forever
    try:
        if suffix == ".npy":
            return read_npy(path), []
        if suffix == ".npz":
            return read_npz_x(path), []
        if suffix == ".json":
            return _read_json(path), []
        if suffix == ".csv":
            return read_csv_rows(path, manifest)
    except InputError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        detail = " ".join(str(err).split())
        detail = detail if len(detail) <= 200 else detail[:200] + "…"
        raise InputError(f"{path}: could not read it as {suffix[1:].upper()} ({detail})") from None
    raise InputError(
        f"{path}: expected an input file ending in {', '.join(INPUT_FORMATS)}, got {suffix or 'no suffix'!r}"
    )


def _read_json(path: Path) -> np.ndarray:
    data = strict_json(read_text_file(path))
    if isinstance(data, dict):
        if "x" not in data:
            raise InputError(
                f"{path}: expected a list or an object with key 'x', got keys {sorted(data)[:10]}"
            )
        data = data["x"]
    if not isinstance(data, list):
        raise InputError(
            f"{path}: expected a list of rows (or an object with key 'x'), got {type(data).__name__}"
        )
    return np.asarray(data)


def _number(name: str, text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--const {name}={text}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise InputError(f"--const {name}={text}: expected a finite number, got {text!r}")
    return value


def _as_batch(array: np.ndarray, session: Any) -> tuple[np.ndarray, bool]:
    """Add the batch axis to a single sequence (and say whether it did); token CSVs are one column of ids."""
    x = session.signature.x
    if session.manifest.input.kind == "tokens" and array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    return (array[None], True) if array.ndim == len(x.dims) - 1 else (array, False)


def write_output(path: Path, table: Table, results: list[Any], session: Any) -> None:
    """Write ``.csv`` (the table), ``.npy`` (the main output in real units; probabilities for classes),
    ``.json`` (both, plus the provider and variant that ran) or ``.npz`` (the main output by its name);
    ``.json`` and ``.npz`` hold the further outputs too, by name."""
    suffix = path.suffix.lower()
    classes = table.classes
    arrays = [r.probabilities if classes else r.output for r in results]
    stacked = arrays[0] if len(arrays) == 1 else np.stack(arrays, axis=1)
    further = named_outputs(session.manifest, results)
    if suffix == ".csv":
        text = "\n".join([csv_line(table.header or []), *(csv_line(r) for r in table.rows)]) + "\n"
        atomic_write_text(path, text)
    elif suffix in (".npy", ".npz"):
        buffer = io.BytesIO()
        if suffix == ".npy":
            np.save(buffer, stacked)
        else:
            np.savez(buffer, allow_pickle=False, **{session.manifest.output.name: stacked, **further})
        atomic_write_bytes(path, buffer.getvalue())
    elif suffix == ".json":
        data = {"provider": session.provider, "variant": session.variant, "output": stacked.tolist()}
        if classes:
            labels = [r.labels for r in results]
            data["labels"] = (labels[0] if len(labels) == 1 else np.stack(labels, axis=1)).tolist()
        if further:
            data["outputs"] = {name: value.tolist() for name, value in further.items()}
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
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to .csv/.npy/.json/.npz (.json/.npz: with further outputs).",
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
    "--start-row",
    type=click.IntRange(0, MAX_ROW),
    default=None,
    help="Bundles with calendar features: the row of their training CSV this input starts at [default: 0].",
)
@click.option(
    "--allow-gaps",
    is_flag=True,
    help="Dated bundles: run across missing rows (with a note) instead of refusing.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1, max=max_threads()),
    default=None,
    help="Intra-op threads (default: ORT's; at most 4 per core, at least 64).",
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
    start_row: int | None,
    allow_gaps: bool,
    threads: int | None,
    fallback: str,
    state_map: tuple[str, ...],
    constants: tuple[str, ...],
) -> None:
    """Run BUNDLE (a bundle folder or an .onnx file) on INPUT (.csv rows = time steps, .npy, .npz or .json).

    Padded sequences of different lengths: an .npz with arrays 'x' and 'lengths', or JSON
    {"x": [...], "lengths": [...]}. A bundle's further inputs: .npz arrays of their names.

    Prints CSV to stdout unless --out is given. With --stream, rows are fed one at a time through a
    stream that carries the state, and each step's output is printed as soon as it is computed.
    """
    from .session import Session

    _check_out(out_path, bundle, input_path)
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
            streaming=stream,
        )
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)
    if session.inferred_state:
        pairs = ", ".join(f"{p.input} -> {p.output} ({p.rule})" for p in session.inferred_state)
        click.echo(f"note: {bundle.name}: state pairs inferred from the graph: {pairs}", err=True)
    values, notes = read_input(input_path, session.manifest)
    x, unbatched = _as_batch(values, session)
    inputs = read_named_inputs(input_path, session.manifest, unbatched)
    x, lengths = input_lengths(input_path, session, x, stream)
    notes.insert(0, session.describe()["choice"])
    dated = check_csv(input_path, session.manifest.series, allow_gaps) if _is_csv(input_path) else None
    start_row, inferred = counter_row(dated, session.manifest.series, start_row, notes)
    state = _counter(session, x.shape[0], start_row, notes, inferred=inferred)
    echo = out_path is None
    table, results = interruptible(
        lambda: _compute(session, x, stream, echo, notes, state, dated, lengths, inputs), session.interrupt
    )
    _warn_not_finite(results)
    if echo and session.manifest.outputs:
        click.echo(f"note: {outputs_note(named_outputs(session.manifest, results))}", err=True)
    if out_path is not None:
        write_output(out_path, table, results, session)


def _is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def _warn_not_finite(results: list[Any]) -> None:
    """Inputs are refused unless finite, so a non-finite output is the model's (or its float32
    de-normalisation's) overflow: said on stderr, with the count, instead of passing as a forecast."""
    outputs = [np.asarray(r.output) for r in results]
    bad = sum(int(np.count_nonzero(~np.isfinite(o))) for o in outputs if o.dtype.kind == "f")
    if bad:
        total = sum(o.size for o in outputs)
        click.echo(
            f"warning: {bad} of {total} output values are not finite (inf or NaN) although every input "
            "was; the model or its de-normalisation overflowed float32 (inputs far outside the training "
            "range?)",
            err=True,
        )


def _check_out(out_path: Path | None, target: Path, input_path: Path) -> None:
    """``--out``: a known suffix, an existing folder, and neither the input nor inside the bundle run."""
    if out_path is None:
        return
    if out_path.suffix.lower() not in FORMATS:
        raise InputError(f"--out {out_path}: expected a file ending in {', '.join(FORMATS)}")
    check_outputs({"--out": out_path}, [target, input_path])


def _compute(
    session: Any,
    x: np.ndarray,
    stream: bool,
    echo: bool,
    notes: list[str],
    state: dict[str, np.ndarray] | None,
    dated: Any,
    lengths: np.ndarray | None = None,
    inputs: dict[str, np.ndarray] | None = None,
) -> tuple[Table, list[Any]]:
    """Run (or stream) ``x`` into a table. An overflow in de-normalising is data (counted by
    :func:`_warn_not_finite`), not a stderr line; numpy's error state is per thread, so it is set
    here, in the worker thread that computes."""
    frames = session.signature.x.time_axis is None  # third-party frame models: each row is one call
    table = Table(session, batch=x.shape[0] if not frames else 1, stepped=stream or frames, dated=dated)
    with np.errstate(all="ignore"):
        if stream or frames:
            results = _stream(
                session, x, frames, table, echo=stream and echo, notes=notes, state=state, inputs=inputs
            )
            if echo and not stream:
                _print(table.header, table.rows)
        else:
            results = [session.run(x, lengths=lengths, state=state, inputs=inputs)]
            _say(notes)
            table.add(results[0])
            if echo:
                _print(table.header, table.rows)
    return table, results


def _say(notes: list[str]) -> None:
    """Print the notes once the first call has worked (failures end in their one error line)."""
    for note in notes:
        click.echo(f"note: {note}", err=True)
    notes.clear()


def _counter(
    session: Any, batch: int, start_row: int | None, notes: list[str], inferred: bool = False
) -> dict[str, Any] | None:
    """The row counter of a bundle with calendar features (``--start-row``), with a note saying
    where it counts from."""
    series = session.manifest.series
    if series is None or series.counter is None:
        if start_row is not None:
            raise InputError("--start-row: this bundle has no calendar features, so it counts no rows")
        return None
    row = start_row or 0
    how = "from its date" if inferred else "--start-row sets it"
    notes.append(
        f"calendar features: the first input row is row {row} of the training CSV "
        f"({series.step} rows from {series.first}; {how})"
    )
    spec = next((s for s in session.manifest.state if s.input == series.counter), None)
    dtype = np.dtype(spec.dtype) if spec is not None else np.dtype(np.float32)  # float64: exact past 2**24
    if dtype == np.float32 and row > 2**24:
        raise InputError(
            f"--start-row {row}: this bundle counts rows in float32, exact up to {2**24}; export it again "
            "with this edgernn for a float64 counter"
        )
    return {series.counter: np.full((1, batch, 1), row, dtype)}


def _stream(
    session: Any,
    x: np.ndarray,
    frames: bool,
    table: Table,
    *,
    echo: bool,
    notes: list[str],
    state: dict[str, np.ndarray] | None = None,
    inputs: dict[str, np.ndarray] | None = None,
) -> list[Any]:
    rows = x if frames else np.moveaxis(x, session.signature.x.time_axis, 0)
    timed, held = split_timed(session.manifest, inputs, len(rows))
    s = session.stream(1 if frames else x.shape[0], inputs=held)
    if state:
        s.state = {**s.state, **state}
    results = []
    for t, row in enumerate(rows):
        step_inputs = {name: np.take(v, t, axis=axis) for name, (v, axis) in timed.items()} or None
        result = s.step(row[None] if frames else row, inputs=step_inputs)
        _say(notes)
        results.append(result)
        new = table.add(result, step=t)
        if echo:
            if t == 0:
                click.echo(csv_line(table.header or []))
            for r in new:
                click.echo(csv_line(r))
            sys.stdout.flush()
    return results


def _print(header: list[str] | None, rows: list[list[Any]]) -> None:
    click.echo(csv_line(header or []))
    for row in rows:
        click.echo(csv_line(row))
