"""Start a child that Ctrl-C (SIGINT) can interrupt, whatever the test runner inherited.

A runner started as a background job (``cmd &`` in a script, nohup, some CI launchers) has SIGINT
ignored, and children inherit that: Python then installs no KeyboardInterrupt handler, and a test
that sends SIGINT would wait forever. The child gets the default disposition back before it starts.
"""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def popen_interruptible(args: list[str], **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen(args, **kwargs)`` with SIGINT at its default in the child."""
    return subprocess.Popen(args, preexec_fn=_default_sigint, **kwargs)  # noqa: PLW1509
