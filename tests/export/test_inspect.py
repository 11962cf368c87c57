"""`edgernn inspect` on models the tests build: torch-exported, onnx.helper, subgraphs, bundles."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from bundles import write_bundle
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper
from onnx_models import lstm_in_if, stacked_lstm

from edgernn.cli import cli


def _inspect(*args):
    result = CliRunner().invoke(cli, ["inspect", *map(str, args)])
    return result


def _json(path):
    result = _inspect(path, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture(scope="module")
def torch_lstm2(tmp_path_factory):
    torch = pytest.importorskip("torch")

    class Tagger(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(6, 16, num_layers=2, batch_first=True)
            self.head = torch.nn.Linear(16, 3)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.head(y)

    path = tmp_path_factory.mktemp("torch") / "lstm2.onnx"
    torch.onnx.export(
        Tagger().eval(),
        (torch.randn(2, 5, 6),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch", 1: "time"}, "y": {0: "batch", 1: "time"}},
    )
    return path


def test_torch_two_layer_lstm_json(torch_lstm2):
    report = _json(torch_lstm2)
    model = report["models"]["lstm2.onnx"]
    assert [n["op_type"] for n in model["recurrent"]] == ["LSTM", "LSTM"]
    assert {n["hidden_size"] for n in model["recurrent"]} == {16}
    assert {n["direction"] for n in model["recurrent"]} == {"forward"}
    assert model["loop_scan_count"] == 0
    assert model["inputs"] == [{"name": "x", "dtype": "float", "dims": ["batch", "time", 6]}]
    assert model["outputs"] == [{"name": "y", "dtype": "float", "dims": ["batch", "time", 3]}]
    assert model["opsets"]["ai.onnx"] == 17
    assert model["op_counts"]["LSTM"] == 2
    assert model["quantization"] == "none"
    # weights: two layers of W (64x6, 64x16), R (64x16 each), B (128 each) plus the 3x16 head and its bias.
    floats = {w["dtype"]: w for w in model["weights"]}["float"]
    expected = 4 * (64 * 6 + 64 * 16 + 64 * 16 + 64 * 16 + 2 * 128 + 48 + 3)
    assert floats["size_bytes"] == expected
    assert report["files"][0]["check"] == "no manifest"


def test_torch_two_layer_lstm_table(torch_lstm2):
    result = _inspect(torch_lstm2)
    assert result.exit_code == 0, result.output
    assert "recurrent nodes: 2   Loop/Scan nodes: 0" in result.output
    assert "[batch, time, 6]" in result.output
    assert "LSTM×2" in result.output


def test_helper_model_and_if_subgraph(tmp_path):
    onnx.save(stacked_lstm(layers=3), str(tmp_path / "s.onnx"))
    onnx.save(lstm_in_if(), str(tmp_path / "i.onnx"))
    stacked = _json(tmp_path / "s.onnx")["models"]["s.onnx"]
    assert [n["name"] for n in stacked["recurrent"]] == ["lstm_0", "lstm_1", "lstm_2"]
    nested = _json(tmp_path / "i.onnx")["models"]["i.onnx"]
    assert len(nested["recurrent"]) == 1
    assert nested["recurrent"][0]["graph"] == "main/maybe_lstm.then_branch"
    assert nested["op_counts"]["If"] == 1 and nested["op_counts"]["ConstantOfShape"] == 1
    assert nested["inputs"][0]["dims"] == ["time", "batch", 3]


def _loop_model() -> onnx.ModelProto:
    body = helper.make_graph(
        [
            helper.make_node("Add", ["acc_in", "one"], ["acc_out"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1]),
        ],
        [numpy_helper.from_array(np.ones(1, np.float32), "one")],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["n", "", "acc"], ["y"], body=body)],
        "looped",
        [
            helper.make_tensor_value_info("n", TensorProto.INT64, []),
            helper.make_tensor_value_info("acc", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_loops_are_counted(tmp_path):
    onnx.save(_loop_model(), str(tmp_path / "loop.onnx"))
    model = _json(tmp_path / "loop.onnx")["models"]["loop.onnx"]
    assert model["loop_scan_count"] == 1
    assert model["recurrent"] == []


def test_bundle_checksums(tmp_path):
    root = write_bundle(tmp_path / "bundle", stacked_lstm())
    report = _json(root)
    assert report["kind"] == "bundle"
    assert report["manifest"]["cell"] == "lstm"
    assert report["files"][0]["check"] == "ok"
    tampered = onnx.load(str(root / "model.onnx"))
    tampered.doc_string = "changed after export"
    onnx.save(tampered, str(root / "model.onnx"))
    report = _json(root)
    assert report["files"][0]["check"] == "sha256 mismatch"
    assert _json(root / "model.onnx")["files"][0]["check"] == "sha256 mismatch"
    table = _inspect(root)
    assert table.exit_code == 0 and "sha256 mismatch" in table.output
    (root / "model.onnx").write_bytes(b"truncated")
    broken = _inspect(root)
    assert broken.exit_code == 1
    assert "could not parse it" in broken.output and "manifest check: sha256 mismatch" in broken.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\xff garbage" * 10, "expected an ONNX model, could not parse it"),
        (None, "expected a bundle folder or an .onnx file, found nothing there"),
    ],
)
def test_bad_input_is_one_line_exit_1(tmp_path, content, message):
    path = tmp_path / "bad.onnx"
    if content is not None:
        path.write_bytes(content)
    result = _inspect(path)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output
