"""Fuzzing with hypothesis: whatever arrives, only InputError/BundleError (or a correct answer) leaves.

The runtime's input validation gets random shapes, dtypes and values through ``Session.run``,
``Stream.step``, ``lengths`` and ``state``; the manifest parser gets random JSON, valid manifests
with random parts replaced, and random bytes as ``manifest.json``; the ONNX file check gets
truncated and corrupted models. Example counts are bounded so the fast suite stays fast;
``EDGERNN_FUZZ_SCALE=50 pytest tests/cli/test_reliability_fuzz.py`` runs fifty times as many.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from _runtime_models import make_bundle, rnn_manifest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgernn.runtime import Bundle, BundleError, InputError, Manifest, Session
from edgernn.runtime.bundle import manifest_from_graph
from edgernn.runtime.modelfile import check_model_file

SCALE = int(os.environ.get("EDGERNN_FUZZ_SCALE", "1"))


def bounded(examples: int):
    return settings(
        max_examples=examples * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


FAST = bounded(120)
DTYPES = ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "uint64", "bool", "complex64"]
DTYPES += ["<U3", "datetime64[s]"]


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory(prefix="edgernn-fuzz-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="module")
def sessions(folder):
    features = Session.load(make_bundle(folder / "f", lengths=True), provider="cpu", threads=1)
    tokens = Session.load(make_bundle(folder / "t", cell="gru", vocab=7), provider="cpu", threads=1)
    return {"features": features, "tokens": tokens}


def arrays_of_any_kind():
    shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
    return st.sampled_from(DTYPES).flatmap(lambda dtype: hnp.arrays(np.dtype(dtype), shapes))


def python_values():
    leaves = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=3)
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4), max_leaves=24)


def outcome(call, check):
    """Run ``call``; an InputError is a refusal, anything else must be a correct-looking answer."""
    try:
        result = call()
    except InputError as err:
        assert str(err) and "\n" not in str(err)
        return
    check(result)


@FAST
@given(x=arrays_of_any_kind() | python_values())
def test_run_refuses_or_answers(sessions, x):
    session = sessions["features"]

    def check(result):
        shape = np.asarray(x).shape
        assert result.output.shape == (shape[0], shape[1], 2) and np.isfinite(result.output).all()

    outcome(lambda: session.run(x), check)


@FAST
@given(x=arrays_of_any_kind() | python_values(), batch=st.integers(1, 3))
def test_stream_step_refuses_or_answers(sessions, x, batch):
    stream = sessions["features"].stream(batch=batch)
    outcome(lambda: stream.step(x), lambda r: r.output.shape == (batch, 2) and np.isfinite(r.output).all())
    assert stream.steps in (0, 1)


@FAST
@given(x=arrays_of_any_kind() | python_values())
def test_token_ids_refuse_or_answer(sessions, x):
    session = sessions["tokens"]
    outcome(lambda: session.run(x), lambda r: np.isfinite(r.output).all())


@FAST
@given(
    lengths=arrays_of_any_kind() | python_values(),
    state=st.dictionaries(st.sampled_from(["h0", "c0", "h1"]), arrays_of_any_kind(), max_size=3),
)
def test_lengths_and_state_refuse_or_answer(sessions, lengths, state):
    session, x = sessions["features"], np.zeros((2, 4, 3), np.float32)
    outcome(lambda: session.run(x, lengths=lengths), lambda r: r.output.shape == (2, 4, 2))
    outcome(lambda: session.run(x, state=state), lambda r: np.isfinite(r.output).all())
    stream = session.stream(batch=2)

    def set_state():
        stream.state = state

    outcome(set_state, lambda _: None)


def json_values():
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    )


GOOD = rnn_manifest(lengths=True, input_kw={"mean": (0.0, 1.0, 2.0), "std": (1.0, 1.0, 2.0)}).to_dict()


def paths(value, prefix=()):
    """Every key path into a JSON value."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, (*prefix, i))


ALL_PATHS = [p for p in paths(GOOD) if p]


@st.composite
def mutated_manifests(draw):
    data = json.loads(json.dumps(GOOD))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ALL_PATHS))
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(json_values())
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    return data


def parse(data):
    try:
        manifest = Manifest.from_dict(data)
    except BundleError as err:
        assert str(err).startswith("manifest field '") and "\n" not in str(err), err
        return None
    assert Manifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest
    return manifest


@bounded(200)
@given(data=json_values() | mutated_manifests())
def test_manifest_parser_refuses_or_round_trips(data):
    parse(data)


