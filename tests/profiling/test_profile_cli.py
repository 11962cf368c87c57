"""``edgernn profile``: sweeps over bundles and a third-party LSTM, reports, budget gate, bad input."""

from __future__ import annotations

import csv
import io
import json
import os
import re

import onnx
import onnxruntime as ort
import pytest
from _profile_models import lstm_detector
from _runtime_models import make_bundle, rnn_model
from blocked_imports import run_blocked
from click.testing import CliRunner

from edgernn.cli import cli
from edgernn.profiling.stats import cpu_model

FAST = ["--iters", "6", "--warmup", "2"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("profile")
    bundle = make_bundle(
        root / "bundle", features=3, hidden=8, extra={"model.int8.onnx": rnn_model(hidden=8, seed=1)}
    )
    detector = root / "det.onnx"
    onnx.save(lstm_detector(), str(detector))
    return {"root": root, "bundle": bundle, "detector": detector}


def profile(*args, ok=True):
    result = CliRunner().invoke(cli, ["profile", *map(str, args)])
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


def test_help_names_every_sweep_and_the_budget():
    result = profile("--help")
    for flag in (
        "--variant",
        "--provider",
        "--threads",
        "--batch",
        "--seq",
        "--mode",
        "--streams",
        "--duration",
        "--input",
    ):
        assert flag in result.output
    for flag in (
        "--ops",
        "--torch",
        "--isolate",
        "--max-p99-ms",
        "--max-p50-ms",
        "--json",
        "--csv",
        "--plot",
    ):
        assert flag in result.output


def test_bundle_sweep_reports_every_cell(files, tmp_path):
    out = {k: tmp_path / f"r.{k}" for k in ("json", "csv", "md")}
    args = ["--seq", "1,20", "--batch", "1,2", *FAST, "--json", out["json"], "--csv", out["csv"]]
    result = profile(files["bundle"], *args, "--markdown", out["md"])
    report = json.loads(out["json"].read_text())
    cells = report["cells"]
    assert [(c["cell"]["variant"], c["cell"]["batch"], c["cell"]["seq"]) for c in cells] == [
        (v, b, t) for v in ("fp32", "int8") for b in (1, 2) for t in (1, 20)
    ]
    for c in cells:
        lat, cell = c["latency"], c["cell"]
        assert (
            lat["n"] == 6
            and 0 < lat["min_ms"] <= lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"] <= lat["max_ms"]
        )
        assert c["sequences_per_s"] == pytest.approx(cell["batch"] / (lat["mean_ms"] / 1e3))
        assert c["steps_per_s"] == pytest.approx(c["sequences_per_s"] * cell["seq"])
        assert c["input_shape"] == [cell["batch"], cell["seq"], 3]
        assert c["provider_ran"] == "CPUExecutionProvider" and cell["threads"] == 1
        name = "model.onnx" if cell["variant"] == "fp32" else "model.int8.onnx"
        assert c["model_bytes"] == (files["bundle"] / name).stat().st_size
        assert c["session_ms"] > 0 and c["first_ms"] > 0 and c["peak_rss_mib"] is None
    machine = report["machine"]
    assert (machine["cpu_model"], machine["logical_cores"]) == (cpu_model(), os.cpu_count())
    assert machine["onnxruntime"] == ort.__version__
    rows = list(csv.DictReader(io.StringIO(out["csv"].read_text())))
    assert len(rows) == 8 and float(rows[3]["p99_ms"]) == pytest.approx(cells[3]["latency"]["p99_ms"])
    markdown = out["md"].read_text()
    assert cpu_model() in markdown and markdown.count("| fp32 |") == 4
    table = [ln for ln in markdown.splitlines() if ln.startswith("| ")]
    assert len({len(re.split(r"(?<!\\)\|", ln)) for ln in table}) == 1  # max|Δ| cannot break the table
    assert "latency, ms per sequence" in result.output and "throughput" in result.output
    # one recommendation per call pattern: the fastest measured cell at each (batch, T)
    lines = [ln for ln in result.output.splitlines() if ln.startswith("recommendation: ")]
    assert len(lines) == 4 and markdown.count("- recommendation: ") == 4
    for (b, t), line in zip([(1, 1), (1, 20), (2, 1), (2, 20)], lines, strict=True):
        here = [c for c in cells if (c["cell"]["batch"], c["cell"]["seq"]) == (b, t)]
        best = min(here, key=lambda c: c["latency"]["p50_ms"])
        assert line.startswith(
            f"recommendation: sequence batch {b} T={t}: cpu {best['cell']['variant']} (1 thread)"
        )


def test_third_party_lstm_with_a_pinned_constant_streams_and_shows_its_lstm(files, tmp_path):
    pins = ["--input", "sr=16000", "--input", "input=*x8", "--state-map", "state=stateN"]
    args = ["--mode", "stream", "--seq", "6", "--batch", "1,3", "--ops", "--json", tmp_path / "r.json"]
    result = profile(files["detector"], *pins, *args, *FAST)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["inputs"]["constants"] == {"sr": 16000} and report["inputs"]["state"] == ["state -> stateN"]
    for c, batch in zip(report["cells"], (1, 3), strict=True):
        assert c["input_shape"] == [batch, 8] and c["cell"]["variant"] == "onnx"
        assert c["steps_per_s"] == pytest.approx(batch / (c["latency"]["mean_ms"] / 1e3))
        assert c["sequences_per_s"] == pytest.approx(c["steps_per_s"] / 6)
        ops = c["ops"]
        assert ops["recurrent_nodes"] == ["lstm"] and 0 < ops["recurrent_share"] < 1
        lstm = next(o for o in ops["top"] if o["node"] == "lstm")
        assert (lstm["op_type"], lstm["provider"]) == ("LSTM", "CPUExecutionProvider")
        assert ops["node_total_us"] <= ops["run_total_us"]
    assert "recurrent nodes" in result.output and "lstm" in result.output


def test_streams_time_one_batcher_tick_against_independent_streams(files, tmp_path):
    args = [
        "--mode",
        "stream",
        "--streams",
        "1,3",
        "--seq",
        "5",
        "--variant",
        "fp32",
        "--json",
        tmp_path / "r.json",
    ]
    result = profile(files["bundle"], *args, *FAST, "--csv", tmp_path / "r.csv")
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(c["cell"]["streams"], c["cell"]["batch"]) for c in report["cells"]] == [(1, 1), (3, 1)]
    for c in report["cells"]:
        n, lat = c["cell"]["streams"], c["latency"]
        assert c["input_shape"] == [n, 3]  # one tick: every stream's step
        assert c["steps_per_s"] == pytest.approx(n / (lat["mean_ms"] / 1e3))
        alone = c["baselines"][0]
        assert alone["name"] == "independent" and alone["interleaved"]
        assert alone["max_abs_diff"] <= 1e-5  # fp32: batched equals independent streams
        assert alone["speedup"] == pytest.approx(alone["latency"]["p50_ms"] / lat["p50_ms"])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert float(rows[1]["independent_steps_per_s"]) == pytest.approx(
        3 / (report["cells"][1]["baselines"][0]["latency"]["mean_ms"] / 1e3)
    )
    assert "batched streams (one StreamBatcher tick) vs independent streams" in result.output
    assert "recommendation: stream 3 streams T=5: cpu fp32 (1 thread) batched, " in result.output
    assert "x the steps/s of independent streams" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--streams", "4"], "streams: expected --mode stream and no --batch"),
        (
            ["--mode", "stream", "--streams", "4", "--batch", "2"],
            "streams: expected --mode stream and no --batch",
        ),
        (["--mode", "stream", "--streams", "0"], "expected ints >= 1"),
    ],
)
def test_streams_needs_stream_mode_and_one_sequence_per_stream(files, args, message):
    result = profile(files["bundle"], *args, ok=False)
    assert result.exit_code != 0 and message in result.output + result.stderr


