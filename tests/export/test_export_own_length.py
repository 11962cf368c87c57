"""y with a length of its own that follows x's: a strided or pooling front end before the recurrence
(pyannote.audio's PyanNet: waveform samples in, frames out). The bundle's y is [batch, frames, out],
run whole; the reference is the module itself at lengths the export never saw."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from export_models import EXPORTERS  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from edgernn.export import export  # noqa: E402
from edgernn.export.errors import ExportError  # noqa: E402
from edgernn.runtime import Session  # noqa: E402

ATOL, RTOL = 1e-5, 1e-4


class FramesOut(nn.Module):
    """PyanNet's shape (pyannote.audio, MIT): waveform [batch, 1, samples] -> instance norm, strided
    conv and max-pool (SincNet simplified to one Conv1d) -> bi-LSTM -> linear -> [batch, frames, 3]."""

    def __init__(self, bidirectional: bool = True):
        super().__init__()
        self.norm = nn.InstanceNorm1d(1, affine=True)
        self.conv = nn.Conv1d(1, 8, 25, stride=5)
        self.pool = nn.MaxPool1d(3, 3)
        self.lstm = nn.LSTM(8, 6, batch_first=True, bidirectional=bidirectional)
        self.classifier = nn.Linear(6 * (1 + bidirectional), 3)

    def forward(self, waveforms, state=None):
        x = F.leaky_relu(self.pool(self.conv(self.norm(waveforms))))
        out, state = self.lstm(x.transpose(1, 2), state)
        y = torch.sigmoid(self.classifier(out))
        return y if self.lstm.bidirectional else (y, state)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_frames_out_of_samples_in(tmp_path, exporter):
    torch.manual_seed(0)
    module = FramesOut().eval()
    report = export(module, torch.randn(2, 1, 400), tmp_path / "b", exporter=exporter)
    assert report.manifest.topology == "many_to_many" and not report.manifest.streamable
    session = Session.load(tmp_path / "b")
    assert session.manifest.input.min_length == 35  # (35 - 25) // 5 + 1 = 3 conv steps: one pooled frame
    for batch, samples in ((1, 35), (3, 977)):
        wave = torch.randn(batch, 1, samples)
        with torch.no_grad():
            want = module(wave).numpy()
        got = session.run(wave.transpose(1, 2).numpy()).output
        frames = ((samples - 25) // 5 + 1) // 3  # conv stride 5, then pool 3
        assert got.shape == want.shape == (batch, frames, 3)
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)


def test_a_stateful_module_with_frames_out_is_refused_until_state_false(tmp_path):
    torch.manual_seed(0)
    module = FramesOut(bidirectional=False).eval()
    with pytest.raises(
        ExportError, match=r"has its own length \(\d+ frames for x's 400 steps.*pass state=False"
    ):
        export(module, torch.randn(2, 1, 400), tmp_path / "a")
    assert not (tmp_path / "a").exists()
    export(module, torch.randn(2, 1, 400), tmp_path / "b", state=False)
    wave = torch.randn(2, 1, 700)
    with torch.no_grad():
        want = module(wave)[0].numpy()
    got = Session.load(tmp_path / "b").run(wave.transpose(1, 2).numpy()).output
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)
