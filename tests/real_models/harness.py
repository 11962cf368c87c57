"""Export one corpus entry, hold the bundle to the model through edgernn.runtime, and say how it went."""

from __future__ import annotations

import time as clock
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgernn.export import export
from edgernn.export.errors import ExportError
from edgernn.runtime import Session

from .entry import Entry, feats, tokens
from .named import NamedRunner, one_step

ATOL, RTOL = 1e-5, 1e-4
EXAMPLE = (2, 6)  # (batch, time) of the example; the checks below use none of these
UNSEEN = ((1, 7), (3, 11), (4, 17))


@dataclass(frozen=True)
class Outcome:
    name: str
    library: str
    exporter: str  # what was asked: auto or dynamo
    outcome: str  # exported | refused | WRONG
    contract: str
    max_diff: float
    detail: str
    seconds: float

    @property
    def ok(self) -> bool:
        """Exported and right, or refused with a reason: never a wrong bundle, never a crash."""
        return self.outcome in ("exported", "refused")  # "unchecked": exported, no reference to hold it to


def check_entry(entry: Entry, out: Path, exporter: str = "auto") -> Outcome:
    torch.manual_seed(0)
    module = entry.make().eval()
    start = clock.perf_counter()
    try:
        kwargs = entry.example_kwargs(module, *EXAMPLE) if entry.example_kwargs else None
        example = entry.example(module, *EXAMPLE)
        report = export(module, example, out, exporter=exporter, example_kwargs=kwargs, **entry.kwargs)
    except ExportError as err:
        took = clock.perf_counter() - start
        return Outcome(
            entry.name, entry.library, exporter, "refused", "", 0.0, " ".join(str(err).split()), took
        )
    took = clock.perf_counter() - start
    manifest = report.manifest
    contract = describe(manifest, report.native_nodes)
    if entry.call is None:
        return Outcome(
            entry.name, entry.library, exporter, "WRONG", contract, 0.0, "expected a refusal", took
        )
    if manifest.inputs:  # further named inputs, passed by name
        runner = NamedRunner(entry, module, out, manifest)
        contract = contract.replace("x [batch, time", "x [batch, 1") if runner.one_step else contract
        diffs = [runner.compare(b, t, _diff) for b, t in UNSEEN]
        diffs += [runner.stream(_diff)] if manifest.streamable else []
    else:
        session = Session.load(out, provider="cpu")
        stepped = one_step(out, manifest)
        contract = contract.replace("x [batch, time", "x [batch, 1") if stepped else contract
        diffs = [_compare(entry, module, session, manifest, b, 1 if stepped else t) for b, t in UNSEEN]
        if manifest.streamable:
            diffs.append((_step if stepped else _stream)(entry, module, session, manifest))
    worst = max(diffs)
    outcome = "exported" if worst <= ATOL * 10 else "WRONG"
    return Outcome(entry.name, entry.library, exporter, outcome, contract, worst, report.exporter, took)


def describe(manifest, native: dict[str, int]) -> str:
    spec = manifest.input
    x = f"x [batch, time{'' if spec.kind == 'tokens' else f', {spec.features}'}]"
    parts = [x, *(["lengths"] if spec.lengths else []), *(s.input for s in manifest.state)]
    parts += [f"{f.name} [{', '.join(map(str, f.shape))}]" for f in manifest.inputs]
    parts += [f"out {f.name} [{', '.join(map(str, f.shape))}]" for f in manifest.outputs]
    nodes = "+".join(f"{n} {k}" for k, n in native.items())
    return f"{manifest.topology}: {', '.join(parts)}; {nodes}"


def _inputs(entry: Entry, manifest, batch: int, time: int):
    x = (
        tokens(entry.vocab, batch, time)
        if manifest.input.kind == "tokens"
        else feats(manifest.input.features, batch, time)
    )
    lengths = None
    if manifest.input.lengths:
        shortest = manifest.input.min_length
        rows = torch.randint(shortest, time + 1, (batch,))
        rows[0] = time
        lengths = rows.sort(descending=True).values if entry.sorted_lengths else rows
    state = [0.5 * torch.randn(s.shape[0], batch, s.shape[2]) for s in manifest.state]
    return x, lengths, state


def _run(session, manifest, x, lengths, state):
    feed = {s.input: t.numpy() for s, t in zip(manifest.state, state, strict=True)} or None
    got = session.run(
        x.numpy(), None if lengths is None else lengths.numpy(), state=feed, return_state=bool(state)
    )
    further_shapes(manifest, got.outputs, x.shape[0], x.shape[1])
    return [got.output, *(got.state[s.input] for s in manifest.state)]


def further_shapes(manifest, outputs: dict, batch: int, time: int) -> None:
    """Every further output the manifest lists is in ``outputs`` with x's batch and time where its dims
    say (their values are the export gate's: each is compared against PyTorch there)."""
    for spec in manifest.outputs:
        want = [batch if d == "batch" else time if d == "time" else d for d in spec.shape]
        got = list(outputs[spec.name].shape)
        assert len(got) == len(want) and all(
            g == w for g, w in zip(got, want, strict=True) if isinstance(w, int)
        ), f"{manifest.name}: further output {spec.name}: expected {want}, got {got}"


def _diff(got: list[np.ndarray], want: list[torch.Tensor]) -> float:
    worst = 0.0
    for g, w in zip(got, want, strict=True):
        w = w.numpy()
        if g.shape != w.shape or not np.allclose(g, w, atol=ATOL, rtol=RTOL):
            return float("inf") if g.shape != w.shape else float(np.max(np.abs(g - w)))
        worst = max(worst, float(np.max(np.abs(g - w), initial=0.0)))
    return worst


def _compare(entry, module, session, manifest, batch, time) -> float:
    x, lengths, state = _inputs(entry, manifest, batch, time)
    with torch.no_grad():
        y, s = entry.call(module, x, lengths, state if state else None)
    if lengths is not None and manifest.topology != "many_to_one":  # steps past a row's length: padding
        y = torch.nn.functional.pad(y, (0, 0, 0, time - y.shape[1]))
    return _diff(_run(session, manifest, x, lengths, state), [y, *s])


def _stream(entry, module, session, manifest) -> float:
    """Chunks through Stream against the module over the whole sequence."""
    batch, time = 2, 13
    x, _, state = _inputs(entry, manifest, batch, time)
    with torch.no_grad():
        full = torch.full((batch,), time) if manifest.input.lengths else None
        want_y, want_s = entry.call(module, x, full, state)
    stream = session.stream(batch=batch)
    stream.state = {s.input: t.numpy() for s, t in zip(manifest.state, state, strict=True)}
    size = max(1, manifest.input.min_length)
    outs = [stream.feed(x[:, i : i + size].numpy()).output for i in range(0, time, size)]
    y = outs[-1] if manifest.topology == "many_to_one" else np.concatenate(outs, axis=1)
    return _diff([y, *(stream.state[s.input] for s in manifest.state)], [want_y, *want_s])


def _step(entry, module, session, manifest) -> float:
    """A one-step bundle's Stream stepped 13 times on its own state, against the module stepped."""
    batch, time = 2, 13
    x, _, state = _inputs(entry, manifest, batch, time)
    stream = session.stream(batch=batch)
    stream.state = {s.input: t.numpy() for s, t in zip(manifest.state, state, strict=True)}
    worst = 0.0
    for i in range(time):
        with torch.no_grad():
            want_y, state = entry.call(module, x[:, i : i + 1], None, state)
        worst = max(worst, _diff([stream.step(x[:, i].numpy()).output], [want_y]))
    return max(worst, _diff([stream.state[s.input] for s in manifest.state], state))
