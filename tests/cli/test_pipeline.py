"""`edgernn pipeline` and `edgernn demo`: every stage in one command, a summary and report.md."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

from edgernn.cli import cli  # noqa: E402
from edgernn.runtime.bundle import Bundle  # noqa: E402

SHIM = Path(__file__).resolve().parents[1] / "shim"  # counts what a process opens (see its docstring)

# it checks loss.png, so in-process training draws it (tests/conftest.py)
pytestmark = pytest.mark.plots


def _check_outputs(out):
    summary = json.loads((out / "summary.json").read_text())
    train = json.loads((out / "run" / "summary.json").read_text())
    assert summary["training"] == train  # summary.json holds the run's own numbers, unrounded
    assert summary["ratio"] == pytest.approx(train["test_metric"] / train["baseline_metric"])
    assert set(summary["variants"]) == {"fp32", "int8"}
    bundle = Bundle.load(out / "bundle")
    assert bundle.variants() == ["fp32", "int8"] and set(bundle.verify().values()) == {"ok"}
    # Every variant x mode was timed on the CPU EP beside PyTorch eager.
    timed = {(t["variant"], t["mode"]): t for t in summary["timing"]}
    assert set(timed) == {("fp32", "sequence"), ("int8", "sequence"), ("fp32", "stream"), ("int8", "stream")}
    for t in timed.values():
        assert t["provider"] == "CPUExecutionProvider" and 0 < t["p50_ms"] <= t["p99_ms"]
        assert t["speedup_vs_torch"] == pytest.approx(t["torch_p50_ms"] / t["p50_ms"], rel=1e-6)
    report = (out / "report.md").read_text()
    assert report.startswith("# edgernn run report\n\n**Verdict: ")
    head = report.split("## Model and data")[0]  # the verdict and the recommendation come first
    assert "**Ship " in head or "**Do not ship any variant**" in head
    for section in (
        "## Model and data",
        "- model: GRU, 1 layer x 32 hidden units, many_to_many, window 24, horizon 1",
        "- splits (70% / 15% / 15%): ",
        "## Quantization notes",
        "stayed float: /module/rnn/GRU (GRU)",
        "## Quality",
        "| simple forecast | test rmse | model / forecast |\n|---|---|---|\n| persistence | ",
        "| seasonal naive (11) | ",  # yearly sunspots: the cycle found by the autocorrelation
        "## Variants",
        "## Export verification",
        "](loss.png)",
        "](grad_norm.png)",
        "](latency.png)",
    ):
        assert section in report
    assert all((out / name).is_file() for name in ("loss.png", "grad_norm.png", "latency.png"))
    return summary


def _check_economy(log: Path) -> None:
    """Each stage is handed what the previous one returned: at most 8 onnxruntime sessions in all the
    run's processes (export's fp32 verification and its staged bundle through edgernn.runtime, quantize's
    fp32 reference and 4 int8 weight settings, the profiled int8; fp32 profiles quantize's reference),
    the test split and the training records never read back, the run's configs opened at most 3 times
    (written by training, written into the bundle, hashed there), the bundle's manifest read at most 3
    times, the PyTorch module built once (training's own, also timed as the PyTorch baseline)."""
    lines = [line.split("\t") for line in log.read_text().splitlines()]
    counts = Counter(kind for _, kind, _ in lines)
    assert 1 <= counts["session"] <= 8, counts
    assert counts["eval_read"] <= 1, [w for _, k, w in lines if k == "eval_read"]
    opens = Counter(what for _, kind, what in lines if kind == "open")
    assert opens["config.json"] <= 3 and opens["metrics.jsonl"] <= 1, opens
    assert counts["bundle_load"] <= 3, counts  # each reads the bundle's manifest.json
    assert counts["model_built"] == 1, counts


def test_pipeline_on_bundled_data(tmp_path):
    """The whole pipeline in a fresh process, counted by tests/shim/sitecustomize.py as it runs."""
    log = tmp_path / "count.log"
    env = {**os.environ, "PYTHONPATH": str(SHIM), "EDGERNN_COUNT_LOG": str(log)}
    args = "pipeline --dataset sunspots --epochs 2 --profile-iters 5 --out".split() + [str(tmp_path / "p")]
    code = f"import sys; sys.argv = ['edgernn', *{args!r}]; from edgernn.cli import main; main()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    output = proc.stdout
    assert "6/6 report" in output and "Variants (CPU, 1 thread, batch 1)" in output
    assert f"report: {tmp_path / 'p' / 'report.md'}" in output
    assert "**" not in output and "`" not in output  # the console gets no markdown
    _check_outputs(tmp_path / "p")
    _check_economy(log)


def test_pipeline_bad_input_is_one_line(tmp_path):
    result = CliRunner().invoke(
        cli, ["pipeline", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "p")]
    )
    assert result.exit_code == 1 and result.output.count("error:") == 1
    assert not (tmp_path / "p" / "bundle").exists()


