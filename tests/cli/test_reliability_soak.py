"""The soak benchmark in smoke mode (a few seconds, no target check), its output checked.

Slow suite, like the other benchmark smokes (tests/cli/test_benchmarks_smoke.py): `.ci/run` smoke-runs
every benchmark, soak.py included, on every CI run, and the soak's memory check is a slow-suite bar.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")  # the benchmark model is exported with torch

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


@pytest.mark.slow
def test_soak_smoke_streams_samples_rss_and_prints_the_growth_last():
    proc = subprocess.run([sys.executable, str(SOAK), "--smoke"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    samples = [float(m[1]) for m in (re.match(r"t +[\d.]+ s  rss +([\d.]+) MiB", ln) for ln in lines) if m]
    assert len(samples) >= 5 and all(40 < s < 2000 for s in samples)
    steps = int(re.search(r"streamed [\d.]+ min: ([\d,]+) steps on 4 streams", lines[-3])[1].replace(",", ""))
    assert steps > 1000
    last = re.fullmatch(
        r"soak [\d.]+ min: rss growth after warm-up ([+-][\d.]+) MiB \(<= 1.0 MiB\) -> smoke", lines[-1]
    )
    assert last, lines[-1]
    assert float(last[1]) == pytest.approx(sum(samples[-3:]) / 3 - sum(samples[:3]) / 3, abs=2e-3)
