"""User modules whose inputs and outputs are shaped the way tutorials write them.

A time-major stateless module, a float ``[batch, time]`` input, a float64 example, a ``[batch]``
output, a dict or flattened output. Reference: the module called in PyTorch as its author calls it,
at (batch, length) pairs the export never saw; tolerance 1e-5 absolute.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from edgernn.export import export  # noqa: E402
from edgernn.export.errors import ExportError  # noqa: E402
from edgernn.runtime import Session  # noqa: E402

UNSEEN = [(1, 3), (3, 11), (4, 17)]


class TimeMajorStateless(nn.Module):
    """PyTorch's default layout: nn.LSTM(batch_first=False) fed [time, batch, features], y [time, batch, out]."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lstm = nn.LSTM(4, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, src):
        out, _ = self.lstm(src)
        return self.fc(out)


class TimeMajorLastState(nn.Module):
    """Time-major GRU classifying from h_n: y [batch, out] whichever the layout."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.gru = nn.GRU(3, 6, num_layers=2)
        self.fc = nn.Linear(6, 4)

    def forward(self, src):
        _, h = self.gru(src)
        return self.fc(h[-1])


class Univariate(nn.Module):
    """One float per step, x [batch, time]; a [batch] forecast (the MSELoss shape)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.lstm = nn.LSTM(1, 8, batch_first=True)
        self.fc = nn.Linear(8, 1)

    def forward(self, x):
        out, _ = self.lstm(x.unsqueeze(-1))
        return self.fc(out[:, -1]).squeeze(-1)


class Float64Cast(nn.Module):
    """Casts its input itself (``x.float()``) and is given a float64 example."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.gru = nn.GRU(5, 7, batch_first=True)
        self.fc = nn.Linear(7, 3)

    def forward(self, x):
        y, _ = self.gru(x.float())
        return self.fc(y)


def _export_both(module, example, tmp_path, **kw):
    reports = {}
    for exporter in ("auto", "dynamo"):
        reports[exporter] = export(module.eval(), example, tmp_path / exporter, exporter=exporter, **kw)
        assert all(c.passed for c in reports[exporter].checks)
    return reports


def test_a_time_major_stateless_module_is_read_time_major(tmp_path):
    """Without the layout probe this exported, passed its gate and swapped batch and time at run time."""
    module = TimeMajorStateless()
    reports = _export_both(module, torch.randn(7, 2, 4), tmp_path)
    assert reports["auto"].manifest.topology == "many_to_many"
    for exporter in reports:
        session = Session.load(tmp_path / exporter, provider="cpu")
        for batch, time in UNSEEN:
            x = torch.randn(batch, time, 4)
            with torch.no_grad():
                want = module(x.transpose(0, 1)).transpose(0, 1).numpy()
            np.testing.assert_allclose(session.run(x.numpy()).output, want, atol=1e-5, rtol=0)


def test_a_time_major_many_to_one_module(tmp_path):
    module = TimeMajorLastState()
    reports = _export_both(module, torch.randn(9, 2, 3), tmp_path)
    assert reports["dynamo"].manifest.topology == "many_to_one"
    session = Session.load(tmp_path / "dynamo", provider="cpu")
    for batch, time in UNSEEN:
        x = torch.randn(batch, time, 3)
        with torch.no_grad():
            want = module(x.transpose(0, 1)).numpy()
        np.testing.assert_allclose(session.run(x.numpy()).output, want, atol=1e-5, rtol=0)


def test_float_steps_without_a_feature_axis_and_a_flat_output(tmp_path):
    """The graph gives x a feature axis of 1 ([batch, time, 1]) and y an output axis ([batch, 1])."""
    module = Univariate()
    reports = _export_both(module, torch.randn(2, 7), tmp_path)
    manifest = reports["auto"].manifest
    assert (manifest.input.features, manifest.input.kind, manifest.input.dtype) == (1, "features", "float32")
    assert manifest.topology == "many_to_one" and manifest.output.size == 1
    for exporter in reports:
        session = Session.load(tmp_path / exporter, provider="cpu")
        for batch, time in UNSEEN:
            x = torch.randn(batch, time)
            with torch.no_grad():
                want = module(x).numpy()
            got = session.run(x.numpy()[..., None]).output
            assert got.shape == (batch, 1)
            np.testing.assert_allclose(got[:, 0], want, atol=1e-5, rtol=0)


def test_a_float64_example_exports_a_float32_graph(tmp_path):
    module = Float64Cast()
    report = export(module.eval(), torch.randn(2, 6, 5, dtype=torch.float64), tmp_path / "b")
    assert report.manifest.input.dtype == "float32" and all(c.passed for c in report.checks)
    x = np.random.default_rng(0).standard_normal((3, 11, 5)).astype(np.float32)
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    got = Session.load(tmp_path / "b", provider="cpu").run(x).output
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


class DictOut(nn.Module):
    """A dict without a float tensor to be y (its argmax only)."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(3, 4, batch_first=True)

    def forward(self, x):
        y, h = self.gru(x)
        return {"ids": y.argmax(-1), "note": "argmax"}