def test_a_free_dim_is_shown_and_a_refused_shape_is_one_clear_error(files):
    result = profile(files["detector"], "--input", "sr=16000", ok=False)
    assert result.exit_code == 1
    assert "expected the model to accept shape [1, 1], onnxruntime refused it" in result.stderr
    assert "axis 1 ('samples') is free: using 1 (pin it with --input input=...)" in result.stderr


def test_budget_gate_exits_1_over_budget_and_0_under(files, tmp_path):
    first = tmp_path / "first.json"
    profile(files["bundle"], "--variant", "fp32", "--seq", "10", *FAST, "--json", first)
    latency = json.loads(first.read_text())["cells"][0]["latency"]
    under = profile(
        files["bundle"], "--variant", "fp32", "--seq", "10", *FAST, "--max-p99-ms", latency["p99_ms"] * 1000
    )
    assert "budget met by all 1 cells" in under.output
    for flag, key in (("--max-p99-ms", "p99_ms"), ("--max-p50-ms", "p50_ms")):
        over = profile(
            files["bundle"], "--variant", "fp32", "--seq", "10", *FAST, flag, latency[key] * 0.001, ok=False
        )
        assert over.exit_code == 1
        assert "1 cell(s) over budget" in over.stderr and "fp32/cpu/1t/b1/T10/sequence" in over.stderr


