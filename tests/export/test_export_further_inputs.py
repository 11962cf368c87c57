"""Modules that take several tensors: positional and keyword further inputs, dicts and dataclasses,
a state told apart from a memory by how forward returns it, declared dims, integer ids. Each bundle's
graph is run by plain onnxruntime, fed by name, against the module at shapes the export never saw.
"""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from torch import nn  # noqa: E402

from edgernn.export import export  # noqa: E402
from edgernn.export.errors import ExportError  # noqa: E402

ATOL, RTOL = 1e-5, 1e-4


class MemoryGRU(nn.Module):
    """forward(x, memory, h=None): a GRU over x, attending over a memory of its own length."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 8, batch_first=True)
        self.key = nn.Linear(5, 8)

    def forward(self, x, memory, h=None):
        y, h, _ = self.attend(x, memory, h)
        return y, h

    def attend(self, x, memory, h=None):
        """``(y, h, attention weights [batch, time, memory_time])``."""
        out, h = self.gru(x, h)
        keys = self.key(memory)  # [batch, memory_time, 8]
        attn = torch.softmax(out @ keys.transpose(1, 2), dim=-1)
        return out + attn @ keys, h, attn


class Conditioned(nn.Module):
    """forward(x, *, cond): an LSTM language model conditioned by a vector per sequence."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 6)
        self.proj = nn.Linear(3, 6)
        self.lstm = nn.LSTM(6, 8, batch_first=True)
        self.out = nn.Linear(8, 11)

    def forward(self, tokens, *, cond):
        y, _ = self.lstm(self.emb(tokens) + self.proj(cond)[:, None])
        return self.out(y)