@pytest.mark.slow
def test_demo(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    summary = _check_outputs(tmp_path / "demo")
    assert summary["ratio"] <= 0.7  # the sunspots quality bar


def _tiny_pipeline(out, *extra):
    args = ["pipeline", "--dataset", "sunspots", "--epochs", "1", "--hidden", "4", "--profile-iters", "3"]
    return CliRunner().invoke(cli, [*args, "--no-torch-baseline", "--out", str(out), *extra])


def test_a_pipeline_output_is_replaced_or_continued_only_when_asked(tmp_path):
    out = tmp_path / "p"
    assert _tiny_pipeline(out).exit_code == 0
    again = _tiny_pipeline(out)
    assert again.exit_code == 1
    assert (
        f"error: {out} already holds a pipeline output; pass --overwrite to replace it or --resume"
        in again.output
    )
    first = (out / "run" / "summary.json").read_text()
    resumed = _tiny_pipeline(out, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert (
        "training finished earlier" in resumed.output and (out / "run" / "summary.json").read_text() == first
    )
    (out / "notes.txt").write_text("mine")  # a file the pipeline did not write survives --overwrite
    replaced = _tiny_pipeline(out, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert (out / "notes.txt").read_text() == "mine" and (out / "report.md").is_file()
    other = tmp_path / "other"
    other.mkdir()
    (other / "data.csv").write_text("a\n1\n")
    refused = _tiny_pipeline(other, "--overwrite")
    assert (
        refused.exit_code == 1 and "is not an edgernn pipeline output; choose another --out" in refused.output
    )
    assert sorted(p.name for p in other.iterdir()) == ["data.csv"]


def test_demo_twice_in_one_folder_replaces_its_own_output(tmp_path, monkeypatch):
    import edgernn.pipeline as pipeline

    def tiny():
        from edgernn.train.cli import build_configs

        return build_configs({"dataset": "sunspots", "epochs": 1, "hidden": 4})

    monkeypatch.setattr(pipeline, "demo_config", tiny)
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        result = CliRunner().invoke(cli, ["demo"])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "demo" / "report.md").is_file()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x").write_text("keep")
    assert CliRunner().invoke(cli, ["demo", "--out", "elsewhere"]).exit_code == 1


def test_require_baseline_exits_1_when_the_model_loses(tmp_path, monkeypatch):
    import edgernn.pipeline as pipeline

    verdict = "not better than persistence on the test split (rmse 1.25 vs 0.5, 2.50x persistence): do not ship this model"
    monkeypatch.setattr(pipeline, "run_pipeline", lambda *a, **k: SimpleNamespace(verdict=verdict))
    base = ["pipeline", "--dataset", "sunspots", "--out", str(tmp_path / "p")]
    assert CliRunner().invoke(cli, base).exit_code == 0
    strict = CliRunner().invoke(cli, [*base, "--require-baseline"])
    assert strict.exit_code == 1 and strict.stderr.strip() == f"error: {verdict} (--require-baseline)"


def test_a_multivariate_csv_is_also_trained_on_its_target_alone(tmp_path):
    """Extra columns of pure noise: the pipeline trains a second time on the target alone, compares
    the two validation RMSEs it prints, keeps the lower one's run, and leaves no second folder."""
    rng = np.random.default_rng(0)
    steps = np.arange(240)
    level = 10 + np.sin(steps / 6) + 0.05 * rng.standard_normal(240)
    noise = rng.standard_normal((240, 3))
    rows = ["a,b,c,load"] + [
        f"{n[0]:.4f},{n[1]:.4f},{n[2]:.4f},{v:.4f}" for n, v in zip(noise, level, strict=True)
    ]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    args = [
        "pipeline",
        "--data",
        str(tmp_path / "s.csv"),
        "--target",
        "load",
        "--epochs",
        "3",
        "--hidden",
        "8",
    ]
    result = CliRunner().invoke(
        cli, [*args, "--profile-iters", "3", "--no-torch-baseline", "--out", str(tmp_path / "p")]
    )
    assert result.exit_code == 0, result.output
    line = next(t for t in result.output.splitlines() if t.startswith("inputs: validation rmse"))
    every, alone = (float(v) for v in re.findall(r"([0-9.e+-]+) with (?:every|the)", line))
    kept = json.loads((tmp_path / "p" / "run" / "config.json").read_text())["data_config"]["columns"]
    assert kept == (["load"] if alone < every else None)
    assert line.endswith("the target alone" if alone < every else "every column")
    summary = json.loads((tmp_path / "p" / "run" / "summary.json").read_text())
    assert summary["best_val_metric"] == pytest.approx(min(alone, every), rel=1e-3)  # printed with 4 digits
    assert sorted(p.name for p in (tmp_path / "p").iterdir() if p.is_dir()) == ["bundle", "run"]


def test_export_gate_tolerances_reach_export(tmp_path, monkeypatch):
    import edgernn.export.from_run as from_run
    import edgernn.pipeline as pipeline

    seen = {}

    def fake_export(run_dir, bundle, **kw):
        seen.update(kw)
        raise SystemExit(0)  # stop after the call: the tolerances are what this test is about

    monkeypatch.setattr(from_run, "export_trained", fake_export)
    monkeypatch.setattr(pipeline, "_train", lambda *a, **k: SimpleNamespace(eval_arrays=None))
    monkeypatch.setattr("edgernn.export.evaluate.EvalData.from_arrays", lambda arrays, path: None)
    base = ["pipeline", "--dataset", "sunspots", "--out", str(tmp_path / "p")]
    CliRunner().invoke(cli, [*base, "--atol", "5e-5", "--rtol", "1e-3"])
    assert seen["atol"] == 5e-5 and seen["rtol"] == 1e-3 and seen["stream_atol"] == 1e-4
    CliRunner().invoke(cli, [*base, "--overwrite", "--atol", "2e-4"])
    assert seen["stream_atol"] == 2e-4  # never tighter than --atol