def test_a_budget_with_no_measured_cell_fails(files, tmp_path):
    root = make_bundle(tmp_path / "b", features=3, hidden=8, extra={"model.int8.onnx": rnn_model(hidden=8)})
    (root / "model.int8.onnx").write_bytes((root / "model.int8.onnx").read_bytes() + b"tampered")
    result = profile(root, "--variant", "int8", *FAST, "--max-p99-ms", "5", ok=False)
    assert result.exit_code == 1
    assert "budget --max-p99-ms 5: expected measured cells to check, got none" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--provider", "gpu"], 1, "provider: expected one of cpu, cuda, tensorrt, openvino, got 'gpu'"),
        (["--input", "x"], 1, "--input: expected NAME=SHAPE (e.g. x=1x100x40"),
        (["--input", "x=1x10x5"], 1, "axis 2 is fixed at 3 by the model ([batch, time, 3] float32), got 5"),
        (["--input", "sr=16000"], 1, "constants: 'sr' is not a pinnable input of test-lstm; pinnable: none"),
        (["--input", "h0=1x1x8"], 1, "'h0' is not the data input ('x')"),
        (["--variant", "fp16"], 1, "which has fp32, int8 (add variants with edgernn quantize)"),
        (["--iters", "5", "--duration", "1"], 1, "expected one of them, got both"),
        (["--threads", "a"], 2, "expected comma-separated ints like 1,8,32, got 'a'"),
        (["--seq", "0"], 2, "expected ints >= 1"),
        (["--max-p99-ms", "0"], 2, "--max-p99-ms"),
    ],
)
def test_bad_input_is_one_clear_error(files, args, code, message):
    result = profile(files["bundle"], *args, ok=False)
    assert result.exit_code == code, result.output
    assert message in (result.stderr if code == 1 else result.output + result.stderr)


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA is available here")
def test_an_unavailable_provider_names_the_fallback(files):
    result = profile(files["bundle"], "--provider", "cpu,cuda", ok=False)
    assert result.exit_code == 1
    assert "--provider cuda: expected CUDAExecutionProvider in this onnxruntime build" in result.stderr
    assert "would fall back to CPUExecutionProvider" in result.stderr


@pytest.mark.skipif("OpenVINOExecutionProvider" in ort.get_available_providers(), reason="OpenVINO is here")
def test_openvino_without_its_build_names_the_extra(files):
    result = profile(files["bundle"], "--provider", "openvino", ok=False)
    assert result.exit_code == 1
    assert (
        "--provider openvino: expected OpenVINOExecutionProvider in this onnxruntime build" in result.stderr
    )
    assert "install onnxruntime-openvino: pip install 'edgernn[openvino]'" in result.stderr


