"""Quality bars on the bundled data with default settings (slow: run with ``pytest -m slow``).

Bars (also in docs/training.md): sunspots RMSE <= 0.7x persistence, digits accuracy >= 97 %,
character-model validation loss <= 0.8x the unigram baseline; each run within a few minutes
on a 2-core CPU.
"""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from edgernn.cli import cli

pytest.importorskip("torch")

MAX_SECONDS = 300  # "a few minutes" on 2 cores; default runs take well under one


def train_bundled(name: str, out) -> tuple[dict, float]:
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["train", "--dataset", name, "--out", str(out)])
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    print(f"\n{name}: {seconds:.0f} s\n{result.stdout}")
    return json.loads((out / "summary.json").read_text()), seconds


@pytest.mark.slow
def test_sunspots_forecast_beats_persistence_by_30_percent(tmp_path):
    summary, seconds = train_bundled("sunspots", tmp_path / "sun")
    assert summary["baseline"] == "persistence"
    assert summary["test_metric"] <= 0.7 * summary["baseline_metric"]
    assert seconds < MAX_SECONDS


@pytest.mark.slow
def test_digits_accuracy_at_least_97_percent(tmp_path):
    summary, seconds = train_bundled("digits", tmp_path / "digits")
    # the verdict's baseline is the strongest of the majority class and 1-NN Euclidean (z-normalised rows)
    scores = {b["name"]: b["metric"] for b in summary["baselines"]}
    assert summary["metric"] == "accuracy" and set(scores) == {"majority", "1-NN Euclidean"}
    assert summary["baseline_metric"] == max(scores.values())
    assert summary["test_metric"] > summary["baseline_metric"]
    assert summary["test_metric"] >= 0.97
    assert seconds < MAX_SECONDS


@pytest.mark.slow
def test_character_model_clearly_below_unigram(tmp_path):
    summary, seconds = train_bundled("text", tmp_path / "text")
    assert summary["metric"] == "nll" and summary["baseline"] == "unigram"
    records = [json.loads(line) for line in (tmp_path / "text" / "metrics.jsonl").read_text().splitlines()]
    unigram_val = _unigram_val_loss()
    best_val = min(r["val_loss"] for r in records)
    print(f"text: best val loss {best_val:.3f} nats/char vs unigram {unigram_val:.3f}")
    assert best_val <= 0.8 * unigram_val
    assert summary["test_metric"] <= 0.8 * summary["baseline_metric"]
    assert seconds < MAX_SECONDS


def _unigram_val_loss() -> float:
    from edgernn.train.config import DataConfig
    from edgernn.train.data import load_dataset
    from edgernn.train.datasets import presets
    from edgernn.train.objective import Objective

    data = load_dataset(DataConfig(dataset="text", **presets("text")[0]))
    return Objective(data.info).baseline(data.val)
