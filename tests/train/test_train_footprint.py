"""The memory estimate that refuses an untrainable ``--hidden`` before torch allocates: its parameter
count equals torch's for every kind of model, and a huge model is refused in one line."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgernn.runtime.errors import InputError  # noqa: E402
from edgernn.train.config import ModelConfig  # noqa: E402
from edgernn.train.footprint import check_fits, parameter_count, training_bytes  # noqa: E402
from edgernn.train.model import SequenceModel  # noqa: E402


@pytest.mark.parametrize(
    "kw",
    [
        dict(cell="lstm", input_size=3, hidden_size=7),
        dict(cell="gru", input_size=2, hidden_size=5, num_layers=3, bidirectional=True),
        dict(cell="rnn", input_size=4, hidden_size=6, num_layers=2, project_size=9, output_size=3),
        dict(cell="lstm", input_kind="tokens", vocab_size=11, embed_size=8, hidden_size=5, output_size=11),
        dict(
            cell="lstm",
            topology="one_to_many",
            input_size=2,
            output_size=2,
            hidden_size=4,
            num_layers=2,
            cond_size=3,
        ),
    ],
)
def test_the_parameter_count_is_torchs(kw):
    config = ModelConfig(**kw)
    assert parameter_count(config) == sum(p.numel() for p in SequenceModel(config).parameters())


def test_a_huge_hidden_size_is_refused_in_one_line():
    config = ModelConfig(cell="lstm", input_size=1, hidden_size=1_048_576)
    assert training_bytes(config, 32, 32) > 17e12  # the 17.6 TB torch tried to allocate, and more
    with pytest.raises(InputError, match=r"--hidden 1048576 --layers 1: training needs about [\d,.]+ GiB"):
        check_fits(config, 32, 32)
    check_fits(ModelConfig(cell="lstm", input_size=1, hidden_size=64), 32, 32)  # the default fits anywhere
    with pytest.raises(InputError, match=r"over the 0.5 GiB bound"):
        check_fits(
            ModelConfig(cell="gru", input_size=1, hidden_size=4096, num_layers=4), 32, 32, available=2**30
        )
