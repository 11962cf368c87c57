"""The root command: help, version, one-line errors, --debug tracebacks, the shipped sample."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
from click.testing import CliRunner
from onnx_models import stacked_lstm

from edgernn import __version__
from edgernn.cli import cli

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "lstm2.onnx"


def test_help_and_version():
    runner = CliRunner()
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0 and "inspect" in result.output
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"edgernn, version {__version__}"


def test_python_dash_m_edgernn_is_the_cli():
    """A device without console scripts on PATH still has the CLI: ``python -m edgernn``."""
    proc = subprocess.run([sys.executable, "-m", "edgernn", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"edgernn, version {__version__}"
    proc = subprocess.run([sys.executable, "-m", "edgernn", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "Usage: python -m edgernn" in proc.stdout and "pipeline" in proc.stdout


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx at all")
    plain = CliRunner().invoke(cli, ["inspect", str(bad)])
    assert plain.exit_code == 1 and plain.exception.__class__ is SystemExit
    debug = CliRunner().invoke(cli, ["--debug", "inspect", str(bad)])
    assert debug.exit_code == 1
    assert type(debug.exception).__name__ == "BundleError"


def test_shipped_sample_is_what_the_builder_makes():
    # The committed sample must be the 2-layer LSTM the tests build.
    assert SAMPLE.read_bytes() == stacked_lstm(layers=2, features=4, hidden=8, seed=0).SerializeToString()
    assert onnx.load(str(SAMPLE)).graph.input[0].name == "x"