class DictCovariates(nn.Module):
    """forward(batch: dict): continuous covariates, categorical codes per step, a static vector."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 2)
        self.lstm = nn.LSTM(3 + 2 + 2, 8, batch_first=True)

    def forward(self, batch: dict):
        cont, cat, static = batch["cont"], batch["cat"], batch["static"]
        steps = static[:, None].expand(-1, cont.shape[1], -1)
        y, _ = self.lstm(torch.cat([cont, self.emb(cat), steps], -1))
        return y


@dataclasses.dataclass
class Window:
    target: torch.Tensor
    covariates: torch.Tensor
    name: str = "window"


class DataclassInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(3, 6, batch_first=True)

    def forward(self, window: Window):
        y, _ = self.rnn(torch.cat([window.target, window.covariates], -1))
        return y[:, -1]


def _run(report, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(report.bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, feed)


def _close(got, want, what: str) -> None:
    want = want.detach().numpy()
    assert got.shape == want.shape, f"{what}: {got.shape} vs {want.shape}"
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL, err_msg=what)


def _inputs(report) -> dict[str, tuple]:
    return {s.name: (s.shape, s.dtype, s.module, s.low, s.high) for s in report.manifest.inputs}


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_memory_of_its_own_length_and_a_state(tmp_path, exporter):
    module = MemoryGRU().eval()
    report = export(module, (torch.randn(2, 6, 4), torch.randn(2, 9, 5)), tmp_path / "b", exporter=exporter)
    assert report.exporter == exporter
    assert _inputs(report) == {"memory": (("batch", "memory_time", 5), "float32", "memory", None, None)}
    assert [s.input for s in report.manifest.state] == ["h0"]
    x, memory, h = torch.randn(3, 11, 4), torch.randn(3, 4, 5), torch.randn(1, 3, 8)
    got = _run(report, {"x": x.numpy(), "memory": memory.numpy(), "h0": h.numpy()})
    with torch.no_grad():
        y, hn = module(x, memory, h)
    _close(got[0], y, "y at batch 3, time 11, memory 4")
    _close(got[1], hn, "hn")
    names = [c.name for c in report.checks]
    assert "stream step-by-step T=15" in names and all(c.passed for c in report.checks)


def test_keyword_input_and_token_ids(tmp_path):
    module = Conditioned().eval()
    tokens = torch.randint(0, 11, (2, 6))
    report = export(module, tokens, tmp_path / "b", example_kwargs={"cond": torch.randn(2, 3)})
    assert _inputs(report) == {"cond": (("batch", 3), "float32", "cond", None, None)}
    tokens, cond = torch.randint(0, 11, (4, 9)), torch.randn(4, 3)
    with torch.no_grad():
        want = module(tokens, cond=cond)
    _close(_run(report, {"x": tokens.numpy(), "cond": cond.numpy()})[0], want, "y")


def test_dict_input_picks_x_and_keeps_integer_ranges(tmp_path):
    module = DictCovariates().eval()
    cat = torch.tensor([[1, 2, 3, 4, 5, 1], [2, 3, 4, 5, 1, 2]])  # codes 1..5 of the 7 the table has
    example = {"cont": torch.randn(2, 6, 3), "cat": cat, "static": torch.randn(2, 2)}
    report = export(module, example, tmp_path / "b")
    assert _inputs(report) == {
        "batch.cat": (("batch", "time"), "int64", "batch['cat']", 1.0, 5.0),
        "batch.static": (("batch", 2), "float32", "batch['static']", None, None),
    }
    assert report.manifest.input.features == 3  # x is batch['cont']
    cont, cat, static = torch.randn(3, 10, 3), torch.randint(0, 7, (3, 10)), torch.randn(3, 2)
    with torch.no_grad():
        want = module({"cont": cont, "cat": cat, "static": static})
    got = _run(report, {"x": cont.numpy(), "batch.cat": cat.numpy(), "batch.static": static.numpy()})
    _close(got[0], want, "y")


def test_dataclass_input_and_main_input_declared(tmp_path):
    module = DataclassInput().eval()
    window = Window(torch.randn(2, 6, 1), torch.randn(2, 6, 2))
    report = export(module, window, tmp_path / "b", main_input="window.covariates")
    assert report.manifest.input.features == 2
    assert _inputs(report) == {
        "window.target": (("batch", "time", 1), "float32", "window.target", None, None)
    }
    target, cov = torch.randn(1, 8, 1), torch.randn(1, 8, 2)
    with torch.no_grad():
        want = module(Window(target, cov))
    _close(_run(report, {"x": cov.numpy(), "window.target": target.numpy()})[0], want, "y")


def test_a_memory_shaped_like_a_state_is_an_input(tmp_path):
    """(x, memory [rows, batch, hidden]) where forward returns no state: a further input, not h0."""

    class Readout(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(4, 8, batch_first=True)

        def forward(self, x, memory):
            y, _ = self.gru(x)
            return y + memory.mean(0)[:, None]

    module = Readout().eval()
    report = export(module, (torch.randn(2, 6, 4), torch.randn(3, 2, 8)), tmp_path / "b")
    assert report.manifest.state == ()
    assert _inputs(report) == {"memory": (("memory_time", "batch", 8), "float32", "memory", None, None)}


def test_declared_dims_for_a_further_input(tmp_path):
    module = MemoryGRU().eval()
    dims = {"memory": {0: "batch", 1: "memory_time"}}
    report = export(module, (torch.randn(2, 6, 4), torch.randn(2, 2, 5)), tmp_path / "b", dims=dims)
    assert _inputs(report)["memory"][0] == ("batch", "memory_time", 5)


class PackedCovariate(nn.Module):
    """forward(x, covariate, lengths): a per-step covariate beside x, packed by the lengths."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4 + 2, 8, batch_first=True)

    def forward(self, x, covariate, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(
            torch.cat([x, covariate], -1), lengths, batch_first=True, enforce_sorted=False
        )
        y, (h, _) = self.lstm(packed)
        return nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])[0]


