"""A handle never falls out of step: a wait interrupted by a signal takes its step back (the tick had
not run) or drops the result it had missed (the tick ran), so the next step gets its own result; a
tick interrupted under ``batcher.step`` tells its waiting threads instead of leaving them waiting; a
Mapping that lists one handle twice is refused. References: independent batch-1 Streams."""

from __future__ import annotations

import signal
import threading
from collections.abc import Mapping

import numpy as np
import pytest
from _runtime_models import make_bundle

from edgernn.runtime import InputError, ModelRunError, Session

ATOL = 1e-5


class Interrupted(BaseException):
    """What our signal handler raises (KeyboardInterrupt's place, without touching SIGINT)."""


@pytest.fixture
def session(tmp_path):
    return Session.load(make_bundle(tmp_path / "b"), provider="cpu", threads=1)


def _steps(seed: int, n: int) -> list[np.ndarray]:
    return [np.random.default_rng(seed).standard_normal((n, 1, 3)).astype(np.float32)[i] for i in range(n)]


def _reference(session, xs) -> np.ndarray:
    stream = session.stream(1)
    return [stream.step(x).output for x in xs][-1]


def _later(call, after_s: float = 0.2) -> threading.Thread:
    thread = threading.Thread(target=lambda: (threading.Event().wait(after_s), call()))
    thread.start()
    return thread


@pytest.mark.parametrize("max_wait_ms", [None, 60_000.0])
def test_a_wait_interrupted_before_its_tick_takes_the_step_back(session, max_wait_ms):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    batcher = session.batcher(max_batch=2, max_wait_ms=max_wait_ms)
    a, b = batcher.open(), batcher.open()
    xa, xb = _steps(1, 2), _steps(2, 1)
    main = threading.main_thread().ident

    def interrupt(signum, frame):
        raise Interrupted

    old = signal.signal(signal.SIGUSR1, interrupt)
    try:
        kicker = _later(lambda: signal.pthread_kill(main, signal.SIGUSR1))
        with pytest.raises(Interrupted):
            a.step(xa[0])  # waits for b, which never steps: the signal ends the wait
        kicker.join()
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert not batcher._pending and a.steps == 0
    got = []
    waiter = threading.Thread(target=lambda: got.append(b.step(xb[0])))
    waiter.start()
    mine = a.step(xa[1])  # its own result, not the withdrawn step's
    waiter.join(timeout=10)
    np.testing.assert_allclose(mine.output, _reference(session, xa[1:]), atol=ATOL)
    np.testing.assert_allclose(got[0].output, _reference(session, xb), atol=ATOL)
    assert a.steps == b.steps == 1


class _LateLock:
    """A handle's wake-up lock whose first wait is interrupted just after its tick has run."""

    def __init__(self, real, ran: threading.Event) -> None:
        self.real, self.ran, self.first = real, ran, True

    def acquire(self, *args, **kwargs):
        if self.first:
            self.first = False
            self.ran.wait(10)
            raise Interrupted
        return self.real.acquire(*args, **kwargs)

    def release(self):
        self.real.release()


def _after_waiting(batcher, handle, call) -> threading.Thread:
    """``call()`` in a thread once ``handle`` has a step waiting for its tick."""

    def run():
        while handle not in batcher._pending:
            threading.Event().wait(0.001)
        call()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_wait_interrupted_after_its_tick_drops_that_result_not_the_next(session):
    batcher = session.batcher(max_batch=2)
    a, b = batcher.open(), batcher.open()
    xa, xb = _steps(3, 2), _steps(4, 2)
    ran = threading.Event()
    a._done = _LateLock(a._done, ran)
    helper = _after_waiting(batcher, a, lambda: (b.step(xb[0]), ran.set()))
    with pytest.raises(Interrupted):
        a.step(xa[0])  # the tick runs (b completes it) while a's wait is being interrupted
    helper.join(timeout=10)
    got = []
    waiter = _after_waiting(batcher, a, lambda: got.append(b.step(xb[1])))
    mine = a.step(xa[1])  # waits for b's step, and gets its own result, not the dropped one
    waiter.join(timeout=10)
    np.testing.assert_allclose(mine.output, _reference(session, xa), atol=ATOL)  # the step ran: state moved
    np.testing.assert_allclose(got[0].output, _reference(session, xb), atol=ATOL)
    assert a.steps == b.steps == 2


def test_an_interrupted_tick_under_batcher_step_tells_the_waiting_threads(session, monkeypatch):
    batcher = session.batcher(max_batch=3)
    a, b, _ = batcher.open(), batcher.open(), batcher.open()
    errors = []

    def wait_b():
        try:
            b.step(_steps(5, 1)[0])
        except ModelRunError as err:
            errors.append(str(err))

    waiter = threading.Thread(target=wait_b)
    waiter.start()
    while not batcher._pending:
        threading.Event().wait(0.001)

    def interrupted(rows):
        raise Interrupted

    monkeypatch.setattr(batcher._slots, "run_rows", interrupted)
    with pytest.raises(Interrupted):
        batcher.step({a: _steps(6, 1)[0]})
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert errors == ["the tick that ran this step was interrupted (Interrupted); the step did not run"]


class _Twice(Mapping):
    def __init__(self, handle, x) -> None:
        self.handle, self.x = handle, x

    def __iter__(self):
        return iter([self.handle, self.handle])

    def __len__(self) -> int:
        return 2

    def __getitem__(self, key):
        return self.x


def test_a_mapping_listing_a_handle_twice_is_refused(session):
    batcher = session.batcher(max_batch=2)
    a, _ = batcher.open(), batcher.open()
    with pytest.raises(
        InputError, match=r"steps: <stream handle #1> is listed twice; a tick steps each handle once"
    ):
        batcher.step(_Twice(a, _steps(7, 1)[0]))
    assert a.steps == 0
