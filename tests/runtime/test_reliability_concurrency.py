"""One Session shared by 8 threads, each stepping 4 streams of its own, gives a serial run's bits.

Reading of the issue's "8 threads, each with 4 streams, for 10,000 steps": every thread makes
10,000 ``step`` calls, round-robin over its 4 streams (2,500 steps per stream), so the run makes
80,000 steps in all, which covers the "10,000 steps in all" reading eight times over. Streams have
batch sizes 1 to 4, one stream per thread is reset halfway, and every stream's state is read back
at the end. The serial run does exactly the same work, one thread after another.

The fast suite runs the other reading, 10,000 steps in all (1,250 per thread, 312 per stream: the
reset, the interleaving and the bit-for-bit comparison are the same); the slow suite runs the 80,000.
"""

from __future__ import annotations

import numpy as np
import pytest
from _runtime_models import make_bundle
from concurrency import run_concurrently

from edgernn.runtime import Session

THREADS, STREAMS = 8, 4


def thread_data(seed: int, steps: int) -> list[np.ndarray]:
    """Inputs ``[steps, batch, 3]`` for each of one thread's streams (batch 1..4)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((steps, batch, 3)).astype(np.float32) for batch in range(1, STREAMS + 1)]


def work(session: Session, xs: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Step every stream ``steps`` times (the inputs' length), interleaved; stream 0 is reset halfway."""
    steps = len(xs[0])
    streams = [session.stream(batch=x.shape[1]) for x in xs]
    outputs = [np.empty((steps, x.shape[1], 2), np.float32) for x in xs]
    for t in range(steps):
        if t == steps // 2:
            streams[0].reset()
        for s, stream in enumerate(streams):
            outputs[s][t] = stream.step(xs[s][t]).output
    states = [np.concatenate([stream.state["h0"], stream.state["c0"]]) for stream in streams]
    return {"outputs": outputs, "states": states, "steps": [s.steps for s in streams]}


@pytest.mark.parametrize(
    "steps_per_thread",
    [
        pytest.param(1_250, id="10k-steps-in-all"),
        pytest.param(10_000, id="10k-steps-per-thread", marks=pytest.mark.slow),
    ],
)
def test_eight_threads_with_four_streams_each_match_a_serial_run_bit_for_bit(tmp_path, steps_per_thread):
    session = Session.load(make_bundle(tmp_path / "b", layers=2, hidden=8), provider="cpu", threads=1)
    steps = steps_per_thread // STREAMS
    reset_at = steps // 2
    data = [thread_data(seed, steps) for seed in range(THREADS)]
    serial = [work(session, xs) for xs in data]

    results = run_concurrently(lambda xs: work(session, xs), data)
    for i in range(THREADS):
        assert results[i]["steps"] == [steps - reset_at] + [steps] * (STREAMS - 1)
        for s in range(STREAMS):
            assert np.array_equal(results[i]["outputs"][s], serial[i]["outputs"][s]), (i, s)
            assert np.array_equal(results[i]["states"][s], serial[i]["states"][s]), (i, s)

    # The serial steps are the model's own answer: a whole-sequence run gives the same values.
    x = data[0][3]
    whole = session.run(np.ascontiguousarray(x.transpose(1, 0, 2)), return_state=True)
    np.testing.assert_allclose(serial[0]["outputs"][3], whole.output.transpose(1, 0, 2), atol=1e-5)
    restarted = session.run(np.ascontiguousarray(data[0][0][reset_at:].transpose(1, 0, 2)))
    np.testing.assert_allclose(
        serial[0]["outputs"][0][reset_at:, :, :], restarted.output.transpose(1, 0, 2), atol=1e-5
    )
