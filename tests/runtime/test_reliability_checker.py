"""``edgernn inspect`` refuses models that fail onnx.checker, so every model edgernn writes passes it."""

from __future__ import annotations

import onnx
import pytest
from _runtime_models import rnn_model
from click.testing import CliRunner

from edgernn.cli import cli

pytest.importorskip("onnxruntime.transformers")  # the fp16 converter

from edgernn.export.quantize_ops import fp16, sort_topologically  # noqa: E402


@pytest.mark.parametrize("target", ["cpu", "cuda"])
def test_fp16_variants_pass_the_checker_and_inspect(tmp_path, target):
    onnx.save(rnn_model("lstm", features=3, hidden=5, out=2), str(tmp_path / "model.onnx"))
    fp16(tmp_path / "model.onnx", tmp_path / "model.fp16.onnx", target=target)
    onnx.checker.check_model(str(tmp_path / "model.fp16.onnx"))
    result = CliRunner().invoke(cli, ["inspect", str(tmp_path / "model.fp16.onnx"), "--json"])
    assert result.exit_code == 0, result.output
    assert '"quantization": "fp16"' in result.output


def test_sort_topologically_puts_every_producer_first_and_keeps_free_order():
    model = rnn_model("gru", features=3, hidden=5, out=2, layers=2)
    original = [n.output[0] for n in model.graph.node]
    sort_topologically(model.graph)
    assert [n.output[0] for n in model.graph.node] == original  # a sorted graph keeps its order
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes[::-1])  # every node now comes before its producers
    with pytest.raises(onnx.checker.ValidationError, match="topologically sorted"):
        onnx.checker.check_model(model)
    sort_topologically(model.graph)
    onnx.checker.check_model(model)
    placed = [n.output[0] for n in model.graph.node]
    assert sorted(placed) == sorted(original)
    position = {name: i for i, node in enumerate(model.graph.node) for name in node.output}
    for i, node in enumerate(model.graph.node):
        assert all(position.get(name, -1) < i for name in node.input), node.name
