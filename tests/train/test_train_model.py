"""SequenceModel against hand-written recurrences and unpadded per-sample runs."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgernn.runtime.errors import InputError  # noqa: E402
from edgernn.train.config import ModelConfig  # noqa: E402
from edgernn.train.model import SequenceModel  # noqa: E402

TOL = 1e-5  # float32 reassociation between the fused kernels and the reference loops


def make(**kw) -> SequenceModel:
    torch.manual_seed(0)
    base = {"input_size": 3, "hidden_size": 5, "output_size": 2}
    return SequenceModel(ModelConfig(**{**base, **kw})).eval()


def reference_rnn(model: SequenceModel, x: torch.Tensor) -> torch.Tensor:
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), written out step by step (1 layer)."""
    rnn = model.rnn
    h = torch.zeros(x.shape[0], rnn.hidden_size)
    outs = []
    for t in range(x.shape[1]):
        h = torch.tanh(
            x[:, t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0
        )
        outs.append(h)
    return torch.stack(outs, 1)


def reference_gru(model: SequenceModel, x: torch.Tensor) -> torch.Tensor:
    """The GRU equations of the PyTorch docs (reset gate applied after the hidden matmul)."""
    rnn, hidden = model.rnn, model.rnn.hidden_size
    h = torch.zeros(x.shape[0], hidden)
    outs = []
    for t in range(x.shape[1]):
        gi = x[:, t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0
        gh = h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0
        r = torch.sigmoid(gi[:, :hidden] + gh[:, :hidden])
        z = torch.sigmoid(gi[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden])
        n = torch.tanh(gi[:, 2 * hidden :] + r * gh[:, 2 * hidden :])
        h = (1 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs, 1)


@pytest.mark.parametrize("cell,reference", [("rnn", reference_rnn), ("gru", reference_gru)])
def test_many_to_many_matches_hand_written_recurrence(cell, reference):
    model = make(cell=cell, topology="many_to_many")
    x = torch.randn(4, 7, 3)
    y, h = model(x)
    hidden = reference(model, x)
    expected = hidden @ model.head.weight.T + model.head.bias
    assert y.shape == (4, 7, 2)
    assert torch.allclose(y, expected, atol=TOL)
    assert torch.allclose(h[0], hidden[:, -1], atol=TOL)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_many_to_one_with_lengths_equals_each_sequence_run_unpadded(cell, bidirectional):
    model = make(cell=cell, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(3, 6, 3)
    lengths = torch.tensor([6, 2, 4])
    x_padded = x.clone()
    for i, n in enumerate(lengths):
        x_padded[i, n:] = 99.0  # garbage in the padding must not matter
    y, state = model(x_padded, lengths=lengths)
    for i, n in enumerate(lengths):
        y_i, state_i = model(x[i : i + 1, :n])
        assert torch.allclose(y[i], y_i[0], atol=TOL)
        h, h_i = (state[0], state_i[0]) if cell == "lstm" else (state, state_i)
        assert torch.allclose(h[:, i], h_i[:, 0], atol=TOL)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_state_carried_across_chunks_equals_one_pass(cell):
    model = make(cell=cell, topology="many_to_many", num_layers=3)
    x = torch.randn(2, 10, 3)
    whole, state_whole = model(x)
    first, state = model(x[:, :4])
    second, state_end = model(x[:, 4:], state)
    assert torch.allclose(torch.cat([first, second], 1), whole, atol=TOL)
    ends = zip(state_end, state_whole, strict=True) if cell == "lstm" else [(state_end, state_whole)]
    for a, b in ends:
        assert a.shape == (3, 2, 5)
        assert torch.allclose(a, b, atol=TOL)


def test_bidirectional_many_to_one_reads_forward_end_and_backward_start():
    model = make(cell="gru", bidirectional=True)
    x = torch.randn(2, 5, 3)
    out, _ = model.rnn(model.front(x))
    expected = torch.cat([out[:, -1, :5], out[:, 0, 5:]], -1) @ model.head.weight.T + model.head.bias
    assert torch.allclose(model(x)[0], expected, atol=TOL)


def test_tokens_front_end_and_projection():
    tokens = make(input_kind="tokens", vocab_size=11, embed_size=4, topology="many_to_many")
    ids = torch.tensor([[1, 2, 10], [0, 0, 3]])
    y, _ = tokens(ids)
    assert y.shape == (2, 3, 2)
    assert tokens.front.weight.shape == (11, 4)
    projected = make(project_size=6)
    assert projected.rnn.input_size == 6
    assert projected(torch.randn(2, 4, 3))[0].shape == (2, 2)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_one_to_many_init_state_and_generate_match_a_manual_decoder(cell):
    model = make(cell=cell, topology="one_to_many", input_size=2, output_size=2, cond_size=4, num_layers=2)
    cond = torch.randn(3, 4)
    state = model.init_state(cond)
    h = state[0] if cell == "lstm" else state
    flat = torch.tanh(model.init(cond))
    assert h.shape == (2, 3, 5)
    assert torch.allclose(h[1, 2], flat[2, 5:10])  # layer 1 of sample 2: the second hidden-sized block
    x, outputs = torch.zeros(3, 1, 2), []
    for _ in range(4):
        x, state = model(x, state)
        outputs.append(x)
    assert torch.allclose(model.generate(cond, 4), torch.cat(outputs, 1), atol=TOL)


def test_token_decoder_generate_greedy_and_seeded_sampling():
    model = make(
        cell="gru", topology="one_to_many", input_kind="tokens", vocab_size=6, start_token=5,
        output_kind="classes", output_size=5, cond_size=3,
    )  # fmt: skip
    cond = torch.randn(2, 3)
    greedy = model.generate(cond, 6)
    assert greedy.shape == (2, 6) and greedy.dtype == torch.long
    state, x = model.init_state(cond), torch.full((2, 1), 5)
    for t in range(6):
        logits, state = model(x, state)
        x = logits.argmax(-1)
        assert torch.equal(x[:, 0], greedy[:, t])
    a = model.generate(cond, 6, temperature=1.0, generator=torch.Generator().manual_seed(7))
    b = model.generate(cond, 6, temperature=1.0, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert int(a.max()) < 5


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"num_layers": 5}, "num_layers: expected 1 to 4, got 5"),
        ({"cell": "tcn"}, "cell: expected one of rnn, lstm, gru"),
        ({"topology": "one_to_many", "cond_size": 2, "bidirectional": True}, "cannot be bidirectional"),
        ({"topology": "one_to_many"}, "cond_size"),
        (
            {"topology": "one_to_many", "cond_size": 2, "input_size": 3, "output_size": 2},
            "feeds each output back",
        ),
        ({"input_kind": "tokens"}, "vocab_size"),
    ],
)
def test_bad_model_configs_name_the_field(kwargs, message):
    with pytest.raises(InputError, match=message):
        ModelConfig(**kwargs)