@bounded(60)
@given(text=st.binary(max_size=64) | json_values().map(lambda v: json.dumps(v).encode()))
def test_bundle_load_of_any_manifest_bytes_is_a_bundle_error(folder, text):
    bundle = folder / "bytes"
    bundle.mkdir(exist_ok=True)
    (bundle / "manifest.json").write_bytes(text)
    try:
        loaded = Bundle.load(bundle)
    except BundleError as err:
        assert "manifest.json" in str(err)
        return
    assert loaded.root == bundle and loaded.manifest == Manifest.from_dict(json.loads(text))


class Arg:
    def __init__(self, name, shape, type_="tensor(float)"):
        self.name, self.shape, self.type = name, shape, type_


@bounded(80)
@given(data=json_values() | mutated_manifests())
def test_graph_metadata_of_any_json_is_a_bundle_error(data):
    inputs, outputs = [Arg("x", ["batch", "time", 3])], [Arg("y", ["batch", "time", 2])]
    try:
        manifest = manifest_from_graph("m.onnx", {"edgernn.manifest": json.dumps(data)}, inputs, outputs)
    except BundleError as err:
        assert str(err).startswith("m.onnx: metadata 'edgernn.manifest'")
        return
    assert manifest == Manifest.from_dict({**data, "files": {}}) and manifest.files == {}


@bounded(40)
@given(data=mutated_manifests())
def test_sessions_from_mutated_manifests_refuse_cleanly(folder, data):
    """A manifest that parses still has to fit the graph: any mismatch is a BundleError or InputError."""
    bundle = make_bundle(folder / "session", lengths=True)
    data["files"] = json.loads((bundle / "manifest.json").read_text())["files"]
    (bundle / "manifest.json").write_text(json.dumps(data))
    try:
        session = Session.load(bundle, provider="cpu", threads=1)
    except (BundleError, InputError) as err:
        assert "\n" not in str(err)
        return

    def answered(result):
        assert result.output.shape[0] == 1 and session.manifest.output.name in result.outputs
        assert all(np.isfinite(v).all() for v in result.outputs.values())  # the graph's own outputs

    outcome(lambda: session.run(np.zeros((1, 4, 3), np.float32)), answered)


@bounded(150)
@given(
    cut=st.integers(0, 10**6),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=4),
)
def test_corrupt_model_files_are_refused_or_described(folder, cut, flips):
    model = folder / "f" / "model.onnx"
    data = bytearray(model.read_bytes())
    data = data[: max(1, cut % (len(data) + 1))]
    for at, xor in flips:
        data[at % len(data)] ^= xor
    path = folder / "corrupt.onnx"
    path.write_bytes(bytes(data))
    try:
        refs = check_model_file(path)
    except BundleError as err:
        assert str(err).startswith(f"{path}: ")
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in refs.items())


# ---- the CLI: whatever manifest or input file arrives, one line or an answer, never a traceback --
def cli_outcome(args) -> None:
    from click.testing import CliRunner

    from edgernn.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert isinstance(result.exception, SystemExit | type(None)), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr


@pytest.fixture(scope="module")
def cli_bundle(folder):
    bundle = make_bundle(folder / "cli", lengths=True)
    (folder / "x.csv").write_text("1,2,3\n4,5,6\n")
    return bundle, json.loads((bundle / "manifest.json").read_text())


@bounded(40)
@given(data=mutated_manifests() | json_values())
def test_cli_run_on_any_manifest_is_one_line_or_an_answer(folder, cli_bundle, data):
    bundle, good = cli_bundle
    if isinstance(data, dict):
        data["files"] = good["files"]
    (bundle / "manifest.json").write_text(json.dumps(data))
    try:
        cli_outcome(["run", bundle, folder / "x.csv"])
    finally:
        (bundle / "manifest.json").write_text(json.dumps(good))


def npy_bytes(shape, descr, body) -> bytes:
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": tuple(shape)}
    )
    return buffer.getvalue() + bytes(body)


INPUT_FILES = st.one_of(
    st.tuples(
        st.just(".csv"),
        st.binary(max_size=64) | st.text(alphabet="0123456789.,-e\n naif", max_size=64).map(str.encode),
    ),
    st.tuples(st.just(".json"), st.binary(max_size=32) | json_values().map(lambda v: json.dumps(v).encode())),
    st.tuples(
        st.just(".npy"),
        st.builds(
            npy_bytes,
            st.lists(st.integers(0, 10**7), max_size=4),
            st.sampled_from(["<f4", "<f8", "<i8", "|b1", "<c8", "|O", "<U3"]),
            st.integers(0, 96),
        )
        | st.binary(max_size=64),
    ),
)


@bounded(60)
@given(file=INPUT_FILES)
def test_cli_run_on_any_input_file_is_one_line_or_an_answer(folder, cli_bundle, file):
    suffix, content = file
    (folder / f"in{suffix}").write_bytes(content)
    cli_outcome(["run", cli_bundle[0], folder / f"in{suffix}"])
