"""Run the same work in many threads at once, for the shared-Session tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any


def run_concurrently(work: Callable[[Any], Any], inputs: Sequence[Any]) -> list[Any]:
    """Call ``work(x)`` for every ``x`` in a thread of its own, all released by one barrier.

    Returns the results in input order; raises the first error with its thread's index.
    """
    results: list[Any] = [None] * len(inputs)
    errors: list[tuple[int, BaseException]] = []
    barrier = threading.Barrier(len(inputs))

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(inputs[i])
        except Exception as err:  # surfaced below with the thread's index
            errors.append((i, err))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        i, err = errors[0]
        raise AssertionError(f"thread {i} failed: {err!r}") from err
    return results
