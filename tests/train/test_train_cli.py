"""``edgernn train`` end to end through click: help, real runs, resume, and one-line errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from train_fixtures import write_series_csv

from edgernn.cli import cli

torch = pytest.importorskip("torch")

TINY = ["--hidden", "8", "--threads", "1"]


def invoke(*args):
    return CliRunner().invoke(cli, ["train", *map(str, args)])


def digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_help_lists_the_flags_with_their_defaults():
    result = invoke("--help")
    assert result.exit_code == 0
    for text in (
        "--tbptt",
        "--clip-grad-norm",
        "[default: 1.0]",
        "--dataset [sunspots|digits|text]",
        "--resume",
    ):
        assert text in result.output


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "edgernn.train", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: python -m edgernn.train train [OPTIONS]")


def test_bundled_run_prints_a_summary_and_resume_extends_it(tmp_path):
    out = tmp_path / "sun"
    result = invoke("--dataset", "sunspots", "--epochs", "2", *TINY, "--out", out)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("best val rmse ")
    assert lines[1].startswith("test rmse ") and " baseline " in lines[1] and "(ratio " in lines[1]
    summary = json.loads((out / "summary.json").read_text())
    scores = {b["name"]: b["metric"] for b in summary["baselines"]}
    shown = ", ".join(f"{summary['test_metric'] / v:.2f}x {k} ({v:.4g})" for k, v in scores.items())
    assert lines[2] == f"simple forecasts: {shown}" and set(scores) == {
        "persistence",
        "seasonal naive (11)",  # yearly rows: the sunspot cycle, from the autocorrelation
        "training mean",
    }
    assert summary["baseline_metric"] == min(scores.values())  # the verdict is against the strongest
    assert lines[3] == f"checkpoint {out / 'model.safetensors'}"
    assert f"{summary['test_metric']:.4g}" in lines[1] and f"{summary['baseline_metric']:.4g}" in lines[1]
    assert "epoch 2/2 loss " in result.stderr and "(* = the best validation metric so far" in result.stderr
    again = invoke("--out", out, "--resume", "--epochs", "3")
    assert again.exit_code == 0, again.output
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2, 3]
    assert json.loads((out / "config.json").read_text())["train"]["epochs"] == 3


def one_error_line(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]
    return lines


BAD_CSV = {
    "ragged": ("a,b\n1,2\n3\n", ["bad.csv", "line 3 has 1 fields, expected 2"]),
    "text": ("a,b\n1,2\n3,oops\n", ["bad.csv", "line 3", "column 'b'", "'oops' is not a number"]),
    "nan": ("a,b\n1,2\nNaN,4\n", ["bad.csv", "line 3", "column 'a'", "not a finite number"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv_gives_one_line_and_writes_nothing(tmp_path, case):
    content, fragments = BAD_CSV[case]
    (tmp_path / "bad.csv").write_text(content)
    result = invoke("--data", tmp_path / "bad.csv", "--window", "1", "--out", tmp_path / "run")
    assert one_error_line(result, *fragments) == [result.stderr.strip()]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["--data", "{tmp}/missing.csv"], ["missing.csv", "file not found"]),
        (["--data", "{csv}", "--columns", "temp,watts"], ["s.csv", "unknown column 'watts'"]),
        (
            ["--data", "{csv}", "--columns", "load", "--window", "200"],
            ["--window 200", "longer than the training"],
        ),
        (
            [
                "--data",
                "{csv}",
                "--columns",
                "load",
                "--topology",
                "many_to_one",
                "--window",
                "10",
                "--horizon",
                "20",
            ],
            ["0 samples in the val split"],
        ),
        (["--data", "{csv}", "--dataset", "digits"], ["give exactly one of --data PATH or --dataset NAME"]),
        (["--data", "{csv}", "--columns", "load", "--bidirectional"], ["must not see the future"]),
        (
            ["--data", "{csv}", "--columns", "load", "--members", "3"],
            ["--members 3: is for many_to_one classifiers"],
        ),
        (
            ["--data", "{csv}", "--columns", "load", "--augment"],
            ["--augment: is for many_to_one classifiers"],
        ),
        (["--dataset", "text", "--topology", "many_to_one"], ["text data trains --topology many_to_many"]),
    ],
)
def test_bad_flags_and_data_give_one_line_and_write_nothing(tmp_path, args, fragments):
    csv = write_series_csv(tmp_path / "s.csv")
    args = [a.format(tmp=tmp_path, csv=csv) for a in args]
    result = invoke(*args, *TINY, "--out", tmp_path / "run")
    one_error_line(result, *fragments)
    assert not (tmp_path / "run").exists()


def test_incompatible_resume_names_the_field_and_leaves_the_run_alone(tmp_path):
    out = tmp_path / "run"
    assert invoke("--dataset", "sunspots", "--epochs", "1", *TINY, "--out", out).exit_code == 0
    before = digest(out)
    result = invoke("--out", out, "--resume", "--epochs", "3", "--hidden", "16")
    one_error_line(result, f"cannot --resume {out}", "model.hidden_size is 8 in the run, 16 now")
    result = invoke("--out", out, "--resume", "--epochs", "3", "--lr", "0.5")
    one_error_line(result, "train.lr is 0.003 in the run, 0.5 now")
    result = invoke("--out", out, "--resume")
    one_error_line(result, "already ran 1 epochs; pass --epochs above 1")
    assert digest(out) == before
    one_error_line(invoke("--out", tmp_path / "nothing", "--resume"), "run directory not found")
    one_error_line(invoke("--resume"), "--resume needs --out")
    one_error_line(invoke("--dataset", "sunspots", *TINY, "--out", out), "already exists", "pass --resume")


def test_exploding_learning_rate_stops_cleanly_with_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "run"
    result = invoke("--dataset", "sunspots", "--lr", "1e6", "--optimizer", "sgd", "--clip-grad-norm", "0", *TINY,
                    "--out", out)  # fmt: skip
    one_error_line(result, "became", "The last good checkpoint is intact", str(out / "model.safetensors"))
    from edgernn.train import load_run

    model, info = load_run(out)
    assert info.summary is None and all(p.isfinite().all() for p in model.parameters())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_an_error_not_a_fallback(tmp_path):
    result = invoke("--dataset", "sunspots", "--device", "cuda", "--out", tmp_path / "run")
    one_error_line(result, "--device cuda: CUDA is not available")
    assert not (tmp_path / "run").exists()
