"""Run a snippet against a deployed bundle in a fresh Python where torch cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_NO_TORCH = """
import importlib.abc, sys
class _NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'onnx', 'matplotlib'):
            raise ImportError('not on the device: ' + name)
sys.meta_path.insert(0, _NoTorch())
"""


def run_on_device(code: str) -> object:
    """Execute ``code`` (which prints one JSON value last) with torch, onnx and matplotlib blocked."""
    proc = subprocess.run(
        [sys.executable, "-c", _NO_TORCH + textwrap.dedent(code)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the torch-free run failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
