"""Export through the public API across cells, layers, directions, layouts, state and lengths."""

from __future__ import annotations

import itertools

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from export_models import BiGRUMaxPool, ConvLSTM, Seq, Stateless, TextClassifier  # noqa: E402

from edgernn.export import export  # noqa: E402
from edgernn.export.graph import load_model, summarize  # noqa: E402

OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _reference_parity(module, bundle, x, lengths=None, state=True):
    """Plain onnxruntime on the saved file against the user's module called directly."""
    sess = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    feed = {"x": x.numpy()}
    for arg in sess.get_inputs()[1:]:
        if arg.name == "lengths":
            feed["lengths"] = (
                lengths if lengths is not None else torch.full((x.shape[0],), x.shape[1])
            ).numpy()
        else:
            feed[arg.name] = np.zeros(
                [d if isinstance(d, int) else x.shape[0] for d in arg.shape], np.float32
            )
    got = sess.run(None, feed)
    with torch.no_grad():
        kwargs = {"lengths": lengths} if "lengths" in names else {}
        out = module(x, None, **kwargs) if state else module(x, **kwargs)
    want = out[0] if isinstance(out, tuple) else out
    np.testing.assert_allclose(got[0], want.numpy(), atol=1e-5, rtol=1e-4)
    return got


def _check(report, bundle, cell, layers, streamable, lengths):
    assert report.native_nodes == {OP[cell]: layers}
    summary = summarize(load_model(bundle / "model.onnx"))
    assert len(summary.recurrent) == layers and summary.loop_scan_count == 0
    dims = {t.name: t.dims for t in summary.inputs}
    assert dims["x"][:2] == ("batch", "time")
    assert all("batch" in t.dims for t in (*summary.inputs, *summary.outputs))
    assert all(c.passed for c in report.checks) and report.max_abs_diff < 1e-5
    names = [c.name for c in report.checks]
    assert any(n.startswith("stream step-by-step") for n in names) == streamable
    assert ("ragged batch vs packed PyTorch" in names) == lengths
    assert sum(n.startswith("parity T=") for n in names) == 6  # 3 lengths x 2 batch sizes
    manifest = report.manifest
    assert manifest.cell == cell and manifest.layers == layers and manifest.streamable == streamable
    assert manifest.validation.max_abs_diff == report.max_abs_diff


def _case(tmp_path, cell, layers, bidirectional, batch_first, state, lengths, topology="many_to_many"):
    inner = Seq(cell, layers, bidirectional, batch_first, topology).eval()
    module = inner if state else Stateless(inner)
    bundle = tmp_path / "bundle"
    report = export(module, torch.randn(2, 5, 4), bundle, topology=topology, state=state, lengths=lengths)
    _check(report, bundle, cell, layers, state and not bidirectional, lengths)
    x = torch.randn(3, 11, 4)
    lens = torch.tensor([11, 4, 7]) if lengths else None
    _reference_parity(module, bundle, x, lens, state)
    return report


MATRIX = list(
    itertools.product(
        ["rnn", "lstm", "gru"], [1, 2, 3], [False, True], [True, False], [True, False], [False, True]
    )
)


@pytest.mark.parametrize(("cell", "layers", "bidirectional", "batch_first", "state", "lengths"), MATRIX)
def test_export_matrix(tmp_path, cell, layers, bidirectional, batch_first, state, lengths):
    """cell x layers x direction x batch_first x state given or not x lengths: 144 cases, ~20 s."""
    _case(tmp_path, cell, layers, bidirectional, batch_first, state, lengths)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_many_to_one_with_masked_last_step(tmp_path, cell):
    report = _case(tmp_path, cell, 2, False, True, True, True, topology="many_to_one")
    assert report.manifest.topology == "many_to_one"


def test_embedding_gru_text_classifier(tmp_path):
    module = TextClassifier().eval()
    report = export(module, torch.randint(0, 20, (2, 6)), tmp_path / "b", topology="many_to_one")
    assert report.native_nodes == {"GRU": 1}
    assert report.manifest.input.kind == "tokens" and report.manifest.input.dtype == "int64"
    got = _reference_parity(module, tmp_path / "b", torch.randint(0, 20, (3, 9)))
    assert got[0].shape == (3, 4)


def test_conv1d_front_end_lstm(tmp_path):
    module = ConvLSTM().eval()
    report = export(module, torch.randn(2, 6, 5), tmp_path / "b")
    assert report.native_nodes == {"LSTM": 2}
    assert report.manifest.streamable
    _reference_parity(module, tmp_path / "b", torch.randn(2, 13, 5))


def test_bidirectional_gru_max_pool(tmp_path):
    module = BiGRUMaxPool().eval()
    report = export(module, torch.randn(2, 6, 4), tmp_path / "b", topology="many_to_one", state=False)
    assert report.native_nodes == {"GRU": 1}
    assert report.manifest.bidirectional and not report.manifest.streamable
    _reference_parity(module, tmp_path / "b", torch.randn(4, 17, 4), state=False)
