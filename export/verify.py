"""The verification gate: PyTorch against onnxruntime on outputs and final states, at several
lengths and batch sizes, streamed step by step and in chunks, and on ragged batches."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from edgernn.runtime.records import Check
from edgernn.runtime.vocab import CPU

from .conditioning import float64_runner, judged_against_float64
from .config import ExportConfig
from .further_axes import cut_further
from .further_feed import make_further, slice_steps, take_rows
from .further_outputs import joined, reorder_outputs, row_outputs


@dataclass(frozen=True)
class GraphIO:
    """What the verifier needs to know to feed the graph."""

    state_shapes: tuple[tuple[int, int], ...]  # (layers*dirs, hidden) per state tensor
    features: int | None  # None for token inputs
    vocab_size: int | None
    lengths: bool
    per_step: bool  # many_to_many-style output [batch, time, out]
    streamable: bool
    example_time: int
    input_names: tuple[str, ...]
    min_length: int = 1  # the fewest steps the module runs on: checks never go below it
    state_dtypes: tuple[str, ...] = ()  # per state tensor ("float64": a row counter); () = all float32
    further: tuple = ()  # FurtherSpec per further input, after x, the states and the lengths
    one_step: bool = False  # x takes one step per call (a decoder step): every check runs T=1
    outputs: tuple = ()  # FurtherSpec per further output, after y and the states


REAL_LIMIT = 512  # real sequences the gate compares (the whole test split of most runs)
REAL_BATCH = 64


def _past_training(check: Check, train_length: int) -> Check:
    """A check on random inputs longer than the training length: a failure becomes a warning."""
    if check.passed or not _longer(check, train_length):
        return check
    return dataclasses.replace(
        check, warning=True, detail=f"{check.detail} (random inputs past the training length)".strip()
    )


def _longer(check: Check, train_length: int) -> bool:
    """Whether the check ran random inputs longer than ``train_length`` steps."""
    found = re.search(r"T=(\d+)", check.name)
    return bool(found and int(found.group(1)) > train_length) or check.name.startswith("ragged")


def compare_outputs(
    name: str, got: list[np.ndarray], want: list[np.ndarray], atol: float, rtol: float, detail: str = ""
) -> Check:
    """Pass when every array is allclose(atol, rtol); report the max abs diff over all of them."""
    if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want, strict=False)):
        shapes = f"{[g.shape for g in got]} vs {[w.shape for w in want]}"
        return Check(name, False, float("inf"), f"shape mismatch {shapes}")
    diff = max(float(np.max(np.abs(g - w), initial=0.0)) for g, w in zip(got, want, strict=True))
    ok = all(np.allclose(g, w, atol=atol, rtol=rtol) for g, w in zip(got, want, strict=True))
    return Check(name, ok, diff, detail)


def cpu_session(path: Path) -> ort.InferenceSession:
    """A plain onnxruntime CPU session, the reference every export check runs on. Its own log is
    quiet: failures become :class:`Check` results or typed errors."""
    options = ort.SessionOptions()
    options.log_severity_level = 4
    return ort.InferenceSession(str(path), options, providers=[CPU])


class Verifier:
    """Runs the same inputs through the torch wrapper and an onnxruntime CPU session."""

    def __init__(self, wrapper: torch.nn.Module, model_path: Path, io: GraphIO, config: ExportConfig) -> None:
        self.session = cpu_session(model_path)
        self.wrapper, self.io, self.config = wrapper, io, config
        self.rng = np.random.default_rng(config.seed)
        self._exact = None  # the wrapper in float64, made when a parity check first fails

    # -- inputs ---------------------------------------------------------------------------------
    def _x(self, batch: int, time: int) -> np.ndarray:
        if self.io.features is None:
            return self.rng.integers(0, self.io.vocab_size or 2, (batch, time), dtype=np.int64)
        return self.rng.standard_normal((batch, time, self.io.features), dtype=np.float32)

    def _state(self, batch: int, random: bool) -> list[np.ndarray]:
        make = self.rng.standard_normal if random else np.zeros
        dtypes = self.io.state_dtypes or ("float32",) * len(self.io.state_shapes)
        return [
            (0.5 * make((rows, batch, hidden))).astype(dtype)
            if random
            else make((rows, batch, hidden), dtype)
            for (rows, hidden), dtype in zip(self.io.state_shapes, dtypes, strict=True)
        ]

    def _further(self, batch: int, time: int) -> list[np.ndarray]:
        return make_further(self.rng, self.io.further, batch, time)

    def _feed(
        self, x: np.ndarray, state: list[np.ndarray], lengths: np.ndarray | None, further=()
    ) -> list[np.ndarray]:
        args = [x, *state]
        if self.io.lengths:
            args.append(lengths if lengths is not None else np.full(x.shape[0], x.shape[1], np.int64))
        return [*args, *further]

    # -- runs -------------------------------------------------------------------------------------
    def run_torch(self, args: list[np.ndarray]) -> list[np.ndarray]:
        """The module on ``args``. One that packs with ``enforce_sorted=True`` refuses rows that are not
        longest first: it runs on the rows sorted that way, and its outputs are put back in order."""
        try:
            return self._torch(args)
        except RuntimeError as err:
            if not self.io.lengths or "enforce_sorted" not in str(err):
                raise
        n = len(self.io.state_shapes)
        order = np.argsort(-args[1 + n], kind="stable")
        back = np.argsort(order)
        out = self._torch(take_rows(args, n, True, self.io.further, order))
        return reorder_outputs(out, n, self.io.outputs, back)

    def _torch(self, args: list[np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            out = self.wrapper(*(torch.from_numpy(a) for a in args))
        return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]

    def run_ort(self, args: list[np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, dict(zip(self.io.input_names, args, strict=True)))

    def compare(self, name: str, got: list[np.ndarray], want: list[np.ndarray], detail: str = "") -> Check:
        return compare_outputs(name, got, want, self.config.atol, self.config.rtol, detail)

    # -- the gate ---------------------------------------------------------------------------------
    def checks(
        self, real_x: np.ndarray | None = None, real_lengths: np.ndarray | None = None, classes: bool = False
    ) -> list[Check]:
        """Every check of the gate; a run that raises inside onnxruntime is a failed check.
        ``classes``: the output is one row of class scores per sequence, and the class each real
        sequence gets (the argmax) must be the same in onnxruntime as in PyTorch."""
        t0, shortest = self.io.example_time, self.io.min_length
        lengths = sorted(
            {
                max(t, shortest) if t > 0 else (t0 if t == 0 else 2 * t0 + 3)
                for t in self.config.verify_lengths
            }
        )
        if self.io.one_step:  # the module reads one step per call: the batch and other lengths vary
            lengths = [1]
        results = []
        for time in lengths:
            for batch in self.config.verify_batches:
                random_state = bool(self.io.state_shapes)
                results.append(
                    self._guard(f"parity T={time} B={batch}", self._parity, batch, time, random_state)
                )
        if self.io.state_shapes:
            results.append(self._guard(f"parity zero state T={t0} B=1", self._parity, 1, t0, False))
        if self.io.streamable:
            results += self._stream_checks(2 * t0 + 3)
        if self.io.lengths:
            results.append(self._guard("ragged batch vs packed PyTorch", self._ragged, 2 * t0 + 3))
        if real_x is None or self.io.further:  # real data never holds the further inputs
            return results
        results = [_past_training(c, t0) for c in results]
        results.append(self._guard("parity real inputs", self._real, real_x, real_lengths))
        if classes:
            results.append(self._guard("argmax real inputs", self._argmax, real_x, real_lengths))
        if self.io.streamable and self.io.min_length == 1:
            results.append(self._guard("stream step-by-step real inputs", self._real_stream, real_x))
        return results

    def _stream_checks(self, long: int) -> list[Check]:
        """Step by step (when one step is a valid input), and in chunks no shorter than min_length."""
        chunk = max(self.config.stream_chunk, self.io.min_length)
        results = []
        if self.io.min_length == 1:
            results.append(self._guard(f"stream step-by-step T={long}", self._stream, long, 1))
        if self.io.one_step:
            return results
        results.append(self._guard(f"stream chunks of {chunk} T={long}", self._stream, long, chunk))
        return results

    def _guard(self, name, fn, *args) -> Check:
        try:
            return fn(name, *args)
        except Exception as err:  # an onnxruntime failure at a new length is exactly what we look for
            return Check(name, False, float("inf"), f"{type(err).__name__}: {str(err).splitlines()[0][:200]}")

    def _parity(self, name: str, batch: int, time: int, random_state: bool) -> Check:
        x, state = self._x(batch, time), self._state(batch, random_state)
        args = self._feed(x, state, None, self._further(batch, time))
        got, want = self.run_ort(args), self.run_torch(args)
        check = self.compare(name, got, want)
        if check.passed:
            return check
        self._exact = self._exact or float64_runner(self.wrapper)
        exact = self._exact
        return judged_against_float64(
            check,
            got,
            want,
            lambda: exact(args) if exact else None,
            self.config.atol,
            lambda: self.run_torch(args),
        )

    def _real_runs(
        self, real_x: np.ndarray, real_lengths: np.ndarray | None
    ) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
        """(onnxruntime, PyTorch) outputs of every real sequence (up to REAL_LIMIT), in batches, from
        zero state, at its own length."""
        runs = []
        for start in range(0, min(len(real_x), REAL_LIMIT), REAL_BATCH):
            x = real_x[start : start + REAL_BATCH]
            lengths = None
            if real_lengths is not None:
                lengths = real_lengths[start : start + REAL_BATCH].astype(np.int64)
            args = self._feed(x, self._state(x.shape[0], False), lengths)
            runs.append((self.run_ort(args), self.run_torch(args)))
        return runs

    def _real(self, name: str, real_x: np.ndarray, real_lengths: np.ndarray | None) -> Check:
        """Every real sequence (up to REAL_LIMIT) within the tolerance."""
        checks = [self.compare(name, got, want) for got, want in self._real_runs(real_x, real_lengths)]
        seen = min(len(real_x), REAL_LIMIT)
        worst = max(checks, key=lambda c: c.max_abs_diff)
        return Check(name, all(c.passed for c in checks), worst.max_abs_diff, f"{seen} real sequences")

    def _argmax(self, name: str, real_x: np.ndarray, real_lengths: np.ndarray | None) -> Check:
        """The share of real sequences whose class (the argmax of the output) is the same in both: 1.0."""
        runs = self._real_runs(real_x, real_lengths)
        got = np.concatenate([g[0].reshape(len(g[0]), -1) for g, _ in runs])
        want = np.concatenate([w[0].reshape(len(w[0]), -1) for _, w in runs])
        same = int((got.argmax(axis=1) == want.argmax(axis=1)).sum())
        share = same / max(len(got), 1)
        diff = float(np.max(np.abs(got - want), initial=0.0))
        detail = f"argmax agrees on {same}/{len(got)} real sequences (share {share:.4f}, required 1.0)"
        return Check(name, same == len(got), diff, detail)

    def _real_stream(self, name: str, real_x: np.ndarray) -> Check:
        """The first two real sequences streamed step by step from zero state, against PyTorch whole."""
        x = real_x[:2]
        state = self._state(x.shape[0], False)
        full = self.run_torch(self._feed(x, state, None))
        pieces, n = [], len(state)
        for t in range(x.shape[1]):
            pieces.append(self.run_ort(self._feed(x[:, t : t + 1], state, None)))
            state = pieces[-1][1 : 1 + n]
        got = joined(pieces, n, self.io.outputs, self.io.per_step)
        return self.compare(name, got, full, "ORT streamed vs PyTorch full sequence, real data")

    def _stream(self, name: str, time: int, chunk: int) -> Check:
        batch = 2
        x, state, further = self._x(batch, time), self._state(batch, True), self._further(batch, time)
        starts = list(range(0, time, chunk))
        if time - starts[-1] < self.io.min_length and len(starts) > 1:
            starts.pop()  # the short tail joins the chunk before it
        spans = list(zip(starts, [*starts[1:], time], strict=True))
        if self.io.one_step:
            full = self._stepped_torch(x, state, further, spans)
        else:
            full = self.run_torch(self._feed(x, state, None, further))
        pieces, n = [], len(state)
        for start, stop in spans:
            steps = slice_steps(further, self.io.further, start, stop)
            pieces.append(self.run_ort(self._feed(x[:, start:stop], state, None, steps)))
            state = pieces[-1][1 : 1 + n]
        got = joined(pieces, n, self.io.outputs, self.io.per_step)
        atol = self.config.atol if self.config.stream_atol is None else self.config.stream_atol
        reference = "PyTorch stepped (one step per call)" if self.io.one_step else "PyTorch full sequence"
        detail = f"ORT streamed vs {reference}" + (f", atol {atol:g}" if atol != self.config.atol else "")
        return compare_outputs(name, got, full, atol, self.config.rtol, detail)

    def _stepped_torch(self, x, state, further, spans) -> list[np.ndarray]:
        """A one-step module's reference for a stream: PyTorch itself, called step by step."""
        pieces, n = [], len(state)
        for start, stop in spans:
            steps = slice_steps(further, self.io.further, start, stop)
            pieces.append(self.run_torch(self._feed(x[:, start:stop], state, None, steps)))
            state = pieces[-1][1 : 1 + n]
        return joined(pieces, n, self.io.outputs, self.io.per_step)

    def _row(self, out: list[np.ndarray], i: int, n: int) -> list[np.ndarray]:
        """Row ``i`` of a batch's outputs, its first ``n`` steps."""
        return _row_of(self, out, i, n)

    def _ragged(self, name: str, time: int) -> Check:
        """Rows of lengths ``time``, 0, 1 (or min_length) and about half, against PyTorch on the padded
        batch and each row alone. Length 0 is left out, in one line, where PyTorch itself refuses it
        (``pack_padded_sequence`` does); a module that answers it is held to its answer."""
        x, state, lengths = ragged_batch(self, time)
        args = self._feed(x, state, lengths, self._further(len(lengths), time))
        n_state, note = len(state), ""
        try:
            want = self.run_torch(args)
        except Exception as err:  # PyTorch's answer is the reference: none for 0 here
            note = f"; length 0 left out: PyTorch refuses it ({type(err).__name__}: {_first_line(err)})"
            args = take_rows(args, n_state, True, self.io.further, np.flatnonzero(lengths > 0))
            lengths = args[1 + n_state]
            want = self.run_torch(args)
        batched = self.run_ort(args)
        packed = self.compare(name, batched, want)
        rows, padded = [], 0
        for i, n in enumerate(lengths):  # each sequence alone, unpadded: the independent reference
            if n == 0:
                continue  # nothing to run alone; the padded batch's answer above is PyTorch's
            alone = self.run_torch(_alone(args, n_state, self.io.further, i, int(n)))
            if not self.compare(name, self._row(want, i, n), alone).passed:
                padded += 1  # PyTorch's own row reads the padding (a conv before the packing)
                continue
            rows.append(self.compare(name, self._row(batched, i, n), alone))
        worst = max([packed, *rows], key=lambda c: c.max_abs_diff)
        passed = packed.passed and all(r.passed for r in rows)
        note += (
            f"; {padded} rows read their padding in PyTorch itself: held to the padded batch"
            if padded
            else ""
        )
        if not packed.passed:
            note += _rows_that_differ(self, batched, want, lengths, time)
        detail = f"lengths {lengths.tolist()}; each row also run alone{note}"
        return Check(name, passed, worst.max_abs_diff, detail)


