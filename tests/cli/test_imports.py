"""The runtime and the light CLI paths never import torch, onnx or matplotlib."""

from __future__ import annotations

import subprocess
import sys

import pytest
from blocked_imports import cli_blocked, run_blocked

HEAVY = ("torch", "onnx", "matplotlib")


def test_runtime_imports_without_torch_onnx_matplotlib():
    proc = run_blocked(
        """
        import sys, edgernn, edgernn.runtime
        from edgernn.runtime import Bundle, Manifest, BundleError
        leaked = [m for m in ('torch', 'onnx', 'matplotlib') if m in sys.modules]
        print('leaked', leaked)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "leaked []"


def test_quantize_imports_without_torch():
    # `edgernn quantize` (and its concurrent writers) needs onnx and onnxruntime, never torch:
    # importing torch cost each quantize process ~2 s of CPU before variant_gate read Check from the runtime
    proc = run_blocked("import edgernn.export.quantization", blocked=("torch", "matplotlib"))
    assert proc.returncode == 0, proc.stderr


def _commands() -> list[str]:
    from edgernn.cli import COMMANDS

    return sorted(COMMANDS)


@pytest.mark.parametrize("command", _commands())
def test_every_cli_help_without_heavy_imports(command):
    # Stricter than "run/profile/inspect": no command module imports torch/onnx at top level.
    proc = cli_blocked([command, "--help"])
    assert proc.returncode == 0, proc.stderr
    assert f"Usage: edgernn {command}" in proc.stdout


def test_root_help_lists_commands_without_heavy_imports():
    proc = cli_blocked(["--help"])
    assert proc.returncode == 0, proc.stderr
    assert "inspect" in proc.stdout


def test_missing_onnxruntime_names_the_extra():
    proc = run_blocked("import edgernn.runtime", blocked=("onnxruntime",))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "MissingDependencyError" in last
    assert "edgernn[cpu]" in last and "edgernn[gpu]" in last


def test_stage_folders_are_not_top_level_packages(tmp_path):
    # Run from an empty folder so the repository's own train/ export/ runtime/ are not on sys.path.
    for name in ("train", "export", "runtime"):
        proc = subprocess.run(
            [sys.executable, "-c", f"import {name}"], capture_output=True, text=True, cwd=tmp_path
        )
        assert proc.returncode == 1, f"a top-level package {name!r} is installed"
        assert "ModuleNotFoundError" in proc.stderr
