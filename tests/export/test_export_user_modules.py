"""User-written modules (tests/user_modules.py) through export and back through edgernn.runtime.

Each kind must export with native ops, match the module called as its author calls it at three
(batch, length) pairs the export never saw, and, when stateful and forward-only, stream chunk by
chunk (or step by step) to the same outputs and final state as one whole-sequence call.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from user_module_kinds import KINDS, Kind, _x  # noqa: E402
from user_modules import PackedTorch  # noqa: E402

from edgernn.export import export  # noqa: E402
from edgernn.export.errors import ExportError  # noqa: E402
from edgernn.runtime import InputError, Session  # noqa: E402

ATOL, RTOL = 1e-5, 1e-4
BY_NAME = {k.name: k for k in KINDS}


def unseen(kind: Kind) -> list[tuple[int, int]]:
    """Three (batch, length) pairs the export never used (it saw batch 2 at ``kind.time``)."""
    return [(1, kind.min_length + 1), (3, 11), (4, 17)]


def _close(got, want, what):
    np.testing.assert_allclose(got, want.numpy(), atol=ATOL, rtol=RTOL, err_msg=what)


def check_kind(kind: Kind, out, expect: str | None = None):
    """Export ``kind`` with exporter="auto" and hold the bundle to the module itself; ``expect``: the
    exporter auto must keep (default: the kind's). Returns the report."""
    module = kind.make().eval()
    report = export(module, kind.example(2, kind.time), out, **kind.export_kwargs)
    assert report.native_nodes == kind.native
    assert report.exporter == (expect or kind.auto_exporter)
    assert all(c.passed for c in report.checks) and report.max_abs_diff < ATOL
    manifest = report.manifest
    assert manifest.topology == kind.topology and manifest.input.min_length == kind.min_length
    assert [tuple(s.shape) for s in manifest.state] == [(r, "batch", h) for r, h in kind.state]
    assert manifest.streamable == (bool(kind.state) and kind.streamable)
    session = Session.load(out, provider="cpu")
    names = [s.input for s in manifest.state]
    for batch, time in unseen(kind):
        x = _x(kind.features)(batch, time)
        state = kind.zeros(batch, random=True) if kind.state else None
        want_y, want_state = kind.call(module, x, state)
        feed = {n: s.numpy() for n, s in zip(names, state, strict=True)} if state else None
        got = session.run(x.numpy(), state=feed, return_state=bool(state))
        _close(got.output, want_y, f"{kind.name} y at B={batch} T={time}")
        for n, w in zip(names, want_state, strict=True):
            _close(got.state[n], w, f"{kind.name} {n} at B={batch} T={time}")
    if manifest.streamable:
        _stream_equals_sequence(kind, module, session, names)
    if kind.min_length > 1:
        short = _x(kind.features)(1, kind.min_length - 1).numpy()
        with pytest.raises(InputError, match=rf"needs at least {kind.min_length} time steps per call"):
            session.run(short)
    return report


def _stream_equals_sequence(kind: Kind, module, session: Session, names: list[str]) -> None:
    """Through edgernn's Stream: chunks (or single steps) against the module over the whole sequence."""
    batch, time = 2, 13
    x = _x(kind.features)(batch, time)
    state = kind.zeros(batch, random=True)
    want_y, want_state = kind.call(module, x, state)
    stream = session.stream(batch=batch)
    stream.state = {n: s.numpy() for n, s in zip(names, state, strict=True)}
    size = kind.min_length if kind.min_length > 1 else 1
    starts = list(range(0, time, size))
    if time - starts[-1] < kind.min_length:
        starts.pop()
    outs = []
    for start, stop in zip(starts, [*starts[1:], time], strict=True):
        chunk = x[:, start:stop].numpy()
        result = stream.step(chunk[:, 0]) if size == 1 else stream.feed(chunk)
        outs.append(result.output if size > 1 or kind.topology == "many_to_one" else result.output[:, None])
    y = outs[-1] if kind.topology == "many_to_one" else np.concatenate(outs, axis=1)
    _close(y, want_y, f"{kind.name}: streamed y vs the whole sequence")
    for n, w in zip(names, want_state, strict=True):
        _close(stream.state[n], w, f"{kind.name}: streamed {n} vs the whole sequence")
    assert stream.steps == time


FAST = [
    "gru3_state_positional",
    "lstm_tuple_state_positional",
    "relu_rnn_time_major",
    "gru_last3_min_length",
    "many_to_one_inferred",
    "gru_relu_rnn_stack",
    "lstm_needs_5_steps",
    "bi_relu_rnn_time_major",
]


@pytest.mark.parametrize("name", FAST)
def test_user_module(tmp_path, name):
    report = check_kind(BY_NAME[name], tmp_path / "b")
    names = [(s.input, s.output) for s in report.manifest.state]
    if name == "gru_relu_rnn_stack":  # two hidden states, not an LSTM's (h, c)
        assert names == [("state0", "state0_out"), ("state1", "state1_out")]
    if name == "lstm_tuple_state_positional":
        assert names == [("h0", "hn"), ("c0", "cn")]


@pytest.mark.slow
@pytest.mark.parametrize("name", [k.name for k in KINDS if k.name not in FAST])
def test_user_module_slow(tmp_path, name):
    check_kind(BY_NAME[name], tmp_path / "b")


DYNAMO_FAST = FAST[::2]


@pytest.mark.parametrize(
    "name", [n if n in DYNAMO_FAST else pytest.param(n, marks=pytest.mark.slow) for n in BY_NAME]
)
def test_user_module_without_torchscript(tmp_path, no_torchscript, name):
    """Every kind again with the TorchScript exporter gone: auto exports it with dynamo alone."""
    report = check_kind(BY_NAME[name], tmp_path / "b", expect="dynamo")
    assert report.attempts == {
        "torchscript": "RuntimeError: the TorchScript exporter is gone",
        "dynamo": "passed",
    }


def test_packed_sequences(tmp_path):
    """pack_padded_sequence and rnn_with_lengths export with either exporter, with the same numbers."""
    x, lengths = torch.randn(2, 6, 4), torch.tensor([6, 3])
    report = export(PackedTorch().eval(), x, tmp_path / "a", lengths=True)
    assert report.exporter == "torchscript" and report.native_nodes == {"LSTM": 1}
    for packing, name in (("torch", "b"), ("edgernn", "c")):
        report = export(PackedTorch(packing).eval(), x, tmp_path / name, lengths=True, exporter="dynamo")
        assert report.exporter == "dynamo" and report.native_nodes == {"LSTM": 1}
    x, lengths = torch.randn(3, 9, 4), torch.tensor([9, 2, 5])
    with torch.no_grad():
        want = PackedTorch().eval()(x, None, lengths)[0]  # the pack_padded_sequence original
    for name in "abc":
        session = Session.load(tmp_path / name, provider="cpu")
        _close(session.run(x.numpy(), lengths.numpy()).output, want, f"bundle {name} vs packed PyTorch")


def test_state_errors_name_the_module(tmp_path):
    gru = BY_NAME["gru3_state_positional"]
    with pytest.raises(ExportError, match=r"GRUHidden: forward failed on the example input \[2, 6, 4\]"):
        export(gru.make().eval(), (torch.randn(2, 6, 4), torch.zeros(2, 2, 8)), tmp_path / "b")
    with pytest.raises(ExportError, match=r"GRUHidden: example state: expected a \[layers\*directions"):
        export(gru.make().eval(), (torch.randn(2, 6, 4), "h"), tmp_path / "b")
    with pytest.raises(ExportError, match=r"ReluTimeMajor: forward failed on the example input"):
        export(BY_NAME["relu_rnn_time_major"].make().eval(), torch.randn(5, 2, 8), tmp_path / "b")
    with pytest.raises(
        ExportError, match=r"LastThree: min_length: expected 1..9 \(the example's length\), got 12"
    ):
        export(
            BY_NAME["gru_last3_min_length"].make().eval(), torch.randn(2, 9, 4), tmp_path / "b", min_length=12
        )
    with pytest.raises(
        ExportError, match=r"TwoRequired: forward takes 'h' with no default .* pass example_inputs"
    ):
        export(TwoRequired().eval(), torch.randn(2, 6, 4), tmp_path / "b")
    assert not (tmp_path / "b").exists()


class TwoRequired(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.GRU(4, 5, batch_first=True), torch.nn.GRU(5, 6, batch_first=True)

    def forward(self, x, h):
        y, ha = self.a(x, h[0])
        y, hb = self.b(y, h[1])
        return y, (ha, hb)


def test_time_major_without_example_state_is_zeros_of_the_right_shape(tmp_path):
    """A required state argument and no example state: zeros, time-major when told so."""
    kind = BY_NAME["relu_rnn_time_major"]
    report = export(kind.make().eval(), torch.randn(5, 2, 8), tmp_path / "b", time_major=True)
    assert report.manifest.state[0].shape == (1, "batch", 24) and report.native_nodes == {"RNN": 1}


def test_topology_mismatch_is_one_error(tmp_path):
    with pytest.raises(
        ExportError,
        match=r"LastThree: topology many_to_many: expected y of shape \[batch, time=9, out\], got \[2, 2\]; the output "
        r"looks many_to_one: leave topology unset to infer it",
    ):
        export(
            BY_NAME["gru_last3_min_length"].make().eval(),
            torch.randn(2, 9, 4),
            tmp_path / "b",
            topology="many_to_many",
        )


def test_min_length_refusals_through_the_stream(tmp_path):
    kind = BY_NAME["lstm_needs_5_steps"]
    export(kind.make().eval(), torch.randn(2, 8, 4), tmp_path / "b")
    stream = Session.load(tmp_path / "b", provider="cpu").stream(batch=1)
    with pytest.raises(
        InputError, match=r"needs at least 5 time steps per call \(its min_length\), got 1; stream"
    ):
        stream.step(np.zeros((1, 4), np.float32))
    with pytest.raises(InputError, match=r"needs at least 5 time steps per call \(its min_length\), got 4"):
        stream.feed(np.zeros((1, 4, 4), np.float32))
    assert stream.feed(np.zeros((1, 5, 4), np.float32)).output.shape == (1, 3)
