"""CUDA-graph replay for GPU streams: capture a step once, then replay it with one launch.

onnxruntime's CUDA EP captures a graph per ``gpu_graph_id`` when the session is created with
``enable_cuda_graph`` and every input and output is bound at a fixed device address. A stream swaps
its two state buffer sets every step, so it owns two graph ids (one per binding, and new ones for a
new step shape): replaying one id with other addresses would be silently wrong. The capturing
session is a second session of the same model: a session with capture on must not serve ordinary
``Session.run`` calls of other shapes. Anything the capture refuses (a node off the CUDA EP, a
shape it cannot hold) turns replay off for the whole session, and streams run as plain device
steps, which :attr:`CudaGraphs.reason` explains.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from ._ort import ort


class CudaGraphs:
    """The capturing session of one model, created on first use and shared by its streams."""

    def __init__(self, make_session: Callable[[], Any]) -> None:
        self._make = make_session
        self._session: Any = None
        self._ids = itertools.count(1)  # onnxruntime reserves 0 and uses -1 for "no graph"
        self._lock = threading.Lock()
        self.active = True
        self.reason = ""  # why replay is off, once it is

    @property
    def session(self) -> Any:
        """The session with ``enable_cuda_graph`` on (created now if needed); None once refused."""
        with self._lock:
            if self._session is None and self.active:
                try:
                    self._session = self._make()
                except Exception as err:  # onnxruntime refuses capture for graphs with CPU nodes
                    self.disable(f"onnxruntime would not create a capturing session: {_line(err)}")
            return self._session

    def new_ids(self, count: int) -> list[int]:
        """``count`` graph ids no other stream of this session uses."""
        with self._lock:
            return [next(self._ids) for _ in range(count)]

    def run(self, binding: Any, graph_id: int) -> None:
        """Replay (capturing on first use) graph ``graph_id`` with ``binding``. Runs on the capturing
        session are serialised: onnxruntime does not support concurrent replays on one session."""
        options = ort.RunOptions()
        options.add_run_config_entry("gpu_graph_id", str(graph_id))
        with self._lock:
            self._session.run_with_iobinding(binding, options)

    def disable(self, reason: str) -> None:
        """Stop capturing for every stream of this session."""
        self.active = False
        self.reason = reason


def _line(err: Exception) -> str:
    return " ".join(str(err).split())[:300]
