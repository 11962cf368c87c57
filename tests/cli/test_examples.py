"""The examples end to end, with the targets each example states (slow: ~70 s together)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).parents[2] / "examples"))


def _run(name: str, out: Path) -> dict:
    return importlib.import_module(name).main(out)


@pytest.mark.slow
def test_digits_classifier(tmp_path):
    result = _run("digits_classifier", tmp_path)
    assert result["fp32"] >= 0.97
    assert result["int8"] >= result["fp32"] - 0.01
    assert result["same_on_device"]


@pytest.mark.slow
def test_sunspots_forecast(tmp_path):
    result = _run("sunspots_forecast", tmp_path)
    assert result["rmse"] <= 0.7 * result["persistence_rmse"]
    assert result["decade_rmse"] < result["flat_decade_rmse"]
    assert result["same_on_device"]


@pytest.mark.slow
def test_digit_generation(tmp_path):
    result = _run("digit_generation", tmp_path)
    assert result["accuracy"] >= 0.9 > result["average_digit_accuracy"]
    assert result["same_on_device"]


@pytest.mark.slow
def test_csv_forecasts_beat_persistence(tmp_path):
    result = _run("csv_forecasts", tmp_path)
    assert {k: r["difference"] for k, r in result.items()} == {
        "co2": "first",
        "realgdp": "first",
        "sst": "none",
    }
    assert {k: r["step"] for k, r in result.items()} == {
        "co2": "weekly",
        "realgdp": "quarterly",
        "sst": "monthly",
    }
    for name, r in result.items():
        assert r["ratio"] <= 0.85, (name, r)
