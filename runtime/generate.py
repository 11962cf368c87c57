"""The one_to_many decode loop: condition -> initial state (``init`` model), then step, feeding back.

Token models pick the next token by argmax, or sample it at a temperature with a seeded numpy
Generator; feature models feed each output (in model space) back as the next input.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from .bundle import ort_dtype
from .engine import Engine
from .errors import BundleError, InputError, UnsupportedError
from .named import refuse_named
from .result import Result, softmax
from .signature import scale_arrays
from .stream import Stream
from .validate import as_input


def pick_tokens(logits: np.ndarray, temperature: float | None, rng: np.random.Generator) -> np.ndarray:
    """Next token per row: argmax when ``temperature`` is None or 0, else a sample of softmax(logits/T)."""
    picked: np.ndarray
    if not temperature:
        picked = logits.argmax(axis=-1).astype(np.int64)
        return picked
    probs = softmax(logits.astype(np.float64) / temperature)
    cdf = np.cumsum(probs, axis=-1)
    rows: int = logits.shape[0]
    draws = rng.random(rows)[:, None]
    picked = np.minimum((cdf < draws).sum(axis=-1), logits.shape[-1] - 1).astype(np.int64)
    return picked


def _initial_state(engine: Engine, init: Any, cond: Any) -> tuple[dict[str, np.ndarray], int]:
    spec = engine.manifest.condition
    arg = init.get_inputs()[0]
    name = spec.name if spec is not None and spec.name in {a.name for a in init.get_inputs()} else arg.name
    graph_features = arg.shape[-1] if isinstance(arg.shape[-1], int) else None
    features = spec.features if spec is not None and spec.features is not None else graph_features
    dims = ("batch", features if features is not None else "features")
    c = as_input(name, cond, dims, np.dtype(ort_dtype(arg.type)), names=("batch", "features"))
    scale = scale_arrays("condition", spec.mean, spec.std, features) if spec is not None else None
    if scale is not None:
        c = ((c - scale[0]) / scale[1]).astype(c.dtype)
    values = init.run(None, {name: c})
    state_names = [inp.name for inp, _ in engine.sig.states]
    out_names = [o.name for o in init.get_outputs()]
    if set(state_names) <= set(out_names):
        state = {n: values[out_names.index(n)] for n in state_names}
    elif len(out_names) == len(state_names):
        state = dict(zip(state_names, values, strict=True))
    else:
        raise BundleError(f"init model: expected outputs {state_names}, it has {out_names}")
    return state, c.shape[0]


def generate(
    engine: Engine,
    init: Any,
    cond: Any,
    steps: int,
    *,
    temperature: float | None = None,
    seed: int | None = None,
) -> Result:
    """See :meth:`Session.generate`."""
    manifest = engine.manifest
    if manifest.topology != "one_to_many" or init is None:
        raise UnsupportedError(
            f"{manifest.name}: generate needs a one_to_many bundle with an 'init' file, "
            f"got topology {manifest.topology!r} with{'' if init is not None else 'out'} an init file"
        )
    refuse_named(engine.sig.named, "generate")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise InputError(f"steps: expected a positive int, got {steps!r}")
    if temperature is not None and not (np.isfinite(temperature) and temperature >= 0):
        raise InputError(f"temperature: expected None or a finite value >= 0, got {temperature!r}")
    state, batch = _initial_state(engine, init, cond)
    stream = Stream(engine, batch)
    stream.state = state
    sig = engine.sig
    tokens = manifest.input.kind == "tokens"
    features = cast(int, sig.x.dims[-1])  # a bundle fixes its feature dim
    step_shape = (batch,) if tokens else (batch, features)
    start = (
        (manifest.input.start_token or 0) if tokens else 0
    )  # features start at the mean (0 once normalised)
    x = np.full(step_shape, start, sig.x.dtype)
    rng = np.random.default_rng(seed)
    main = sig.outputs.index(sig.main)
    collected: list[list[np.ndarray]] = [[] for _ in sig.outputs]
    ids = []
    for _ in range(steps):
        stream.write_step(x, scale=False)
        values = stream.run_step()
        for store, value in zip(collected, values, strict=True):
            store.append(value)
        y = values[main]
        if tokens:
            x = pick_tokens(y, temperature, rng)
            ids.append(x)
        elif y.shape != step_shape:
            raise BundleError(
                f"{manifest.name}: to feed outputs back, expected y {list(step_shape)}, got {list(y.shape)}"
            )
        else:
            x = y.astype(sig.x.dtype, copy=False)
    stacked = {name: np.stack(v, axis=1) for name, v in zip(sig.outputs, collected, strict=True)}
    result = engine.result([stacked[n] for n in sig.outputs], stream.state)
    if tokens:
        result.output = np.stack(ids, axis=1)
    return result
