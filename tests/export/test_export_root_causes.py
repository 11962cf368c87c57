"""Issue 27's four root causes and dynamo's two graph errors, each held to PyTorch.

A: nn.LSTM/GRU/RNN subclasses are recurrent layers, and the gate's ragged batch tries lengths 0 and 1.
B: whatever the user's module raises, on any call, is one ExportError naming the call and shapes.
C: lengths are built for the batch axis the layout has (and as fractions where the module wants them).
D: the written bundle loads and runs through edgernn.runtime; hidden_size comes from the state.
Dynamo: torch.chunk's opset-18 Split and a Squeeze of a non-1 dim are repaired in opset-17 graphs.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from root_cause_modules import (  # noqa: E402
    FractionLengths,
    SubclassTagger,
    TimeMajorPackedBiGRU,
    TwoGRUShared,
    ViewFails,
    ZeroLengthEncoder,
)

from edgernn.export import export  # noqa: E402
from edgernn.export.errors import ExportError  # noqa: E402
from edgernn.export.graph_repair import repair  # noqa: E402
from edgernn.export.wrapper import find_recurrent  # noqa: E402
from edgernn.runtime import Session  # noqa: E402

ATOL, RTOL = 1e-5, 1e-4


def _ragged(report):
    return next(c for c in report.checks if c.name.startswith("ragged batch"))


def test_a_subclass_is_a_recurrent_layer():
    layers = find_recurrent(SubclassTagger())
    assert [(la.cell, la.layers, la.hidden_size) for la in layers] == [("lstm", 2, 8)]


@pytest.mark.parametrize("name", ["torchscript", pytest.param("dynamo", marks=pytest.mark.slow)])
def test_a_zero_lengths_are_checked_against_the_subclass(tmp_path, name):
    """The subclass exists for rows of length 0: the gate tries 0 and 1, and dynamo keeps the
    subclass's own forward (swapping it for a plain LSTM would give such a row the wrong state)."""
    report = export(
        ZeroLengthEncoder().eval(), torch.randn(2, 6, 4), tmp_path / name, lengths=True, exporter=name
    )
    assert report.native_nodes == {"LSTM": 1}
    assert _ragged(report).detail.startswith("lengths [15, 0, 1, 8]")
    x, lengths = torch.randn(3, 7, 4), torch.tensor([7, 1, 4])
    h0 = (0.5 * torch.randn(1, 3, 8), 0.5 * torch.randn(1, 3, 8))
    with torch.no_grad():
        y, (h, c) = ZeroLengthEncoder().eval()(x, h0, lengths)
    got = Session.load(tmp_path / name, provider="cpu").run(
        x.numpy(), lengths.numpy(), state={"h0": h0[0].numpy(), "c0": h0[1].numpy()}, return_state=True
    )
    np.testing.assert_allclose(got.output, y.numpy(), atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(got.state["h0"], h.numpy(), atol=ATOL, rtol=RTOL)


def test_a_length_zero_left_out_in_one_line_where_pytorch_refuses_it(tmp_path):
    report = export(TimeMajorPackedBiGRU().eval(), torch.randn(6, 2, 4), tmp_path / "b", lengths=True)
    detail = _ragged(report).detail
    assert detail.startswith("lengths [15, 1, 8]") and "length 0 left out: PyTorch refuses it (" in detail


def test_b_an_exception_on_the_first_call_is_one_export_error(tmp_path):
    with pytest.raises(
        ExportError,
        match=r"^ViewFails: forward failed when called as forward\(x \[2, 6, 4\]\): RuntimeError: shape "
        r"'\[32, 2, 32\]' is invalid",
    ):
        export(ViewFails().eval(), torch.randn(2, 6, 4), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_c_time_major_packed_encoder_gets_lengths_for_its_batch_axis(tmp_path):
    module = TimeMajorPackedBiGRU().eval()
    report = export(module, torch.randn(6, 2, 4), tmp_path / "b", lengths=True)
    assert report.native_nodes == {"GRU": 1}
    x, lengths = torch.randn(3, 9, 4), torch.tensor([9, 2, 5])
    with torch.no_grad():
        want = module(x.transpose(0, 1), lengths).transpose(0, 1)
    got = Session.load(tmp_path / "b", provider="cpu").run(x.numpy(), lengths.numpy()).output
    np.testing.assert_allclose(got, want.numpy(), atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("lengths_as", [None, pytest.param("fraction", marks=pytest.mark.slow)])
def test_c_fraction_lengths_detected_or_declared(tmp_path, lengths_as):
    module = FractionLengths().eval()
    export(module, torch.randn(2, 6, 4), tmp_path / "b", lengths=True, lengths_as=lengths_as)
    x, steps = torch.randn(3, 10, 4), torch.tensor([10, 3, 7])
    with torch.no_grad():
        want = module(x, steps.float() / 10)
    got = Session.load(tmp_path / "b", provider="cpu").run(x.numpy(), steps.numpy()).output
    np.testing.assert_allclose(got, want.numpy(), atol=ATOL, rtol=RTOL)


def test_c_the_error_says_what_lengths_were_passed(tmp_path):
    with pytest.raises(
        ExportError,
        match=r"FractionLengths: forward failed on the example input \[2, 6, 4\] with every lengths tried: "
        r"lengths=steps \[6\] \* 2 \(batch axis 0 of x \[2, 6, 4\]\): TypeError: expected relative lengths",
    ):
        export(
            FractionLengths().eval(), torch.randn(2, 6, 4), tmp_path / "b", lengths=True, lengths_as="steps"
        )


def test_d_bundle_loads_through_the_runtime_and_hidden_size_is_the_state(tmp_path):
    report = export(TwoGRUShared().eval(), torch.randn(2, 6, 4), tmp_path / "b")
    assert report.manifest.hidden_size == 16 and report.manifest.state[0].shape == (1, "batch", 16)
    check = report.checks[-1]
    assert check.name == "bundle through edgernn.runtime" and check.passed and check.max_abs_diff < ATOL
    Session.load(tmp_path / "b", provider="cpu")


def test_dynamo_split_and_squeeze_repairs_match_torch(tmp_path):
    """Split(num_outputs=3) of 8 in opset 17 gets torch.chunk's sizes [3, 3, 2]; Squeeze of a dim of 2
    becomes Identity: onnx.checker accepts both, and onnxruntime gives torch's numbers."""
    from onnx import TensorProto, helper

    from edgernn.export.verify import cpu_session

    nodes = [
        helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3),
        helper.make_node("Constant", [], ["ax"], value=helper.make_tensor("v", TensorProto.INT64, [1], [0])),
        helper.make_node("Squeeze", ["c", "ax"], ["s"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, d)
            for n, d in (("a", [2, 3]), ("b", [2, 3]), ("s", [2, 2]))
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(model, full_check=True)
    onnx.checker.check_model(repair(model), full_check=True)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    x = np.arange(16, dtype=np.float32).reshape(2, 8)
    a, b, s = cpu_session(path).run(None, {"x": x})
    want = torch.chunk(torch.from_numpy(x), 3, dim=1)
    for got, w in zip((a, b, s), (want[0], want[1], want[2].squeeze(0)), strict=True):
        np.testing.assert_array_equal(got, w.numpy())


def test_refusals_name_rank_shape_and_the_time_axis(tmp_path):
    from edgernn.export.trace import resolve_topology

    with pytest.raises(
        ExportError,
        match=r"^SubclassTagger: x \[2, 1, 64, 100\] \(rank 4\): no axis of it can change length",
    ):
        export(SubclassTagger().eval(), torch.randn(2, 1, 64, 100), tmp_path / "b")
    with pytest.raises(ExportError, match=r"got a rank-1 tensor \[6\]$"):
        export(SubclassTagger().eval(), torch.randn(6), tmp_path / "b")
    with pytest.raises(
        ExportError,
        match=r"got \[12, 3\]; its axis 0 is time x batch \(6 x 2\): return y as \[time, batch, out\] "
        r"\(no view\(-1, \.\.\.\)\); x was read time-major: axis 0 time=6, axis 1 batch=2$",
    ):
        resolve_topology("M", None, torch.zeros(12, 3), 2, 6, time_major=True)
    with pytest.raises(ExportError, match=r"got \[2, 10, 30\]; y's axis 1 has 10 steps where x has 6: "):
        resolve_topology("DecoderRNN", None, torch.zeros(2, 10, 30), 2, 6)


def test_a_time_major_view_minus_one_output_is_unflattened(tmp_path):
    """word_language_model's decoded.view(-1, ntoken) on a time-major LSTM: rows t * batch + b."""
    from root_cause_modules import FlatTimeMajor

    module = FlatTimeMajor().eval()
    state = (torch.zeros(1, 2, 8), torch.zeros(1, 2, 8))
    export(module, (torch.randn(6, 2, 4), state), tmp_path / "b")
    x = torch.randn(3, 9, 4)
    with torch.no_grad():
        y, _ = module(x.transpose(0, 1), (torch.zeros(1, 3, 8), torch.zeros(1, 3, 8)))
    got = Session.load(tmp_path / "b", provider="cpu").run(x.numpy()).output
    np.testing.assert_allclose(got, y.view(9, 3, 3).transpose(0, 1).numpy(), atol=ATOL, rtol=RTOL)


def test_channel_first_layout_probed_and_shown_by_inspect(tmp_path):
    """x [batch, channels, time] (a conv front end's layout): time is the axis the module runs on at
    another length; the graph takes [batch, time, channels] and inspect says how they map."""
    from root_cause_modules import ChannelFirst

    from edgernn.export.inspection import _module_io_lines, inspect_path

    module = ChannelFirst().eval()
    report = export(module, torch.randn(2, 5, 7), tmp_path / "b")
    assert report.manifest.input.features == 5 and report.native_nodes == {"GRU": 1}
    x = torch.randn(3, 12, 5)
    with torch.no_grad():
        want = module(x.transpose(1, 2))
    got = Session.load(tmp_path / "b", provider="cpu").run(x.numpy()).output
    np.testing.assert_allclose(got, want.numpy(), atol=ATOL, rtol=RTOL)
    assert _module_io_lines(inspect_path(tmp_path / "b")) == [
        "module I/O: x: the module takes [batch, 5, time], the graph [batch, time, features]"
    ]
    declared = export(module, torch.randn(2, 5, 7), tmp_path / "c", dims={"x": {0: "batch", 2: "time"}})
    assert declared.manifest.input.features == 5
    with pytest.raises(ExportError, match=r"dims\['x'\]: expected one 'batch' and one 'time' axis"):
        export(module, torch.randn(2, 5, 7), tmp_path / "d", dims={"x": {0: "batch"}})
