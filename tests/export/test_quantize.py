"""Quantized variants: what gets quantized, the metric gate, refusals, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402
from export_models import Seq  # noqa: E402
from torch import nn  # noqa: E402

from edgernn.cli import cli  # noqa: E402
from edgernn.export import ExportMeta, export  # noqa: E402
from edgernn.export.quantization import QuantizeConfig, quantize  # noqa: E402
from edgernn.runtime import Session  # noqa: E402
from edgernn.runtime.bundle import Bundle  # noqa: E402
from edgernn.runtime.errors import BundleError, InputError  # noqa: E402
from edgernn.runtime.manifest import OutputSpec  # noqa: E402
from edgernn.runtime.records import Metric  # noqa: E402

LABELS = ("a", "b", "c")


def _classifier_bundle(tmp_path, cell, hidden=32):
    module = Seq(cell, layers=2, topology="many_to_one", hidden=hidden).eval()
    meta = ExportMeta(name=cell, output=OutputSpec(kind="classes", labels=LABELS))
    export(module, torch.randn(2, 12, 4), tmp_path / cell, topology="many_to_one", meta=meta)
    x = np.random.default_rng(0).standard_normal((48, 12, 4)).astype(np.float32)
    # Labels = what fp32 predicts, so accuracy measures how often a variant agrees with fp32.
    y = Session.load(tmp_path / cell, provider="cpu").run(x).output.argmax(-1)
    np.savez(tmp_path / "eval.npz", x=x, y=y)
    return tmp_path / cell, tmp_path / "eval.npz"


def test_lstm_int8_dynamic(tmp_path):
    bundle, data = _classifier_bundle(tmp_path, "lstm")
    report = quantize(bundle, ["int8"], eval_path=data, config=QuantizeConfig(latency_iters=10))
    (r,) = report.results
    assert r.accepted and r.quantized_ops["DynamicQuantizeLSTM"] == 2 and r.float_recurrent == ()
    assert report.fp32.metric == Metric("accuracy", 1.0, True)
    assert r.metric_delta <= 0.01
    assert len(r.candidates) == 4  # s8/u8 x reduce_range, measured
    assert {(c["weight_type"], c["reduce_range"]) for c in r.candidates} == {
        ("s8", False),
        ("u8", False),
        ("s8", True),
        ("u8", True),
    }
    assert r.size_ratio < 0.6
    loaded = Bundle.load(bundle)
    assert loaded.variants() == ["fp32", "int8"]
    assert loaded.manifest.quantization["int8"].sha256 == loaded.manifest.files["model.int8.onnx"].sha256
    ops = {n.op_type for n in onnx.load(str(loaded.model_path("int8"))).graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops
    int8 = Session.load(bundle, provider="cpu", variant="int8")
    x = np.load(data)["x"][:4]
    fp32 = Session.load(bundle, provider="cpu", variant="fp32").run(x).output
    np.testing.assert_allclose(int8.run(x).output, fp32, atol=0.05)


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_gru_rnn_report_heads_only(tmp_path, cell):
    bundle, data = _classifier_bundle(tmp_path, cell)
    (r,) = quantize(
        bundle, ["int8"], eval_path=data, config=QuantizeConfig(weight_type="s8", latency_iters=5)
    ).results
    assert set(r.quantized_ops) == {"DynamicQuantizeLinear", "MatMulInteger"}
    assert len(r.float_recurrent) == 2 and all(f"({cell.upper()})" in f for f in r.float_recurrent)
    assert "no int8 GRU/RNN kernel; heads quantized" in r.note


def test_fp16_for_cpu_keeps_recurrent_ops_fp32(tmp_path):
    bundle, data = _classifier_bundle(tmp_path, "lstm")
    config = QuantizeConfig(fp16_target="cpu", latency_iters=5)
    (r,) = quantize(bundle, ["fp16"], eval_path=data, config=config).results
    assert r.accepted and r.metric_delta <= 0.01
    assert r.size_ratio > 0.9  # the LSTM weights dominate and stay fp32: fp16 buys a CPU target nothing
    model = onnx.load(str(bundle / "model.fp16.onnx"))
    assert [i.type.tensor_type.elem_type for i in model.graph.input] == [onnx.TensorProto.FLOAT] * 3
    lstm_weights = {n.input[1] for n in model.graph.node if n.op_type == "LSTM"}
    init = {t.name: t.data_type for t in model.graph.initializer}
    assert {init[w] for w in lstm_weights} == {onnx.TensorProto.FLOAT}
    assert onnx.TensorProto.FLOAT16 in init.values()


def test_budget_refuses_then_force_keeps(tmp_path):
    module = Seq("lstm", layers=1).eval()
    export(module, torch.randn(2, 6, 4), tmp_path / "b")
    x = np.random.default_rng(1).standard_normal((16, 6, 4)).astype(np.float32)
    np.savez(tmp_path / "eval.npz", x=x, y=Session.load(tmp_path / "b", provider="cpu").run(x).output)
    # fp32 RMSE is exactly 0 against its own predictions: any int8 error is an infinite relative drop.
    report = quantize(
        tmp_path / "b", ["int8"], eval_path=tmp_path / "eval.npz", config=QuantizeConfig(latency_iters=5)
    )
    assert report.refused == ["int8"] and "refused" in report.results[0].note
    assert not (tmp_path / "b" / "model.int8.onnx").exists() and Bundle.load(tmp_path / "b").variants() == [
        "fp32"
    ]
    forced = quantize(
        tmp_path / "b",
        ["int8"],
        eval_path=tmp_path / "eval.npz",
        config=QuantizeConfig(force=True, latency_iters=5),
    )
    assert forced.refused == [] and Bundle.load(tmp_path / "b").variants() == ["fp32", "int8"]


class _NoHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 5, batch_first=True)

    def forward(self, x, state=None):
        return self.gru(x, state)


def test_bad_inputs(tmp_path):
    bundle, data = _classifier_bundle(tmp_path, "lstm", hidden=8)
    with pytest.raises(InputError, match="ships no evaluation data; pass --eval FILE.npz"):
        quantize(bundle, ["int8"])
    np.savez(tmp_path / "wrong.npz", x=np.zeros((4, 12, 5), np.float32), y=np.zeros(4))
    with pytest.raises(
        InputError,
        match=r"eval data for input 'x': expected shape \[n, time, 4\] \(float\), got \[4, 12, 5\]",
    ):
        quantize(bundle, ["int8"], eval_path=tmp_path / "wrong.npz")
    with pytest.raises(InputError, match="variant: expected one of int8, int8-static, fp16, got 'int4'"):
        quantize(bundle, ["int4"], eval_path=data)
    export(_NoHead().eval(), torch.randn(2, 6, 4), tmp_path / "nohead")
    x = np.zeros((3, 6, 4), np.float32)
    np.savez(tmp_path / "nh.npz", x=x, y=np.zeros((3, 6, 5), np.float32))
    with pytest.raises(InputError, match="has no node that int8 can quantize; nothing was written"):
        quantize(tmp_path / "nohead", ["int8"], eval_path=tmp_path / "nh.npz")
    assert sorted(p.name for p in (tmp_path / "nohead").iterdir()) == ["manifest.json", "model.onnx"]


def test_requantizing_is_refused(tmp_path):
    bundle, data = _classifier_bundle(tmp_path, "lstm", hidden=8)
    quantize(bundle, ["int8"], eval_path=data, config=QuantizeConfig(weight_type="s8", latency_iters=5))
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["model.onnx"] = manifest["files"]["model.int8.onnx"] | {"variant": "fp32"}
    (bundle / "model.onnx").write_bytes((bundle / "model.int8.onnx").read_bytes())
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="already quantized"):
        quantize(bundle, ["int8"], eval_path=data)


def test_cli_table_json_and_refusal(tmp_path):
    bundle, data = _classifier_bundle(tmp_path, "lstm", hidden=8)
    runner = CliRunner()
    ok = runner.invoke(
        cli, ["quantize", str(bundle), "--variant", "int8", "--eval", str(data), "--weight-type", "s8"]
    )
    assert ok.exit_code == 0, ok.output
    assert "Variants (CPU, 1 thread, batch 1)" in ok.output and "accuracy" in ok.output
    written = json.loads((bundle / "quantize_report.json").read_text())
    assert written["variants"][0]["variant"] == "int8" and written["variants"][0]["accepted"] is True
    bad = runner.invoke(cli, ["quantize", str(bundle), "--variant", "", "--eval", str(data)])
    assert bad.exit_code == 1 and "expected at least one of int8" in bad.output
    assert runner.invoke(cli, ["quantize", str(bundle), "--max-metric-drop", "-1"]).exit_code == 2


def test_refusals_exit_0_with_their_reasons_unless_strict(tmp_path, monkeypatch):
    import edgernn.export.quantization as q

    monkeypatch.setattr(q, "available_providers", lambda: ["CPUExecutionProvider"])  # fp16 cannot be verified
    bundle, data = _classifier_bundle(tmp_path, "lstm", hidden=8)
    args = ["quantize", str(bundle), "--variant", "int8,fp16", "--eval", str(data), "--weight-type", "s8"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "fp16: cannot be verified on this machine: it is built for CUDA" in result.output
    assert "written: int8; refused: fp16" in result.output
    assert Bundle.load(bundle).variants() == ["fp32", "int8"]
    strict = CliRunner().invoke(cli, [*args, "--strict"])
    assert strict.exit_code == 1 and "error: refused variants: fp16 (--strict" in strict.output


def test_int8_settings_depend_on_the_bundle_alone(tmp_path):
    bundle, data = _classifier_bundle(tmp_path, "lstm", hidden=16)
    config = QuantizeConfig(latency_iters=3)
    alone = quantize(bundle, ["int8"], eval_path=data, config=config).results[0]
    with_others = quantize(bundle, ["int8", "int8-static"], eval_path=data, config=config).results[0]
    assert alone.settings["weight_type"] == with_others.settings["weight_type"]
    assert alone.settings["reduce_range"] == with_others.settings["reduce_range"]
    best = min(alone.candidates, key=lambda c: c["max_abs_diff"])  # the most accurate setting wins
    assert (best["weight_type"], best["reduce_range"]) == (
        alone.settings["weight_type"],
        alone.settings["reduce_range"],
    )


def test_each_variant_is_scored_streamed_and_whole(tmp_path):
    module = Seq("lstm", layers=1, hidden=16).eval()
    export(module, torch.randn(2, 6, 4), tmp_path / "b")
    x = np.random.default_rng(2).standard_normal((3, 20, 4)).astype(np.float32)
    y = Session.load(tmp_path / "b", provider="cpu").run(x).output + 0.3  # an error fp32 also makes
    np.savez(tmp_path / "eval.npz", x=x, y=y)
    report = quantize(
        tmp_path / "b", ["int8"], eval_path=tmp_path / "eval.npz", config=QuantizeConfig(latency_iters=3)
    )
    (r,) = report.results
    # fp32 streamed step by step scores exactly what it scores whole
    assert report.fp32.stream_metric.value == pytest.approx(report.fp32.stream_reference.value, rel=1e-5)
    # int8's streamed metric, by hand: one batch-1 stream per sequence
    session = Session.load(tmp_path / "b", provider="cpu", variant="int8")
    pred = []
    for seq in x:
        stream = session.stream()
        pred.append([stream.step(seq[t : t + 1]).output[0] for t in range(len(seq))])
    rmse = float(np.sqrt(np.mean((np.array(pred) - y) ** 2)))
    assert r.stream_metric.value == pytest.approx(rmse, rel=1e-5)
    assert r.stream_accepted and r.stream_note.startswith("streamed rmse")
    assert Bundle.load(tmp_path / "b").manifest.quantization["int8"].stream_metric == r.stream_metric


def test_a_stream_over_budget_is_refused_for_streaming_only(tmp_path, monkeypatch):
    import edgernn.export.quantization as q

    def fake(session, data):  # the variant streams 50 % worse than fp32 on the same sequences
        worse = 1.0 if session.variant == "fp32" else 1.5
        return Metric("rmse", worse, False), Metric("rmse", 1.0, False)

    monkeypatch.setattr(q, "score_stream", fake)
    module = Seq("lstm", layers=1, hidden=16).eval()
    export(module, torch.randn(2, 6, 4), tmp_path / "b")
    x = np.random.default_rng(2).standard_normal((3, 20, 4)).astype(np.float32)
    np.savez(tmp_path / "eval.npz", x=x, y=Session.load(tmp_path / "b", provider="cpu").run(x).output + 0.3)
    (r,) = quantize(
        tmp_path / "b", ["int8"], eval_path=tmp_path / "eval.npz", config=QuantizeConfig(latency_iters=3)
    ).results
    assert r.accepted and not r.stream_accepted
    assert r.stream_note == (
        "refused for streaming: streamed step by step its rmse is 1.5, +50.00% against fp32's 1 (budget 1%); "
        "stream the fp32 variant"
    )
    session = Session.load(tmp_path / "b", provider="cpu", variant="int8")
    session.run(x)
    with pytest.raises(Exception, match="the int8 variant is refused for streaming: streamed step by step"):
        session.stream()
