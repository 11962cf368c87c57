"""Sessions say which variant runs and why; a variant refused for streaming never streams."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _runtime_models import make_bundle, rnn_model

from edgernn.runtime import Session
from edgernn.runtime.errors import UnsupportedError
from edgernn.runtime.records import Metric, VariantRecord


def _record(stream_ok: bool) -> dict:
    record = VariantRecord(
        variant="int8", file="model.int8.onnx", size_bytes=1, size_ratio=0.3, metric=Metric("rmse", 1.0),
        metric_delta=0.0, max_abs_diff=0.0, p50_ms=1.0, speedup=1.5, quantized_ops={}, float_recurrent=(),
        settings={}, accepted=True, stream_metric=Metric("rmse", 1.2), stream_accepted=stream_ok,
        stream_note="" if stream_ok else "refused for streaming: streamed rmse 1.2, +20.00% against fp32's 1",
    )  # fmt: skip
    return record.to_dict()


@pytest.fixture
def bundle(tmp_path):
    root = make_bundle(tmp_path / "b", extra={"model.int8.onnx": rnn_model(seed=9)})
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["quantization"] = {"int8": _record(stream_ok=False)}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_describe_says_what_runs_and_why(bundle):
    session = Session.load(bundle, provider="cpu")
    info = session.describe()
    assert session.variant == "int8" and info["variant_reason"].startswith("auto: int8 is picked on the CPU")
    assert info["choice"] == f"running the int8 variant on CPUExecutionProvider ({info['variant_reason']})"
    asked = Session.load(bundle, provider="cpu", variant="fp32").describe()
    assert asked["choice"] == "running the fp32 variant on CPUExecutionProvider (asked for)"


def test_a_variant_refused_for_streaming_does_not_stream(bundle):
    session = Session.load(bundle, provider="cpu", variant="int8")
    x = np.zeros((1, 4, 3), np.float32)
    assert session.run(x).output.shape == (1, 4, 2)  # whole sequences are fine
    with pytest.raises(
        UnsupportedError, match=r"the int8 variant is refused for streaming: streamed rmse 1.2"
    ):
        session.stream()
    streaming = Session.load(bundle, provider="cpu", streaming=True)
    assert streaming.variant == "fp32"
    assert streaming.describe()["variant_reason"] == "auto: int8 refused for streaming by quantize's check"
    streaming.stream().step(x[:, 0])


def test_run_stream_picks_a_variant_that_may_stream(bundle, tmp_path):
    from click.testing import CliRunner

    from edgernn.cli import cli

    (tmp_path / "x.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    result = CliRunner().invoke(cli, ["run", str(bundle), str(tmp_path / "x.csv"), "--stream"])
    assert result.exit_code == 0, result.output
    want = "note: running the fp32 variant on CPUExecutionProvider (auto: int8 refused for streaming by"
    assert want in result.stderr
