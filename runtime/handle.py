"""A :class:`StreamHandle`: one stream of a :class:`~edgernn.runtime.batcher.StreamBatcher`, and how a
tick's results reach the threads that wait for them."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from .errors import InputError, ModelRunError
from .result import Result

if TYPE_CHECKING:
    from .batcher import StreamBatcher


class StreamHandle:
    """One stream of a :class:`StreamBatcher`: its own state, stepped in the batcher's ticks."""

    __slots__ = ("_batcher", "_done", "_result", "number", "steps", "__weakref__")

    def __init__(self, batcher: StreamBatcher, number: int) -> None:
        self._batcher = batcher
        self._done = threading.Lock()  # held while nobody waits; released by the tick that ran our step
        self._done.acquire()
        self._result: Any = None
        self.number = number  # in the order handles were opened, for messages
        self.steps = 0  # time steps consumed since opening or the last reset

    def step(self, x_t: Any) -> Result:
        """Feed one step (``[1, features]`` raw values, as ``Stream.step`` of batch 1) and wait for the
        tick that runs it; safe to call from many threads, each with its own handle."""
        return self._batcher._submit(self, x_t)

    def reset(self) -> None:
        """Clear all of this stream's state and its step count."""
        self._batcher._reset(self)

    def close(self) -> None:
        """Leave the batcher; its slot goes to the streams that remain. Closing twice is a no-op."""
        self._batcher._close(self)

    @property
    def closed(self) -> bool:
        return self._batcher._slot(self, None) is None

    @property
    def state(self) -> dict[str, np.ndarray]:
        """A copy of this stream's state, shaped like a ``Stream`` of batch 1's."""
        return self._batcher._read_state(self)

    @state.setter
    def state(self, value: Mapping[str, Any]) -> None:
        self._batcher._write_state(self, value)

    def __repr__(self) -> str:
        return f"<stream handle #{self.number}{' (closed)' if self.closed else ''}>"


class Tick:
    """The results of a tick, handed to the threads waiting for them once the batcher's lock is free."""

    __slots__ = ("handles", "results")

    def __init__(self, handles: list[StreamHandle], results: list[Any]) -> None:
        self.handles, self.results = handles, results

    @overload
    def hand_out(self, own: StreamHandle) -> Result: ...
    @overload
    def hand_out(self, own: None) -> None: ...
    def hand_out(self, own: StreamHandle | None) -> Result | None:
        """Wake every waiting handle but ``own`` with its result; return (or raise) ``own``'s."""
        mine = None
        for h, r in zip(self.handles, self.results, strict=True):
            if h is own:
                mine = r
            else:
                h._result = r
                h._done.release()
        if isinstance(mine, BaseException):
            raise mine
        return mine


def take(handle: StreamHandle) -> Result:
    result: Result | BaseException = handle._result
    handle._result = None
    if isinstance(result, BaseException):
        raise result
    return result


def failed(err: BaseException) -> Exception:
    """What the other threads of a tick raise: its error, or for an interrupt one that says so."""
    if isinstance(err, Exception):
        return err
    return ModelRunError(
        f"the tick that ran this step was interrupted ({type(err).__name__}); the step did not run"
    )


def refuse_repeats(handles: list[StreamHandle], given: int) -> None:
    """``batcher.step`` of a Mapping that lists a handle twice (or whose values do not match its keys)."""
    twice = next((h for k, h in enumerate(handles) if h in handles[:k]), None)
    if twice is not None:
        raise InputError(f"steps: {twice!r} is listed twice; a tick steps each handle once")
    raise InputError(f"steps: {len(handles)} handles but {given} step inputs; expected one input per handle")
