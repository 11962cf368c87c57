"""Benchmarks in smoke mode (few iterations, no target check, ratios printed last), with their output
checked. `.ci/run` smoke-runs every benchmark once per CI run, so these stay in the slow suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def smoke(name: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), "--smoke"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip().splitlines()


@pytest.mark.slow
def test_vs_torch_smoke_prints_its_ratios_last():
    lines = smoke("vs_torch.py")
    assert lines[-1].startswith("vs PyTorch eager (1 thread, batch 1, T=100): sequence ")
    assert "x (>= 4.5), stream step " in lines[-1] and lines[-1].endswith("x (>= 8.0) -> smoke")
    assert sum(" torch eager p50 " in line for line in lines) == 10  # 8 sequence cells + 2 stream cells


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    ["overhead.py", "quant_speed.py", "startup.py", "stream_batcher.py", "peers.py", "classification.py"],
)
def test_other_benchmarks_smoke(name):
    assert "smoke" in smoke(name)[-1]


def test_every_benchmark_script_has_a_smoke_mode():
    """`.ci/run` runs ``python benchmarks/NAME.py --smoke`` for every script there (a script without
    the flag stops CI with a usage error)."""
    scripts = sorted(BENCHMARKS.glob("[a-z]*.py"))
    assert len(scripts) >= 10
    lacking = [p.name for p in scripts if '"--smoke"' not in p.read_text(encoding="utf-8")]
    assert not lacking, lacking