def test_ragged_batch_cuts_the_further_inputs_with_x(tmp_path):
    module = PackedCovariate().eval()
    report = export(module, (torch.randn(2, 6, 4), torch.randn(2, 6, 2)), tmp_path / "b", lengths=True)
    assert _inputs(report) == {"covariate": (("batch", "time", 2), "float32", "covariate", None, None)}
    ragged = next(c for c in report.checks if c.name.startswith("ragged"))
    assert ragged.passed and "each row also run alone" in ragged.detail, ragged.detail
    x, cov, lengths = torch.randn(3, 9, 4), torch.randn(3, 9, 2), torch.tensor([9, 4, 1])
    with torch.no_grad():
        want = module(x, cov, lengths)
    got = _run(report, {"x": x.numpy(), "covariate": cov.numpy(), "lengths": lengths.numpy()})
    _close(got[0], want, "y, ragged")


def test_refusals_say_what_was_expected(tmp_path):
    module = MemoryGRU().eval()
    x, memory = torch.randn(2, 6, 4), torch.randn(2, 9, 5)
    with pytest.raises(
        ExportError, match=r"example_kwargs\['mem'\]: forward\(x, memory, h=None\) takes no such"
    ):
        export(module, x, tmp_path / "b", example_kwargs={"mem": memory})
    with pytest.raises(ExportError, match=r"dims: no input named 'mem'; the inputs are \['x', 'memory'\]"):
        export(module, (x, memory), tmp_path / "b", dims={"mem": {0: "batch"}})
    with pytest.raises(ExportError, match=r"main_input 'nope': expected one of \['batch.cont'"):
        export(
            DictCovariates().eval(),
            {"cont": torch.randn(2, 6, 3), "cat": torch.zeros(2, 6).long(), "static": torch.randn(2, 2)},
            tmp_path / "b",
            main_input="nope",
        )
    assert not (tmp_path / "b").exists()


class ContextDecoder(nn.Module):
    """d2l's Seq2SeqDecoder pattern: state = [enc_outputs, hidden], enc_outputs returned unchanged."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4 + 8, 8, batch_first=True)

    def forward(self, x, state):
        enc_outputs, hidden = state
        context = enc_outputs[-1][:, None].expand(-1, x.shape[1], -1)
        y, hidden = self.gru(torch.cat([x, context], -1), hidden)
        return y, [enc_outputs, hidden]


def test_state_tensors_passed_through_are_inputs(tmp_path):
    module = ContextDecoder().eval()
    state = [torch.randn(5, 2, 8), torch.zeros(1, 2, 8)]
    report = export(module, (torch.randn(2, 6, 4), state), tmp_path / "b")
    assert [s.input for s in report.manifest.state] == ["h0"]
    assert _inputs(report) == {"state.0": (("state.0_time", "batch", 8), "float32", "state[0]", None, None)}
    x, memory, h = torch.randn(3, 7, 4), torch.randn(9, 3, 8), torch.randn(1, 3, 8)
    got = _run(report, {"x": x.numpy(), "h0": h.numpy(), "state.0": memory.numpy()})
    with torch.no_grad():
        y, (_, hn) = module(x, [memory, h])
    _close(got[0], y, "y with a memory of 9 rows")
    _close(got[1], hn, "hn")


def test_a_refusal_names_x_shape_rank_and_the_axis_taken_for_time(tmp_path):
    class FirstTwo(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(4, 8, batch_first=True)

        def forward(self, x):
            return self.gru(x)[0][:, :2]

    with pytest.raises(
        ExportError,
        match=r"y's axis 1 has 2 steps where x has 6: .*; x \[2, 6, 4\] \(rank 3\) was read batch-first: "
        r"axis 0 batch=2, axis 1 time=6$",
    ):
        export(FirstTwo().eval(), torch.randn(2, 6, 4), tmp_path / "b")


class Pair(typing.NamedTuple):
    values: torch.Tensor
    covariates: torch.Tensor


class NamedTupleLSTM(nn.Module):
    """forward(pair: NamedTuple, *, hidden=None), the state given by keyword in the example."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 8, batch_first=True)

    def forward(self, pair: Pair, *, hidden=None):
        return self.lstm(torch.cat([pair.values, pair.covariates], -1), hidden)


