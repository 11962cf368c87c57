"""StreamBatcher: every handle equals an independent Stream fed the same steps (fp32), through joins,
leaves, resets and skipped ticks, from one producer or many threads; bad use fails clearly."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from _runtime_models import make_bundle

from edgernn.runtime import InputError, Session, StreamBatcher, UnsupportedError

ATOL = 1e-5  # the bar; fp32 batched and alone run the same kernels row by row


class Mirror:
    """A handle and the independent batch-1 Stream that must give the same outputs."""

    def __init__(self, batcher: StreamBatcher, session: Session, rng: np.random.Generator) -> None:
        self.handle, self.stream, self.rng = batcher.open(), session.stream(1), rng
        self.features = session.signature.x.dims[-1]

    def draw(self) -> np.ndarray:
        return (self.rng.standard_normal((1, self.features)) * 2).astype(np.float32)


def _check(out: dict, mirrors: dict, xs: dict) -> None:
    for h, r in out.items():
        want = mirrors[h].stream.step(xs[h])
        np.testing.assert_allclose(r.output, want.output, atol=ATOL, err_msg=repr(h))
        assert r.output.shape == want.output.shape


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_joins_leaves_resets_and_skips_match_independent_streams(tmp_path, cell):
    session = Session.load(make_bundle(tmp_path / "b", cell=cell, layers=2), provider="cpu", threads=1)
    batcher = StreamBatcher(session, max_batch=6)
    rng = np.random.default_rng(0)
    mirrors = {}
    for _ in range(40):
        if len(mirrors) < 6 and rng.random() < 0.4:  # join
            m = Mirror(batcher, session, rng)
            mirrors[m.handle] = m
        if mirrors and rng.random() < 0.1:  # leave
            h = list(mirrors)[rng.integers(len(mirrors))]
            h.close()
            del mirrors[h]
        if mirrors and rng.random() < 0.1:  # reset
            h = list(mirrors)[rng.integers(len(mirrors))]
            h.reset()
            mirrors[h].stream.reset()
            assert h.steps == 0
        stepping = [h for h in mirrors if rng.random() < 0.8]  # the rest skip this tick
        rng.shuffle(stepping)  # any order
        xs = {h: mirrors[h].draw() for h in stepping}
        _check(batcher.step(xs), mirrors, xs)
    assert mirrors, "the schedule should leave some streams open"
    for h, m in mirrors.items():
        assert h.steps == m.stream.steps
        for name, value in m.stream.state.items():
            np.testing.assert_allclose(h.state[name], value, atol=ATOL)


def test_full_ticks_swap_buffers_without_copying_state(tmp_path):
    session = Session.load(make_bundle(tmp_path / "b", layers=2), provider="cpu", threads=1)
    batcher = session.batcher(max_batch=4)
    handles = [batcher.open() for _ in range(3)]
    slots = batcher._slots
    buffers = [b.host for pair in slots._state for b in pair]
    k = slots.k
    x = np.ones((1, 3), np.float32)
    batcher.step(dict.fromkeys(handles, x))
    assert slots.k == 1 - k  # the new state was written into the other set, in place
    batcher.step(dict.fromkeys(handles, x))
    assert [b.host for pair in slots._state for b in pair] == buffers  # nothing reallocated
    assert len(slots._bindings) == 2  # one binding per buffer set, reused


@pytest.mark.parametrize(
    "kw",
    [
        {"topology": "many_to_one"},
        {"input_kw": {"mean": (1.0, 0.0, -1.0), "std": (2.0, 3.0, 0.5)}, "output_kw": {"mean": (5.0, -5.0)}},
        {"lengths": True},
    ],
    ids=["many_to_one", "scaled", "lengths"],
)
def test_model_kinds_match_independent_streams(tmp_path, kw):
    session = Session.load(make_bundle(tmp_path / "b", cell="gru", **kw), provider="cpu", threads=1)
    batcher = session.batcher(max_batch=3)
    rng = np.random.default_rng(1)
    mirrors = {m.handle: m for m in (Mirror(batcher, session, rng) for _ in range(3))}
    for t in range(8):
        xs = {h: m.draw() for h, m in mirrors.items() if t % 3 or h.number != 2}
        _check(batcher.step(xs), mirrors, xs)


def test_token_streams(tmp_path):
    session = Session.load(make_bundle(tmp_path / "b", vocab=6, out=6, features=4), provider="cpu")
    batcher = session.batcher(max_batch=2)
    a, b = batcher.open(), batcher.open()
    ids = np.random.default_rng(1).integers(0, 6, (2, 9))
    outs = [batcher.step({a: ids[0, t : t + 1], b: ids[1, t : t + 1]}) for t in range(9)]
    whole = session.run(ids).output
    np.testing.assert_allclose(np.stack([o[a].output[0] for o in outs]), whole[0], atol=ATOL)
    np.testing.assert_allclose(np.stack([o[b].output[0] for o in outs]), whole[1], atol=ATOL)
    with pytest.raises(InputError, match=r"token ids in \[.*6\], expected \[0, 5\]"):
        batcher.step({a: np.array([6])})


def test_device_style_buffers_match(tmp_path):
    """The GPU path (device buffers, host-staged gathers) on the CPU: partial ticks and a leave."""
    session = Session.load(make_bundle(tmp_path / "b", layers=2), provider="cpu", threads=1)
    batcher = StreamBatcher(session, max_batch=4, device_io=True)
    assert batcher._slots.device_io
    rng = np.random.default_rng(2)
    mirrors = {m.handle: m for m in (Mirror(batcher, session, rng) for _ in range(4))}
    for t in range(10):
        if t == 5:
            h = list(mirrors)[1]
            h.close()
            del mirrors[h]
        xs = {h: m.draw() for h, m in mirrors.items() if (t + h.number) % 4}
        _check(batcher.step(xs), mirrors, xs)


def test_state_of_a_handle_reads_and_writes(tmp_path):
    session = Session.load(make_bundle(tmp_path / "b", layers=2), provider="cpu", threads=1)
    batcher = session.batcher(max_batch=3)
    a, b = batcher.open(), batcher.open()
    stream = session.stream(1)
    x = np.random.default_rng(3).standard_normal((6, 1, 3)).astype(np.float32)
    for t in range(3):
        batcher.step({a: x[t], b: x[t] * 2})
        stream.step(x[t])
    saved = a.state
    assert saved["h0"].shape == (2, 1, 5)
    b.state = saved  # b continues from a's state: now it must follow the stream
    for t in range(3, 6):
        out = batcher.step({a: x[t], b: x[t]})
        want = stream.step(x[t]).output
        np.testing.assert_allclose(out[b].output, want, atol=ATOL)
        np.testing.assert_allclose(out[a].output, want, atol=ATOL)


def _threaded(session, batcher, data, steps):
    """Thread ``i`` opens a handle, feeds ``steps[i]`` steps of ``data[i]`` through ``h.step``, closes."""
    handles = [batcher.open() for _ in data]
    results, errors = [None] * len(data), []
    barrier = threading.Barrier(len(data))

    def work(i):
        try:
            barrier.wait()
            results[i] = [handles[i].step(data[i][t]).output for t in range(steps[i])]
            handles[i].close()
        except Exception as err:  # reported with the thread's index below
            errors.append((i, err))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(data))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:3]
    assert not any(t.is_alive() for t in threads), "a producer thread hung"
    for i, outs in enumerate(results):
        stream = session.stream(1)
        want = [stream.step(data[i][t]).output for t in range(steps[i])]
        np.testing.assert_allclose(np.stack(outs), np.stack(want), atol=ATOL, err_msg=f"thread {i}")


@pytest.mark.parametrize("max_wait_ms", [None, 1.0])
def test_sixty_four_producer_threads(tmp_path, max_wait_ms):
    session = Session.load(make_bundle(tmp_path / "b", layers=2, hidden=16), provider="cpu", threads=1)
    batcher = StreamBatcher(session, max_batch=64, max_wait_ms=max_wait_ms)
    rng = np.random.default_rng(4)
    data = rng.standard_normal((64, 12, 1, 3)).astype(np.float32)
    steps = [6 + i % 7 for i in range(64)]  # threads leave at different times
    _threaded(session, batcher, data, steps)
    assert len(batcher) == 0


def test_a_single_producer_serves_waiting_threads_too(tmp_path):
    session = Session.load(make_bundle(tmp_path / "b"), provider="cpu", threads=1)
    batcher = session.batcher(max_batch=2)
    a, b = batcher.open(), batcher.open()
    x = np.ones((1, 3), np.float32)
    got = []
    waiter = threading.Thread(target=lambda: got.append(b.step(x)))
    waiter.start()
    while not batcher._pending:  # b's step is queued
        threading.Event().wait(0.001)
    out = batcher.step({a: x})
    waiter.join(timeout=10)
    assert list(out) == [a] and len(got) == 1
    np.testing.assert_allclose(got[0].output, out[a].output, atol=ATOL)  # same input, same state


def test_bad_use_fails_clearly(tmp_path):
    session = Session.load(make_bundle(tmp_path / "b"), provider="cpu", threads=1)
    batcher = session.batcher(max_batch=2)
    a, b = batcher.open(), batcher.open()
    x = np.ones((1, 3), np.float32)
    with pytest.raises(
        InputError, match=r"<stream handle #1>: input 'x': expected \[1, 3\] float32, got \[2, 3\]"
    ):
        batcher.step({a: np.ones((2, 3), np.float32), b: x})
    with pytest.raises(
        InputError, match=r"<stream handle #2>: input 'x': expected \[1, 3\] float32, got \[3\]"
    ):
        batcher.step({a: x, b: np.ones(3)})
    with pytest.raises(InputError, match=r"NaN or Inf in the step of <stream handle #2>"):
        batcher.step({a: x, b: np.full((1, 3), np.nan, np.float32)})
    with pytest.raises(InputError, match=r"<stream handle #1>: input 'x': NaN or Inf"):
        a.step(np.full((1, 3), np.inf, np.float32))
    assert a.steps == b.steps == 0  # refused ticks change nothing
    with pytest.raises(UnsupportedError, match="max_batch=2 open streams"):
        batcher.open()
    other = session.batcher(max_batch=1).open()
    with pytest.raises(InputError, match="expected handles opened by this batcher, got <stream handle #1>"):
        batcher.step({other: x})
    with pytest.raises(InputError, match="expected a dict of handle -> step input, got list"):
        batcher.step([a, x])
    b.close()
    b.close()  # twice is fine
    assert b.closed and not a.closed and batcher.handles == (a,)
    for call in (lambda: b.step(x), lambda: batcher.step({a: x, b: x}), b.reset, lambda: b.state):
        with pytest.raises(UnsupportedError, match=r"<stream handle #2 \(closed\)>: it is closed|#2"):
            call()
    for bad in (0, -1, 2.0, True):
        with pytest.raises(InputError, match="max_batch: expected a positive int"):
            session.batcher(max_batch=bad)
    with pytest.raises(InputError, match="max_wait_ms: expected a number >= 0 or None"):
        session.batcher(max_wait_ms=-1)


def test_two_ticks_naming_one_handle(tmp_path):
    session = Session.load(make_bundle(tmp_path / "b"), provider="cpu", threads=1)
    batcher = session.batcher(max_batch=2)
    a, b = batcher.open(), batcher.open()
    x = np.ones((1, 3), np.float32)
    waiter = threading.Thread(target=lambda: a.step(x))
    waiter.start()
    while not batcher._pending:
        threading.Event().wait(0.001)
    with pytest.raises(UnsupportedError, match=r"<stream handle #1> already has a step waiting for its tick"):
        batcher.step({a: x, b: x})
    with pytest.raises(UnsupportedError, match=r"<stream handle #1> already has a step waiting"):
        a.step(x)  # a second thread stepping the same handle
    for call in (a.reset, a.close):
        with pytest.raises(UnsupportedError, match="a step of it is waiting for its tick"):
            call()
    b.step(x)  # completes the tick: both return
    waiter.join(timeout=10)
    assert not waiter.is_alive() and a.steps == b.steps == 1


def test_a_bad_step_from_one_producer_leaves_waiting_threads_waiting(tmp_path):
    session = Session.load(make_bundle(tmp_path / "b"), provider="cpu", threads=1)
    batcher = session.batcher(max_batch=3)
    a, b, c = batcher.open(), batcher.open(), batcher.open()
    x = np.ones((1, 3), np.float32)
    got = []
    waiter = threading.Thread(target=lambda: got.append(b.step(x)))
    waiter.start()
    while not batcher._pending:
        threading.Event().wait(0.001)
    with pytest.raises(InputError, match=r"NaN or Inf in the step of <stream handle #1>"):
        batcher.step({a: np.full((1, 3), np.nan, np.float32)})
    assert waiter.is_alive() and b in batcher._pending  # b's step still waits for a tick
    out = batcher.step({a: x, c: x})  # b's step joins this tick
    waiter.join(timeout=10)
    assert got and a.steps == b.steps == c.steps == 1
    np.testing.assert_allclose(got[0].output, out[a].output, atol=ATOL)


def test_closing_the_last_missing_handle_runs_the_waiting_tick(tmp_path):
    session = Session.load(make_bundle(tmp_path / "b"), provider="cpu", threads=1)
    batcher = session.batcher(max_batch=2)
    a, b = batcher.open(), batcher.open()
    done = []
    waiter = threading.Thread(target=lambda: done.append(a.step(np.ones((1, 3), np.float32))))
    waiter.start()
    while not batcher._pending:
        threading.Event().wait(0.001)
    b.close()  # a no longer waits for b
    waiter.join(timeout=10)
    assert len(done) == 1 and a.steps == 1


def test_results_per_row_keep_every_output_of_their_row():
    from edgernn.runtime import Result

    y, aux = np.arange(6.0).reshape(3, 1, 2), np.arange(3.0).reshape(3, 1)
    rows = Result.per_row(
        list(y * 10), [list(y), list(aux)], ["y", "aux"], kind="raw", main="y", label_names=None
    )
    assert [r.output.tolist() for r in rows] == [[[0, 10]], [[20, 30]], [[40, 50]]]
    assert rows[2].outputs["aux"].tolist() == [2.0] and rows[1].outputs["y"].tolist() == [[2, 3]]
    assert rows[0].state is None and "output=[1, 2]" in repr(rows[0])