def _alone(args: list[np.ndarray], n_state: int, specs, i: int, n: int) -> list[np.ndarray]:
    """Row ``i`` of a ragged batch alone, its first ``n`` steps (further inputs cut with it)."""
    row = take_rows(args, n_state, True, specs, np.array([i]))
    further = [cut_further(f, spec, 0, 1, n) for f, spec in zip(row[2 + n_state :], specs, strict=True)]
    return [row[0][:, :n], *row[1 : 2 + n_state], *further]


def _rows_that_differ(verifier, got, want, lengths: np.ndarray, time: int) -> str:
    """Which rows of the padded batch differ from PyTorch, by their lengths."""
    bad = [
        int(n)
        for i, n in enumerate(lengths)
        if not verifier.compare("", _row_of(verifier, got, i, time), _row_of(verifier, want, i, time)).passed
    ]
    zero = " (a row of length 0: does the module branch on the lengths' values?)" if 0 in bad else ""
    return f"; rows of length {bad} differ from PyTorch on the padded batch{zero}"


def _row_of(verifier, out: list[np.ndarray], i: int, n: int) -> list[np.ndarray]:
    io = verifier.io
    return row_outputs(out, len(io.state_shapes), io.outputs, io.per_step, i, n)


def ragged_batch(verifier: Verifier, time: int) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Inputs, random state and lengths ``[time, 0, max(1, min_length), about half]`` for the ragged check."""
    shortest = verifier.io.min_length
    lengths = np.array([time, 0, max(1, shortest), max(shortest, (time + 1) // 2)], dtype=np.int64)
    return verifier._x(len(lengths), time), verifier._state(len(lengths), True), lengths


def _first_line(err: BaseException) -> str:
    return (str(err).splitlines() or [""])[0][:160]
