"""Run Python in a subprocess where some top-level packages cannot be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_BLOCKER = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError(f'blocked for this test: {{name}}')
        return None
sys.meta_path.insert(0, _Block())
"""


def run_blocked(code: str, blocked: tuple[str, ...] = ("torch", "onnx", "matplotlib"), cwd=None):
    """Run ``code`` with ``blocked`` packages unimportable; return the CompletedProcess."""
    program = _BLOCKER.format(blocked=set(blocked)) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def cli_blocked(args: list[str], blocked: tuple[str, ...] = ("torch", "onnx", "matplotlib"), cwd=None):
    """Run ``edgernn ARGS`` in-process of a fresh interpreter with ``blocked`` unimportable."""
    code = f"import sys\nsys.argv = ['edgernn', *{args!r}]\nfrom edgernn.cli import main\nmain()\n"
    return run_blocked(code, blocked, cwd=cwd)
