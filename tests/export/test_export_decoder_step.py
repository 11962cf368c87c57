"""Decoder steps: x with no time axis (``input [batch]`` token ids, or ``[batch, features]``), one step
per call, with a state spread over several parameters and returned flat (``forward(input, hidden,
cell) -> (prediction, hidden, cell)``). Each bundle runs through ``edgernn.runtime.Session`` (``run``
with a state, and ``stream(batch).step`` fed its own state) against PyTorch stepping the module on
the same inputs, at batch sizes the export never saw; atol 1e-5.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from export_models import EXPORTERS  # noqa: E402
from real_models.pytorch_examples import Seq2SeqDecoder  # noqa: E402
from torch import nn  # noqa: E402

from edgernn.export import export  # noqa: E402
from edgernn.export.errors import ExportError  # noqa: E402
from edgernn.runtime import Session  # noqa: E402

ATOL, RTOL = 1e-5, 1e-4
VOCAB, HID, LAYERS = 20, 16, 2


# bentrevett/pytorch-seq2seq's Decoder (MIT), as the real-model corpus copies it: a time-major 2-layer
# nn.LSTM stepped once per call on ``input [batch]``, (hidden, cell) over two parameters
Decoder = Seq2SeqDecoder


class SwappedDecoder(Decoder):
    """The same step returning its state in the other order than it takes it: (y, cell, hidden)."""

    def forward(self, input, hidden, cell):
        prediction, hidden, cell = super().forward(input, hidden, cell)
        return prediction, cell, hidden


class GRUDecoder(nn.Module):
    """bentrevett/pytorch-seq2seq tutorial 2's decoder step, its context dropped: forward(input
    [batch], hidden) -> (prediction, hidden) over a time-major nn.GRU (MIT, as above)."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 8)
        self.rnn = nn.GRU(8, HID)
        self.fc_out = nn.Linear(HID, VOCAB)

    def forward(self, input, hidden):
        output, hidden = self.rnn(self.embedding(input.unsqueeze(0)), hidden)
        return self.fc_out(output.squeeze(0)), hidden


