"""The last check of the gate: the staged bundle, loaded and run by edgernn's own runtime.

onnxruntime accepting the graph is not enough: ``Session.load`` also holds the manifest to the graph
(state names and widths, output size, dtypes). A bundle that export writes must load and run there,
and, where no normalisation stands between them, give PyTorch's numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgernn.runtime import Session
from edgernn.runtime.records import Check

from .conditioning import float64_runner, judged_against_float64
from .errors import ExportError
from .further_feed import make_further
from .verify import compare_outputs


def runtime_check(bundle: Path, traced, config) -> Check:
    """Load ``bundle`` through :class:`Session` and run one batch of 2 at the example's length; an
    error is an :class:`ExportError` (nothing is written), a mismatch a failed check."""
    name = "bundle through edgernn.runtime"
    manifest = traced.manifest
    if manifest.topology == "one_to_many":
        return Check(name, True, 0.0, "one_to_many: covered by the generation checks")
    io = traced.io
    rng = np.random.default_rng(config.seed + 1)
    batch, time = 2, io.example_time
    if io.features is None:
        x = rng.integers(0, io.vocab_size or 2, (batch, time), dtype=np.int64)
    else:
        x = rng.standard_normal((batch, time, io.features), dtype=np.float32)
    state = [(0.5 * rng.standard_normal((r, batch, h))).astype(np.float32) for r, h in io.state_shapes]
    lengths = np.full(batch, time, np.int64) if io.lengths else None
    further = make_further(rng, io.further, batch, time)
    named = {spec.name: value for spec, value in zip(io.further, further, strict=True)}
    try:  # as a device calls it: further inputs by name
        session = Session.load(bundle, provider="cpu")
        feed = {s.input: a for s, a in zip(manifest.state, state, strict=True)} or None
        got = session.run(x, lengths, state=feed, inputs=named, return_state=bool(state))
    except Exception as err:  # any refusal of the runtime is a bundle that must not be written
        raise ExportError(
            f"{manifest.name}: the bundle export wrote is refused by edgernn.runtime "
            f"({type(err).__name__}: {' '.join(str(err).split())[:300]}); nothing was written"
        ) from None
    if _normalised(manifest):
        return Check(name, True, 0.0, "loaded and ran (normalised input: parity is the checks above)")
    args = [x, *state, *([lengths] if lengths is not None else []), *further]

    def run_torch() -> list[np.ndarray]:
        with torch.no_grad():
            out = traced.wrapper(*(torch.from_numpy(a) for a in args))
        return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]

    want = run_torch()
    have = [got.outputs[manifest.output.name], *(got.state[s.input] for s in manifest.state)]
    have += [got.outputs[spec.name] for spec in manifest.outputs]  # further outputs, by name
    check = compare_outputs(name, have, want, config.atol, config.rtol, "Session.run vs PyTorch")
    if check.passed:
        return check
    exact = float64_runner(traced.wrapper)
    return judged_against_float64(
        check, have, want, lambda: exact(args) if exact else None, config.atol, run_torch
    )


def _normalised(manifest) -> bool:
    """The runtime scales x before the graph (the graph's outputs are compared as it gives them)."""
    return manifest.input.mean is not None or manifest.input.std is not None