class Flattened(nn.Module):
    """The char-RNN habit: y.view(-1, hidden) -> [batch * time, vocab]."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y.reshape(-1, 4))


@pytest.mark.parametrize(
    "module, message",
    [
        (
            DictOut(),
            r"DictOut: forward returned a dict with keys \['ids', 'note'\]; expected a float tensor y",
        ),
    ],
)
def test_outputs_edgernn_cannot_map_are_one_clear_error(tmp_path, module, message):
    with pytest.raises(ExportError, match=message):
        export(module.eval(), torch.randn(2, 7, 3), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_a_flattened_output_is_given_as_batch_time_out(tmp_path):
    """y.reshape(-1, out): the probe finds rows batch-major, the bundle gives [batch, time, out]."""
    module = Flattened().eval()
    export(module, torch.randn(2, 7, 3), tmp_path / "b")
    x = torch.randn(3, 10, 3)
    with torch.no_grad():
        want = module(x).view(3, 10, 5)
    got = Session.load(tmp_path / "b", provider="cpu").run(x.numpy()).output
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5, rtol=1e-4)


def test_the_layout_probe_on_plain_functions():
    from edgernn.export.layout_probe import reads_time_major

    x = torch.randn(5, 3, 2)
    running = lambda t: t.cumsum(1)  # noqa: E731  steps accumulate along axis 1: batch-first
    assert reads_time_major(running, x) is False
    assert reads_time_major(lambda t: t.cumsum(0), x) is True  # along axis 0: time-major
    assert reads_time_major(lambda t: t - t.mean((0, 1)), x) is None  # mixes both: unknown
    assert reads_time_major(lambda t: t[:, :, 0].sum(1, keepdim=True), x) is False  # [batch, 1] output
    assert reads_time_major(lambda t: 1 / 0, x) is None  # a module that cannot run the probe


class PerLayerStates(nn.Module):
    """Two single-layer LSTMs, the state one (h, c) pair per layer: ((h1, c1), (h2, c2))."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.l1 = nn.LSTM(4, 8, batch_first=True)
        self.l2 = nn.LSTM(8, 6, batch_first=True)
        self.fc = nn.Linear(6, 2)

    def forward(self, x, states=None):
        s1, s2 = (None, None) if states is None else states
        y, s1 = self.l1(x, s1)
        y, s2 = self.l2(y, s2)
        return self.fc(y), (s1, s2)


def test_a_nested_state_is_four_state_pairs(tmp_path):
    module = PerLayerStates()
    reports = _export_both(module, torch.randn(2, 6, 4), tmp_path)
    manifest = reports["auto"].manifest
    assert [tuple(s.shape) for s in manifest.state] == [(1, "batch", 8)] * 2 + [(1, "batch", 6)] * 2
    assert manifest.streamable
    names = [s.input for s in manifest.state]
    for exporter in reports:
        session = Session.load(tmp_path / exporter, provider="cpu")
        for batch, time in UNSEEN:
            x = torch.randn(batch, time, 4)
            flat = [0.5 * torch.randn(1, batch, h) for h in (8, 8, 6, 6)]
            with torch.no_grad():
                want_y, ((h1, c1), (h2, c2)) = module(x, ((flat[0], flat[1]), (flat[2], flat[3])))
            got = session.run(
                x.numpy(), state={n: t.numpy() for n, t in zip(names, flat, strict=True)}, return_state=True
            )
            np.testing.assert_allclose(got.output, want_y.numpy(), atol=1e-5, rtol=0)
            for n, want in zip(names, (h1, c1, h2, c2), strict=True):
                np.testing.assert_allclose(got.state[n], want.numpy(), atol=1e-5, rtol=0)
        stream, x = session.stream(batch=2), torch.randn(2, 9, 4)
        steps = np.stack([stream.step(x[:, t].numpy()).output for t in range(9)], axis=1)
        with torch.no_grad():
            np.testing.assert_allclose(steps, module(x)[0].numpy(), atol=1e-5, rtol=0)
