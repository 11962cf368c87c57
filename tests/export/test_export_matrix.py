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

OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN", "rnn_relu": "RNN"}
CELL = {"lstm": "lstm", "gru": "gru", "rnn": "rnn", "rnn_relu": "rnn"}


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
    if cell == "rnn_relu":
        assert all(
            n.activations == ("Relu",) * (2 if n.direction == "bidirectional" else 1)
            for n in summary.recurrent
        )
    dims = {t.name: t.dims for t in summary.inputs}
    assert dims["x"][:2] == ("batch", "time")
    assert all("batch" in t.dims for t in (*summary.inputs, *summary.outputs))
    assert all(c.passed for c in report.checks) and report.max_abs_diff < 1e-5
    names = [c.name for c in report.checks]
    assert any(n.startswith("stream step-by-step") for n in names) == streamable
    assert ("ragged batch vs packed PyTorch" in names) == bool(lengths)
    assert sum(n.startswith("parity T=") for n in names) == 6  # 3 lengths x 2 batch sizes
    manifest = report.manifest
    assert manifest.cell == CELL[cell] and manifest.layers == layers and manifest.streamable == streamable
    assert manifest.validation.max_abs_diff == report.max_abs_diff


def _case(tmp_path, cell, layers, bidirectional, batch_first, state, lengths, topology="many_to_many", **kw):
    """``lengths``: None, "torch" (pack_padded_sequence) or "edgernn" (rnn_with_lengths)."""
    inner = Seq(cell, layers, bidirectional, batch_first, topology, packing=lengths or "torch").eval()
    module = inner if state else Stateless(inner)
    bundle = tmp_path / "bundle"
    report = export(module, torch.randn(2, 5, 4), bundle, lengths=bool(lengths), **kw)
    _check(report, bundle, cell, layers, state and not bidirectional, lengths)
    assert report.manifest.topology == topology  # read from the output's shape
    x = torch.randn(3, 11, 4)
    lens = torch.tensor([11, 4, 7]) if lengths else None
    _reference_parity(module, bundle, x, lens, state)
    return report


CELLS = ["rnn", "rnn_relu", "lstm", "gru"]
MATRIX = list(
    itertools.product(
        CELLS, [1, 2, 3], [False, True], [True, False], [True, False], [None, "torch", "edgernn"]
    )
)


def _sample(cases):
    """Every cell in both directions, with layers, layout, state and lengths rotated through their values."""
    picked = []
    for i, (cell, bidirectional) in enumerate(itertools.product(CELLS, [False, True])):
        want = (cell, [1, 2, 3][i % 3], bidirectional, i % 2 == 0, (i // 2) % 2 == 0)
        picked += [c for c in cases if c[:5] == want and c[5] == [None, "torch", "edgernn"][i % 3]]
    return picked


FAST = _sample(MATRIX)
PARAMS = ("cell", "layers", "bidirectional", "batch_first", "state", "lengths")
AUTO_EXPORTER = {None: "torchscript", "edgernn": "torchscript", "torch": "torchscript"}


def _marked(cases, fast):
    return [c if c in fast else pytest.param(*c, marks=pytest.mark.slow) for c in cases]


def test_the_fast_sample_covers_every_axis():
    for axis in range(len(PARAMS)):
        assert {c[axis] for c in FAST} == {c[axis] for c in MATRIX}, PARAMS[axis]


@pytest.mark.parametrize(PARAMS, _marked(MATRIX, FAST))
def test_export_matrix(tmp_path, cell, layers, bidirectional, batch_first, state, lengths):
    """cell x layers x direction x batch_first x state given or not x lengths (none, packed with
    pack_padded_sequence, with rnn_with_lengths): 288 cases; auto keeps the first exporter that passes."""
    report = _case(tmp_path, cell, layers, bidirectional, batch_first, state, lengths)
    assert report.exporter == AUTO_EXPORTER[lengths]


DYNAMO_FAST = FAST[1::2]  # every cell, bidirectional, each kind of lengths


@pytest.mark.parametrize(PARAMS, _marked(MATRIX, DYNAMO_FAST))
def test_export_matrix_without_torchscript(
    tmp_path, no_torchscript, cell, layers, bidirectional, batch_first, state, lengths
):
    """The whole matrix with the TorchScript exporter gone: 288 cases, every one by dynamo alone
    (modules that call pack_padded_sequence themselves included)."""
    report = _case(tmp_path, cell, layers, bidirectional, batch_first, state, lengths)
    assert report.attempts == {
        "torchscript": "RuntimeError: the TorchScript exporter is gone",
        "dynamo": "passed",
    }


TORCHSCRIPT = [c for c in MATRIX if c[5] != "edgernn"]


@pytest.mark.parametrize(PARAMS, _marked(TORCHSCRIPT, FAST[1::3]))
def test_export_matrix_torchscript(tmp_path, cell, layers, bidirectional, batch_first, state, lengths):
    """The fallback exporter on its own: 192 cases."""
    report = _case(tmp_path, cell, layers, bidirectional, batch_first, state, lengths, exporter="torchscript")
    assert report.exporter == "torchscript"


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_many_to_one_with_masked_last_step(tmp_path, cell):
    report = _case(tmp_path, cell, 2, False, True, True, "edgernn", topology="many_to_one")
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


def test_state_false_drops_the_state_forward_returns(tmp_path):
    """forward(x, state=None) -> (y, state) exported with state=False: the graph gives y alone; the
    returned state is neither a state output nor a further output (it was 'out.1.0', 'out.1.1')."""
    module = Seq("lstm", bidirectional=True, topology="many_to_one").eval()
    report = export(module, torch.randn(2, 6, 4), tmp_path / "b", topology="many_to_one", state=False)
    assert report.manifest.state == () and report.manifest.outputs == ()
    sess = ort.InferenceSession(str(tmp_path / "b" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["y"]
    _reference_parity(module, tmp_path / "b", torch.randn(4, 17, 4), state=False)


def test_bidirectional_gru_max_pool(tmp_path):
    module = BiGRUMaxPool().eval()
    report = export(module, torch.randn(2, 6, 4), tmp_path / "b", topology="many_to_one", state=False)
    assert report.native_nodes == {"GRU": 1}
    assert report.manifest.bidirectional and not report.manifest.streamable
    _reference_parity(module, tmp_path / "b", torch.randn(4, 17, 4), state=False)
