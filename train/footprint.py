"""How much memory training a model takes, estimated from its config before torch allocates anything:
a ``--hidden`` inside the flag's range can still ask for terabytes (1,048,576 asked for 17.6 TB and
ended in an unexpected RuntimeError)."""

from __future__ import annotations

from edgernn.runtime.errors import InputError
from edgernn.runtime.limits import MEMORY_SHARE, memory_bytes

from .config import ModelConfig

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
FLOAT_BYTES = 4
COPIES = 4  # weights, gradients and Adam's two moments
SAVED_PER_GATE_ROW = 2  # autograd keeps each step's gates plus the cell and hidden state, about 2x


def parameter_count(model: ModelConfig) -> int:
    """Parameters of the :class:`~edgernn.train.model.SequenceModel` ``model`` describes."""
    hidden, dirs, gates = model.hidden_size, model.directions, GATES[model.cell]
    if model.input_kind == "tokens":
        front, width = (model.vocab_size or 0) * model.embed_size, model.embed_size
    elif model.project_size is not None:
        front, width = (model.input_size + 1) * model.project_size, model.project_size
    else:
        front, width = 0, model.input_size
    core = 0
    for layer in range(model.num_layers):
        inputs = width if layer == 0 else hidden * dirs
        core += dirs * gates * hidden * (inputs + hidden + 2)
    head = (hidden * dirs + 1) * model.output_size
    init = 0
    if model.topology == "one_to_many":
        parts = 2 if model.cell == "lstm" else 1
        init = ((model.cond_size or 0) + 1) * parts * model.num_layers * dirs * hidden
    return front + core + head + init


def training_bytes(model: ModelConfig, batch: int, steps: int) -> int:
    """Bytes to train ``model`` on batches of ``batch`` sequences of ``steps`` steps: its parameters
    (with gradients and optimizer state) and the activations autograd keeps for one batch."""
    rows = model.num_layers * model.directions * batch * steps
    activations = rows * (GATES[model.cell] + SAVED_PER_GATE_ROW) * model.hidden_size
    return FLOAT_BYTES * (COPIES * parameter_count(model) + activations)


def check_fits(model: ModelConfig, batch: int, steps: int, available: int | None = None) -> None:
    """Refuse in one line a model whose training could not fit in half of this machine's memory."""
    need = training_bytes(model, batch, steps)
    limit = int((memory_bytes() if available is None else available) * MEMORY_SHARE)
    if need > limit:
        raise InputError(
            f"--hidden {model.hidden_size} --layers {model.num_layers}: training needs about {need / 2**30:,.1f} GiB "
            f"({parameter_count(model):,} parameters, batches of {batch} x {steps} steps), over the "
            f"{limit / 2**30:.1f} GiB bound (half of this machine's memory); lower --hidden, --layers or --batch-size"
        )
