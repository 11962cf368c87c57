"""What export writes: one_to_many's init graph, the ORT format, metadata, a self-describing .onnx."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")
from export_models import Decoder, Seq  # noqa: E402

from edgernn.export import ExportMeta, export  # noqa: E402
from edgernn.runtime.bundle import Bundle, manifest_from_graph  # noqa: E402
from edgernn.runtime.manifest import InputSpec, OutputSpec  # noqa: E402


@pytest.mark.parametrize("exporter", ["auto", "dynamo"])
def test_one_to_many_writes_a_checked_init_graph(tmp_path, exporter):
    module = Decoder().eval()
    meta = ExportMeta(name="decoder", condition=InputSpec(name="cond", features=3))
    report = export(
        module, torch.randn(2, 4, 2), tmp_path / "b", topology="one_to_many", meta=meta, exporter=exporter
    )
    assert report.exporter == ("torchscript" if exporter == "auto" else "dynamo")
    bundle = Bundle.load(tmp_path / "b")
    assert bundle.manifest.files["init.onnx"].role == "init"
    assert bundle.manifest.condition.features == 3
    names = [c.name for c in bundle.manifest.validation.checks]
    assert "init parity B=1" in names and "init parity B=3" in names
    # Decode 6 steps with plain onnxruntime (init once, then feed outputs back) against torch.
    init = ort.InferenceSession(str(bundle.file("init.onnx")), providers=["CPUExecutionProvider"])
    step = ort.InferenceSession(str(bundle.model_path("fp32")), providers=["CPUExecutionProvider"])
    cond = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    h, c = init.run(None, {"cond": cond})
    x = np.zeros((2, 1, 2), np.float32)
    got = []
    for _ in range(6):
        x, h, c = step.run(None, {"x": x, "h0": h, "c0": c})
        got.append(x)
    with torch.no_grad():
        state = module.init_state(torch.from_numpy(cond))
        xt, want = torch.zeros(2, 1, 2), []
        for _ in range(6):
            xt, state = module(xt, state)
            want.append(xt.numpy())
    np.testing.assert_allclose(np.concatenate(got, 1), np.concatenate(want, 1), atol=1e-5, rtol=1e-4)
    assert report.manifest.topology == "one_to_many"


def test_ort_format_and_required_operators(tmp_path):
    export(Seq("gru").eval(), torch.randn(2, 5, 4), tmp_path / "b", ort_format=True)
    bundle = Bundle.load(tmp_path / "b")
    assert bundle.manifest.files["model.ort"].role == "ort"
    ops = bundle.file("model.required_operators.config").read_text()
    assert "GRU" in ops
    x = np.random.default_rng(1).standard_normal((2, 7, 4)).astype(np.float32)
    h0 = np.zeros((2, 2, 8), np.float32)
    a = ort.InferenceSession(str(bundle.file("model.ort")), providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(str(bundle.model_path("fp32")), providers=["CPUExecutionProvider"])
    for got, want in zip(a.run(None, {"x": x, "h0": h0}), b.run(None, {"x": x, "h0": h0}), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_bare_onnx_describes_itself(tmp_path):
    meta = ExportMeta(
        name="spots",
        input=InputSpec(features=4, mean=(1.0, 2.0, 3.0, 4.0), std=(2.0, 2.0, 2.0, 2.0)),
        output=OutputSpec(kind="regression", units="spots", mean=(10.0,) * 3, std=(5.0,) * 3),
    )
    export(Seq("lstm").eval(), torch.randn(2, 5, 4), tmp_path / "b", meta=meta, opset=15)
    model = onnx.load(str(tmp_path / "b" / "model.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["edgernn.cell"] == "lstm" and props["edgernn.topology"] == "many_to_many"
    assert props["edgernn.state"] == "h0->hn [2, batch, 8]; c0->cn [2, batch, 8]"
    assert json.loads(props["edgernn.normalisation"])["input_mean"] == [1.0, 2.0, 3.0, 4.0]
    assert {o.domain or "ai.onnx": o.version for o in model.opset_import}["ai.onnx"] == 15
    sess = ort.InferenceSession(str(tmp_path / "b" / "model.onnx"), providers=["CPUExecutionProvider"])
    described = manifest_from_graph(
        "m", sess.get_modelmeta().custom_metadata_map, sess.get_inputs(), sess.get_outputs()
    )
    assert described == Bundle.load(tmp_path / "b").manifest.__class__(
        **{
            **Bundle.load(tmp_path / "b").manifest.__dict__,
            "files": {},
            "validation": None,
        }
    )
    assert described.output.units == "spots" and described.state[1].input == "c0"
