"""A differencing forecaster exports like any model: the gate proves its levels (whole and streamed)
against PyTorch, its extra state travels as state pairs, and the runtime returns levels."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from train_fixtures import QUIET, tiny  # noqa: E402

from edgernn.export.from_run import export_run  # noqa: E402
from edgernn.runtime import Session  # noqa: E402
from edgernn.runtime.bundle import Bundle  # noqa: E402
from edgernn.train import DataConfig, RunConfig, load_run, run_training  # noqa: E402


def _csv(tmp_path, seasonal: bool):
    rng = np.random.default_rng(3)
    rows = 200
    t = np.arange(rows)
    level = 20 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.05, rows) if seasonal else 0.0
    trend = 100 + np.cumsum(rng.normal(0.2, 1, rows))
    other = np.cumsum(rng.normal(0, 1, rows))
    hours = np.datetime64("2010-01-01T00:00") + np.arange(rows).astype("timedelta64[h]")
    lines = ["when,other,load"] + [
        f"{h},{o:.5f},{v:.5f}" for h, o, v in zip(hours, other, trend * (not seasonal) + level, strict=True)
    ]
    path = tmp_path / "load.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("seasonal,cell", [(False, "lstm"), (True, "gru")])
def test_levels_in_levels_out_verified_and_streamed(tmp_path, seasonal, cell):
    data = DataConfig(path=str(_csv(tmp_path, seasonal)), target=("load",), window=12)
    model_config, train_config = tiny(cell=cell, epochs=1)
    run_training(RunConfig(data, model_config, train_config), tmp_path / "run", console=QUIET)
    report = export_run(tmp_path / "run", tmp_path / "b")
    manifest = Bundle.load(tmp_path / "b").manifest
    want = "season" if seasonal else "first"
    assert manifest.series.difference == want and manifest.series.time_column == "when"
    assert manifest.input.columns == ("other", "load") and manifest.output.names == ("load[t+1]",)
    names = [s.input for s in manifest.state]
    assert names[-3 if seasonal else -2 :] == (
        ["x_prev0", "primed0", "y_hist0"] if seasonal else ["x_prev0", "primed0"]
    )
    if seasonal:
        assert manifest.state[-1].shape == (1, "batch", 24)
    checks = {c.name: c for c in report.checks}
    assert all(c.passed for c in report.checks)
    assert "parity zero state T=" in " ".join(checks) and any(
        n.startswith("stream step-by-step") for n in checks
    )
    # the runtime's levels are PyTorch's levels (raw units), whole and step by step
    model, info = load_run(tmp_path / "run")
    x = np.load(tmp_path / "b" / "eval.npz")["x"][:1]
    with torch.no_grad():
        y, _ = model(torch.from_numpy(((x - info.data.input_mean) / info.data.input_std).astype(np.float32)))
    want_y = y.numpy() * info.data.output_std + info.data.output_mean
    session = Session.load(tmp_path / "b", provider="cpu", variant="fp32")
    got = session.run(x.astype(np.float32)).output
    stream = session.stream()
    stepped = np.stack([stream.step(x[:, t].astype(np.float32)).output for t in range(x.shape[1])], 1)
    scale = float(np.abs(want_y).max())
    np.testing.assert_allclose(got, want_y, atol=1e-5 * scale)
    np.testing.assert_allclose(stepped, got, atol=1e-5 * scale)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert manifest.validation.torch_metric.value == pytest.approx(summary["test_metric"])
    from click.testing import CliRunner

    from edgernn.cli import cli

    shown = CliRunner().invoke(cli, ["inspect", str(tmp_path / "b")])
    assert shown.exit_code == 0, shown.output
    assert "input columns (in order): other, load" in shown.stdout and "outputs: load[t+1]" in shown.stdout
    assert f"difference: {want} (" in shown.stdout.replace("\n", " ")


def test_calendar_features_run_from_the_counter_state(tmp_path):
    from click.testing import CliRunner

    from edgernn.cli import cli

    data = DataConfig(path=str(_csv(tmp_path, seasonal=False)), target=("load",), window=12, calendar=True)
    model_config, train_config = tiny(cell="lstm", epochs=1)
    run_training(RunConfig(data, model_config, train_config), tmp_path / "run", console=QUIET)
    report = export_run(tmp_path / "run", tmp_path / "b")
    assert all(c.passed for c in report.checks)
    manifest = Bundle.load(tmp_path / "b").manifest
    assert manifest.series.calendar[:2] == ("sin1_day", "cos1_day") and manifest.series.counter == "step0"
    assert manifest.state[-1].input == "step0" and manifest.input.features == 2  # no calendar columns in
    evald = np.load(tmp_path / "b" / "eval.npz")
    start = int(evald["cond"][0, 0])
    assert manifest.validation.torch_metric.value == pytest.approx(
        json.loads((tmp_path / "run" / "summary.json").read_text())["test_metric"]
    )
    # `run` with --start-row gives what the session gives with the counter set
    x = evald["x"][0, :5].astype(np.float32)
    hours = np.datetime64("2010-01-01T00:00") + (start + np.arange(5)).astype("timedelta64[h]")
    rows = [f"{h},{a:.9g},{b:.9g}" for h, (a, b) in zip(hours, x, strict=True)]
    (tmp_path / "x.csv").write_text("when,other,load\n" + "\n".join(rows) + "\n")
    session = Session.load(tmp_path / "b", provider="cpu", variant="fp32")
    want = session.run(x[None], state={"step0": np.full((1, 1, 1), start, np.float32)}).output[0, :, 0]
    ran = CliRunner().invoke(
        cli, ["run", str(tmp_path / "b"), str(tmp_path / "x.csv"), "--start-row", str(start)]
    )
    assert ran.exit_code == 0, ran.output
    got = np.array([float(line.split(",")[2]) for line in ran.stdout.splitlines()[1:]])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert (
        f"the first input row is row {start} of the training CSV (hourly rows from 2010-01-01" in ran.stderr
    )
    # the dates alone give the same row (no --start-row), and each output is indexed by its forecast hour
    ran = CliRunner().invoke(cli, ["run", str(tmp_path / "b"), str(tmp_path / "x.csv")])
    assert ran.exit_code == 0, ran.output
    lines = ran.stdout.splitlines()
    assert lines[0] == "step,when,load[t+1],warmup" and f"row {start} of the training CSV" in ran.stderr
    np.testing.assert_allclose([float(v.split(",")[2]) for v in lines[1:]], want, rtol=1e-6)
    assert [v.split(",")[1] for v in lines[1:]] == [str(h + np.timedelta64(1, "h")) + ":00" for h in hours]
    assert "from its date" in ran.stderr and "the first 5 outputs are warm-up" in ran.stderr
    # the counter is float64: a stream past 2**24 rows keeps its phase (a day is 24 rows here)
    far = start + 24 * 2**20  # 25,165,824 rows later: same hour of the day
    assert far > 2**24 and manifest.state[-1].dtype == "float64"
    later = session.run(x[None], state={"step0": np.full((1, 1, 1), far, np.float64)}).output[0, :, 0]
    np.testing.assert_allclose(later, want, rtol=1e-6)
    ran = CliRunner().invoke(
        cli, ["run", str(tmp_path / "b"), str(tmp_path / "x.csv"), "--start-row", str(far)]
    )
    assert ran.exit_code == 0, ran.output
    got = np.array([float(line.split(",")[2]) for line in ran.stdout.splitlines()[1:]])
    np.testing.assert_allclose(got, want, rtol=1e-6)