class FloatDecoder(nn.Module):
    """A float decoder step (an autoregressive forecaster): forward(x [batch, 3], h, c) -> (y, h, c)
    over a batch-first nn.LSTM."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, HID, batch_first=True)
        self.out = nn.Linear(HID, 3)

    def forward(self, x, h, c):
        out, (h, c) = self.lstm(x[:, None], (h, c))
        return self.out(out[:, 0]), h, c


def _state(layers: int, batch: int, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [0.5 * torch.randn(layers, batch, HID, generator=gen) for _ in range(2)]


def _close(got: np.ndarray, want: torch.Tensor, what: str) -> None:
    want = want.numpy()
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL, err_msg=what)


def _check(session: Session, module: nn.Module, steps: torch.Tensor, state: list[torch.Tensor]) -> None:
    """``session.run`` on the first step with a state, then a stream stepped on every step of
    ``steps`` ([time, batch(, features)]) with its own state carried, against PyTorch stepped."""
    names = [s.input for s in session.manifest.state]
    got = session.run(
        steps[0][:, None].numpy(),
        state=dict(zip(names, (t.numpy() for t in state), strict=True)),
        return_state=True,
    )
    with torch.no_grad():
        want = module(steps[0], *state)
    _close(got.output, want[0], "run: y")
    for name, w in zip(names, want[1:], strict=True):
        _close(got.state[name], w, f"run: {name}")
    stream = session.stream(batch=steps.shape[1])
    stream.state = dict(zip(names, (t.numpy() for t in state), strict=True))
    for t, x_t in enumerate(steps):
        y = stream.step(x_t.numpy()).output
        with torch.no_grad():
            want = module(x_t, *state)
        y_want, state = want[0], list(want[1:])
        _close(y, y_want, f"stream step {t}: y")
    for name, w in zip(names, state, strict=True):
        _close(stream.state[name], w, f"stream after {len(steps)} steps: {name}")


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_bentrevett_decoder_steps_through_session(tmp_path, exporter):
    torch.manual_seed(0)
    module = Decoder().eval()
    example = (torch.randint(0, VOCAB, (3,)), torch.zeros(LAYERS, 3, HID), torch.zeros(LAYERS, 3, HID))
    report = export(module, example, tmp_path / "b", exporter=exporter)
    manifest = report.manifest
    assert [(s.input, s.output) for s in manifest.state] == [("h0", "hn"), ("c0", "cn")]
    assert (manifest.input.kind, manifest.topology) == ("tokens", "many_to_one")
    assert report.native_nodes == {"LSTM": 2}
    session = Session.load(tmp_path / "b", provider="cpu")
    steps = torch.randint(0, VOCAB, (6, 5))  # 6 steps of a batch of 5, unseen
    _check(session, module, steps, _state(LAYERS, 5, 1))


def test_state_returned_in_another_order_pairs_by_behaviour(tmp_path):
    """(y, cell, hidden) for forward(input, hidden, cell): hn is the returned hidden, not cell."""
    torch.manual_seed(0)
    module = SwappedDecoder().eval()
    example = (torch.randint(0, VOCAB, (3,)), torch.zeros(LAYERS, 3, HID), torch.zeros(LAYERS, 3, HID))
    export(module, example, tmp_path / "b")
    session = Session.load(tmp_path / "b", provider="cpu")
    tokens, (h, c) = torch.randint(0, VOCAB, (4,)), _state(LAYERS, 4, 2)
    got = session.run(tokens[:, None].numpy(), state={"h0": h.numpy(), "c0": c.numpy()}, return_state=True)
    with torch.no_grad():
        _, c_next, h_next = module(tokens, h, c)
    _close(got.state["h0"], h_next, "hn: the returned hidden")
    _close(got.state["c0"], c_next, "cn: the returned cell")


def test_state_no_layer_shows_is_refused_not_guessed(tmp_path):
    """Two same-shaped state tensors that no recurrent layer takes as they are: refused in one line."""

    class Blended(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, 8)
            self.rnn = nn.LSTM(8, HID)
            self.fc = nn.Linear(HID, VOCAB)

        def forward(self, input, a, b):
            out, (h, c) = self.rnn(self.embedding(input[None]), (a + 0.1 * b, b - 0.1 * a))
            return self.fc(out[0]), c, h

    example = (torch.randint(0, VOCAB, (3,)), torch.zeros(1, 3, HID), torch.zeros(1, 3, HID))
    with pytest.raises(
        ExportError, match=r"^Blended: forward takes its state as a, b and returns 2 tensors"
    ) as err:
        export(Blended().eval(), example, tmp_path / "b")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_gru_decoder_step_with_one_state(tmp_path, exporter):
    torch.manual_seed(0)
    module = GRUDecoder().eval()
    report = export(
        module, (torch.randint(0, VOCAB, (3,)), torch.zeros(1, 3, HID)), tmp_path / "b", exporter=exporter
    )
    assert [s.input for s in report.manifest.state] == ["h0"]
    session = Session.load(tmp_path / "b", provider="cpu")
    _check(session, module, torch.randint(0, VOCAB, (5, 2)), _state(1, 2, 3)[:1])


def test_float_decoder_step(tmp_path):
    torch.manual_seed(0)
    module = FloatDecoder().eval()
    example = (torch.randn(3, 3), torch.zeros(1, 3, HID), torch.zeros(1, 3, HID))
    report = export(module, example, tmp_path / "b")
    assert (report.manifest.input.kind, report.manifest.input.features) == ("features", 3)
    session = Session.load(tmp_path / "b", provider="cpu")
    _check(session, module, torch.randn(5, 4, 3), _state(1, 4, 4))


def test_an_unbatched_sentence_without_state_stays_refused(tmp_path):
    """pytorch's LSTMTagger tutorial: forward(sentence [time]) -> tag scores; no state: refused."""

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, 6)
            self.lstm = nn.LSTM(6, 8)
            self.out = nn.Linear(8, 3)

        def forward(self, sentence):
            out, _ = self.lstm(self.embedding(sentence).view(len(sentence), 1, -1))
            return self.out(out.view(len(sentence), -1))

    with pytest.raises(ExportError, match=r"got a rank-1 tensor \[5\]$"):
        export(Tagger().eval(), torch.randint(0, VOCAB, (5,)), tmp_path / "b")