def test_named_tuple_input_and_a_keyword_state(tmp_path):
    module = NamedTupleLSTM().eval()
    zeros = (torch.zeros(1, 2, 8), torch.zeros(1, 2, 8))
    pair = Pair(torch.randn(2, 6, 3), torch.randn(2, 6, 2))
    report = export(module, (pair,), tmp_path / "b", example_kwargs={"hidden": zeros})
    assert _inputs(report) == {
        "pair.covariates": (("batch", "time", 2), "float32", "pair.covariates", None, None)
    }
    assert [s.input for s in report.manifest.state] == ["h0", "c0"]
    values, cov, h, c = torch.randn(3, 5, 3), torch.randn(3, 5, 2), torch.randn(1, 3, 8), torch.randn(1, 3, 8)
    got = _run(
        report, {"x": values.numpy(), "pair.covariates": cov.numpy(), "h0": h.numpy(), "c0": c.numpy()}
    )
    with torch.no_grad():
        y, (hn, cn) = module(Pair(values, cov), hidden=(h, c))
    for g, w, what in zip(got, (y, hn, cn), ("y", "hn", "cn"), strict=True):
        _close(g, w, what)


class DictEncoder(nn.Module):
    """pytorch-forecasting's pattern: a dict batch with the lengths inside, packed, the final state out."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 2)
        self.gru = nn.GRU(3 + 2, 8, batch_first=True)

    def forward(self, x: dict):
        inputs = torch.cat([x["encoder_cont"], self.emb(x["encoder_cat"])], -1)
        packed = nn.utils.rnn.pack_padded_sequence(
            inputs, x["encoder_lengths"], batch_first=True, enforce_sorted=False
        )
        y, h = self.gru(packed)
        return nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=inputs.shape[1])[0], h


class FinalState(nn.Module):
    """An encoder that returns its final (h, c) only."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 8, num_layers=2, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[1]


def test_lengths_inside_a_dict_are_the_graph_lengths(tmp_path):
    module = DictEncoder().eval()
    example = {
        "encoder_cont": torch.randn(2, 6, 3),
        "encoder_cat": torch.tensor([[0, 1, 2, 3, 4, 0]] * 2),
        "encoder_lengths": torch.full((2,), 6),
    }
    report = export(module, example, tmp_path / "b", lengths=True, state=False)
    assert report.manifest.input.lengths == "lengths"
    assert _inputs(report) == {"x.encoder_cat": (("batch", "time"), "int64", "x['encoder_cat']", 0.0, 4.0)}
    cont, cat, lengths = torch.randn(3, 9, 3), torch.randint(0, 5, (3, 9)), torch.tensor([9, 2, 5])
    with torch.no_grad():
        want = module({"encoder_cont": cont, "encoder_cat": cat, "encoder_lengths": lengths})[0]
    got = _run(report, {"x": cont.numpy(), "x.encoder_cat": cat.numpy(), "lengths": lengths.numpy()})
    _close(got[0], want, "y, ragged")


def test_a_final_state_alone_is_given_batch_first(tmp_path):
    module = FinalState().eval()
    report = export(module, torch.randn(3, 6, 4), tmp_path / "b")  # batch 3: not the 2 layers' rows
    assert report.manifest.topology == "many_to_one" and report.manifest.output.size == 32
    x = torch.randn(2, 11, 4)
    with torch.no_grad():
        h, c = module(x)
    want = torch.cat([h.transpose(0, 1).reshape(2, -1), c.transpose(0, 1).reshape(2, -1)], -1)
    _close(_run(report, {"x": x.numpy()})[0], want, "y = (h, c) batch-first")


def test_varargs_forward_takes_x_and_state_only(tmp_path):
    class Varargs(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(4, 8, batch_first=True)

        def forward(self, *args):
            return self.gru(args[0], args[1])

    x, h, extra = torch.randn(2, 6, 4), torch.zeros(1, 2, 8), torch.randn(2, 3)
    with pytest.raises(ExportError, match=r"^Varargs: forward\(\*args\) with 3 example items: expected x or"):
        export(Varargs().eval(), (x, h, extra), tmp_path / "b")
