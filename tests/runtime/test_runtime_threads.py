"""Eight threads share one Session, each with its own streams: results equal a serial run exactly."""

from __future__ import annotations

import numpy as np
from _runtime_models import make_bundle
from concurrency import run_concurrently

from edgernn.runtime import Session

THREADS, STEPS = 8, 40


def work(session, xs):
    """Two interleaved streams, chunked feeds and a whole-sequence run, for one worker's data."""
    a, b = session.stream(batch=2), session.stream(batch=2)
    steps_a, steps_b = [], []
    for t in range(STEPS):
        steps_a.append(a.step(xs[0][:, t]).output)
        steps_b.append(b.step(xs[1][:, t]).output)
    c = session.stream(batch=2)
    chunks = [c.feed(xs[0][:, i : i + 7]).output for i in range(0, STEPS, 7)]
    whole = session.run(xs[1], return_state=True)
    return {
        "a": np.stack(steps_a, 1),
        "b": np.stack(steps_b, 1),
        "a_state": a.state["h0"],
        "chunks": np.concatenate(chunks, 1),
        "whole": whole.output,
        "whole_state": whole.state["c0"],
    }


def test_eight_threads_match_a_serial_run(tmp_path):
    session = Session.load(make_bundle(tmp_path / "b", layers=2, hidden=16), provider="cpu", threads=1)
    rng = np.random.default_rng(0)
    data = [rng.standard_normal((2, 2, STEPS, 3)).astype(np.float32) for _ in range(THREADS)]
    serial = [work(session, xs) for xs in data]

    results = run_concurrently(lambda xs: work(session, xs), data)
    for i in range(THREADS):
        for key, value in serial[i].items():
            np.testing.assert_array_equal(results[i][key], value, err_msg=f"thread {i} {key}")
    # and the streams really reproduce the whole sequence (so equality above is not equality of junk)
    np.testing.assert_allclose(serial[0]["a"], session.run(data[0][0]).output, atol=1e-6)
    np.testing.assert_allclose(serial[0]["chunks"], serial[0]["a"], atol=1e-6)
