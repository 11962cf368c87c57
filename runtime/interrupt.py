"""Ctrl-C that works while onnxruntime computes.

Python delivers a signal to the main thread only between bytecodes, and a long onnxruntime call is
one bytecode: a ``Loop`` with a huge trip count would never see Ctrl-C. So the work runs in a worker
thread while the main thread waits; on Ctrl-C the main thread stops onnxruntime through
``RunOptions.terminate`` (:meth:`Session.interrupt`), waits briefly for the worker, and re-raises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
GRACE_S = 5.0  # how long an interrupted worker may take to notice


def interruptible(work: Callable[[], T], interrupt: Callable[[], Any]) -> T:
    """``work()`` in a worker thread; on ``KeyboardInterrupt`` call ``interrupt()`` and re-raise."""
    box: dict[str, Any] = {}
    done = threading.Event()  # not Thread.join: a join cut short by Ctrl-C may report a live thread as ended

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as err:  # handed to the waiting thread
            box["error"] = err
        finally:
            done.set()

    threading.Thread(target=target, name="edgernn-work", daemon=True).start()
    try:
        while not done.wait(0.1):
            pass
    except KeyboardInterrupt:
        interrupt()
        done.wait(GRACE_S)  # onnxruntime notices the flag between kernels; exiting under it would abort
        raise
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
