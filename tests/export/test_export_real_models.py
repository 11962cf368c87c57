"""The corpus of real model classes (tests/real_models): each exported with state="auto" and with
dynamo alone, held to the model itself through edgernn.runtime at three unseen (batch, time) pairs
and streamed where it carries state (see real_models/harness.py). Every entry ends as the corpus
expects: exported with parity, or refused with a reason; never a wrong bundle.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from real_models.corpus import ENTRIES  # noqa: E402
from real_models.harness import ATOL, check_entry  # noqa: E402

BY_NAME = {e.name: e for e in ENTRIES}
FAST = [
    "DeepSpeech",  # x [batch, 1, time, feature] read through its layout, bidirectional ReLU RNN
    "chatbot EncoderRNN (packed, time-major)",  # lengths for a time-major packed bi-GRU (root cause C)
    "chatbot LuongAttnDecoderRNN",  # three inputs: a decoder step, its state, a memory of its own length
    "RNN (windows_batch dict)",  # neuralforecast: a dict of covariates, one of them static
    "pytorch-seq2seq Encoder",  # its final (h, c) alone, 2 layers on a batch of 2 (rows == batch)
    "pytorch-seq2seq Decoder",  # input [batch], (hidden, cell) as two parameters, returned flat
]  # the rest (view(-1) outputs, fractions, the zero-length refusal...) in the slow corpus


def _check(tmp_path, name: str, exporter: str) -> None:
    entry = BY_NAME[name]
    outcome = check_entry(entry, tmp_path / "b", exporter)
    assert outcome.outcome == entry.expect, f"{name} ({exporter}): {outcome.outcome}: {outcome.detail}"
    if entry.expect == "exported":
        assert outcome.max_diff <= 10 * ATOL
    if entry.refused:
        assert entry.refused in outcome.detail or "data-dependent control flow" in outcome.detail, (
            outcome.detail
        )


@pytest.mark.parametrize("name", FAST)
def test_real_model(tmp_path, name):
    _check(tmp_path, name, "auto")


@pytest.mark.slow
@pytest.mark.parametrize("exporter", ["auto", "dynamo"])
@pytest.mark.parametrize("name", list(BY_NAME))
def test_real_model_corpus(tmp_path, name, exporter):
    _check(tmp_path, name, exporter)