def test_float_decoder_step_with_one_state(tmp_path):
    """forward(x [batch, features], h) -> (y, h): x is one step of 3 features, not 3 scalar steps."""

    class Step(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, HID)
            self.out = nn.Linear(HID, 3)

        def forward(self, x, h):
            out, h = self.gru(x[None], h)
            return self.out(out[0]), h

    torch.manual_seed(0)
    module = Step().eval()
    report = export(module, (torch.randn(3, 3), torch.zeros(1, 3, HID)), tmp_path / "b")
    assert report.manifest.input.features == 3
    session = Session.load(tmp_path / "b", provider="cpu")
    _check(session, module, torch.randn(5, 2, 3), _state(1, 2, 5)[:1])


class SpreadLSTM(nn.Module):
    """A whole-sequence model with the same habit: forward(x [batch, time, 4], hidden=None, cell=None)
    -> (y, hidden, cell)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, HID, num_layers=2, batch_first=True)
        self.out = nn.Linear(HID, 2)

    def forward(self, x, hidden=None, cell=None):
        y, (hidden, cell) = self.lstm(x, None if hidden is None else (hidden, cell))
        return self.out(y), hidden, cell


@pytest.mark.parametrize("by_keyword", [False, True])
def test_spread_state_over_a_sequence(tmp_path, by_keyword):
    """The state given by position or by keyword; every step of a stream against PyTorch whole."""
    torch.manual_seed(0)
    module = SpreadLSTM().eval()
    zeros = {"hidden": torch.zeros(LAYERS, 2, HID), "cell": torch.zeros(LAYERS, 2, HID)}
    x = torch.randn(2, 6, 4)
    if by_keyword:
        report = export(module, (x,), tmp_path / "b", example_kwargs=zeros)
    else:
        report = export(module, (x, zeros["hidden"], zeros["cell"]), tmp_path / "b")
    assert [s.input for s in report.manifest.state] == ["h0", "c0"]
    session = Session.load(tmp_path / "b", provider="cpu")
    x, (h, c) = torch.randn(3, 11, 4), _state(LAYERS, 3, 6)
    with torch.no_grad():
        y, hn, cn = module(x, h, c)
    got = session.run(x.numpy(), state={"h0": h.numpy(), "c0": c.numpy()}, return_state=True)
    _close(got.output, y, "y")
    _close(got.state["h0"], hn, "hn")
    _close(got.state["c0"], cn, "cn")
    stream = session.stream(batch=3)
    stream.state = {"h0": h.numpy(), "c0": c.numpy()}
    steps = np.stack([stream.step(x[:, t].numpy()).output for t in range(11)], axis=1)
    _close(steps, y, "y stepped")
    _close(stream.state["c0"], cn, "cn stepped")


def test_time_major_declared_for_a_step_is_moot(tmp_path):
    """time_major=True (the decoder's nn.LSTM is time-major) changes nothing for x [batch]."""
    torch.manual_seed(0)
    module = GRUDecoder().eval()
    example = (torch.randint(0, VOCAB, (3,)), torch.zeros(1, 3, HID))
    export(module, example, tmp_path / "b", time_major=True)
    session = Session.load(tmp_path / "b", provider="cpu")
    _check(session, module, torch.randint(0, VOCAB, (3, 4)), _state(1, 4, 7)[:1])