def test_frame_models_refuse_seq_in_sequence_mode_and_bundles_refuse_file_variants(files):
    result = profile(files["detector"], "--input", "sr=1", "--input", "input=*x8", "--seq", "5", ok=False)
    assert result.exit_code == 1 and "has no time axis, so each call is one frame" in result.stderr
    result = profile(
        files["detector"], "--input", "sr=1", "--input", "input=*x8", "--variant", "int8", ok=False
    )
    assert (
        result.exit_code == 1
        and "det.onnx is a single .onnx file; variants apply to bundles" in result.stderr
    )


def test_isolated_cells_report_the_peak_rss_of_a_fresh_process(files, tmp_path):
    profile(
        files["bundle"], "--variant", "fp32", "--seq", "10", *FAST, "--isolate", "--json", tmp_path / "r.json"
    )
    cell = json.loads((tmp_path / "r.json").read_text())["cells"][0]
    # Independent reference: a fresh interpreter that loads and runs the same model, then reads VmHWM.
    proc = run_blocked(
        f"""
        import numpy as np
        from edgernn.runtime import Session
        s = Session.load({str(files["bundle"])!r}, provider="cpu", variant="fp32", threads=1)
        for _ in range(8):
            s.run(np.random.default_rng(0).standard_normal((1, 10, 3)).astype(np.float32))
        print([l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")][0])
        """
    )
    if proc.returncode != 0 or not proc.stdout.strip().isdigit():
        pytest.skip(f"no /proc/self/status here: {proc.stderr[-200:]}")
    reference_mib = int(proc.stdout) / 1024
    assert cell["peak_rss_mib"] == pytest.approx(reference_mib, rel=0.3)
    assert cell["latency"]["n"] == 6 and cell["session_ms"] > 0


def test_plot_writes_latency_and_op_share_pngs(files, tmp_path):
    pytest.importorskip("matplotlib")
    result = profile(
        files["bundle"], "--variant", "fp32", "--seq", "1,10", "--ops", *FAST, "--plot", tmp_path / "p"
    )
    for name in ("latency_vs_seq.png", "ops_share.png"):
        path = tmp_path / "p" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(path) in result.output


def test_isolated_worker_imports_no_torch_onnx_or_matplotlib(files):
    code = f"""
        import json, subprocess, sys
        job = {{"target": {str(files["bundle"])!r}, "config": {{"iters": 3, "warmup": 1}},
                "cell": {{"variant": "fp32", "provider": "cpu", "threads": 1, "batch": 1, "seq": 4, "mode": "sequence"}}}}
        sys.stdin = __import__("io").StringIO(json.dumps(job))
        from edgernn.profiling.engine import _worker
        _worker()
        print([m for m in ("torch", "onnx", "matplotlib") if m in sys.modules])
        """
    proc = run_blocked(code)
    assert proc.returncode == 0, proc.stderr
    result, leaked = proc.stdout.strip().splitlines()
    assert json.loads(result)["latency"]["n"] == 3 and leaked == "[]"


def test_markdown_cells_with_pipes_keep_the_table_whole(files, tmp_path, monkeypatch):
    import edgernn.profiling.report as report

    monkeypatch.setattr(report, "accuracy_text", lambda accuracy: "max|Δ| 2.4e-07 vs torch")
    profile(files["bundle"], "--seq", "4", "--variant", "fp32", *FAST, "--markdown", tmp_path / "r.md")
    table = [ln for ln in (tmp_path / "r.md").read_text().splitlines() if ln.startswith("| ")]
    assert len({len(re.split(r"(?<!\\)\|", ln)) for ln in table}) == 1
    assert "| max\\|Δ\\| 2.4e-07 vs torch |" in table[-1]
