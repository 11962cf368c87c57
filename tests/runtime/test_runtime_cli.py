"""``edgernn run``: help, CSV/NPY/JSON in and out, --stream, third-party .onnx, one-line errors."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import onnx
import pytest
from _runtime_models import make_bundle, ort_reference, vad_model, vad_reference, zeros_state
from click.testing import CliRunner

from edgernn.cli import cli


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    x = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    np.save(root / "x.npy", x)
    np.savetxt(root / "x.csv", x, delimiter=",", header="a,b,c", comments="", fmt="%.9g")
    (root / "x.json").write_text(json.dumps({"x": x.tolist()}))
    m2m = make_bundle(root / "m2m")
    labels = ("calm", "busy")
    cls = make_bundle(root / "cls", topology="many_to_one", output_kw={"kind": "classes", "labels": labels})
    ref_m2m = ort_reference(m2m / "model.onnx", {"x": x[None], **zeros_state("lstm", 1)})[0][0]
    ref_cls = ort_reference(cls / "model.onnx", {"x": x[None], **zeros_state("lstm", 1)})[0][0]
    return {
        "root": root,
        "x": x,
        "m2m": m2m,
        "cls": cls,
        "ref_m2m": ref_m2m,
        "ref_cls": ref_cls,
        "labels": labels,
    }


def invoke(*args):
    return CliRunner().invoke(cli, ["run", *map(str, args)])


def rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_help():
    result = invoke("--help")
    assert result.exit_code == 0
    for flag in ("--out", "--provider", "--variant", "--stream", "BUNDLE INPUT"):
        assert flag in result.output


@pytest.mark.parametrize("name", ["x.npy", "x.csv", "x.json"])
def test_many_to_many_to_stdout(data, name):
    result = invoke(data["m2m"], data["root"] / name, "--provider", "cpu")
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    assert table[0] == ["step", "y_0", "y_1"]
    np.testing.assert_allclose(np.array(table[1:], float)[:, 1:], data["ref_m2m"], rtol=1e-6, atol=1e-7)
    assert [int(r[0]) for r in table[1:]] == list(range(6))


@pytest.mark.parametrize("suffix", [".npy", ".json", ".csv"])
def test_outputs_to_files(data, tmp_path, suffix):
    out = tmp_path / f"y{suffix}"
    result = invoke(data["m2m"], data["root"] / "x.npy", "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    if suffix == ".npy":
        np.testing.assert_allclose(np.load(out)[0], data["ref_m2m"], atol=1e-6)
    elif suffix == ".json":
        saved = json.loads(out.read_text())
        assert (saved["provider"], saved["variant"]) == ("CPUExecutionProvider", "fp32")
        np.testing.assert_allclose(np.array(saved["output"])[0], data["ref_m2m"], atol=1e-6)
    else:
        np.testing.assert_allclose(
            np.array(rows(out.read_text())[1:], float)[:, 1:], data["ref_m2m"], rtol=1e-6
        )


def test_classes_print_label_and_probabilities(data, tmp_path):
    result = invoke(data["cls"], data["root"] / "x.csv")
    assert result.exit_code == 0, result.output
    header, row = rows(result.stdout)
    assert header == ["label", "p_calm", "p_busy"]
    logits = data["ref_cls"]
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert row[0] == data["labels"][int(logits.argmax())]
    np.testing.assert_allclose(np.array(row[1:], float), probs, rtol=1e-6)
    out = tmp_path / "y.json"
    assert invoke(data["cls"], data["root"] / "x.csv", "--out", out).exit_code == 0
    saved = json.loads(out.read_text())
    assert saved["labels"] == [row[0]]
    np.testing.assert_allclose(saved["output"][0], probs, rtol=1e-6)


def test_stream_prints_every_step(data):
    result = invoke(data["cls"], data["root"] / "x.npy", "--stream")
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    assert table[0] == ["step", "label", "p_calm", "p_busy"]
    assert len(table) == 7
    x = data["x"]
    for t in (0, 3, 5):  # the running prediction after t+1 rows is the model on that prefix
        prefix = ort_reference(data["cls"] / "model.onnx", {"x": x[None, : t + 1], **zeros_state("lstm", 1)})[
            0
        ][0]
        probs = np.exp(prefix - prefix.max()) / np.exp(prefix - prefix.max()).sum()
        np.testing.assert_allclose(np.array(table[t + 1][2:], float), probs, rtol=1e-6)


def test_stream_many_to_many_equals_whole_run(data):
    streamed = rows(invoke(data["m2m"], data["root"] / "x.json", "--stream").output)
    whole = rows(invoke(data["m2m"], data["root"] / "x.json").output)
    assert streamed == whole


def test_bare_onnx_with_constants(tmp_path):
    model, weights = vad_model(8, 6)
    onnx.save(model, str(tmp_path / "vad.onnx"))
    frames = np.random.default_rng(4).standard_normal((5, 8)).astype(np.float32)
    np.save(tmp_path / "frames.npy", frames)
    result = invoke(tmp_path / "vad.onnx", tmp_path / "frames.npy", "--const", "sr=16000")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == "note: vad.onnx: state pairs inferred from the graph: state -> stateN (name: x -> xN)"
    assert all(line.startswith("note: ") for line in lines)  # then which variant runs, and why
    table = rows(result.stdout)
    assert table[0] == ["step", "output"]
    expected = vad_reference(frames[:, None], weights["w"], 16000, 6)[0][:, 0, 0]
    np.testing.assert_allclose(np.array(table[1:], float)[:, 1], expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("make_input", "extra", "message"),
    [
        (
            lambda p: np.save(p / "bad.npy", np.ones((6, 5), np.float32)) or p / "bad.npy",
            (),
            "error: input 'x': expected [batch, time, 3] float32, got [1, 6, 5] float32 (feature count 5, expected 3)",
        ),
        (lambda p: (p / "x.txt").write_text("1,2,3") and p / "x.txt", (), "error: "),
        (lambda p: (p / "x.csv").write_text("a,b,c\n1,2,nan\n") and p / "x.csv", (), "NaN or Inf"),
        (
            lambda p: (p / "x.csv").write_text("a,b,c\n1,2,3\n") and p / "x.csv",
            ("--out", "y.parquet"),
            "error: --out y.parquet: expected a file ending in .csv, .npy, .json",
        ),
        (
            lambda p: (p / "x.csv").write_text("a,b,c\n1,2,3\n") and p / "x.csv",
            ("--provider", "cuda", "--fallback", "error"),
            "error: requested execution provider CUDAExecutionProvider, but the session runs on CPUExecutionProvider",
        ),
    ],
    ids=["features", "suffix", "nan", "out-suffix", "fallback"],
)
def test_errors_are_one_line(data, tmp_path, make_input, extra, message):
    path = make_input(tmp_path)
    result = CliRunner().invoke(cli, ["run", str(data["m2m"]), str(path), *extra])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert message in lines[0]


def test_bad_const_and_state_map_flags(tmp_path):
    model, _ = vad_model(8, 6)
    onnx.save(model, str(tmp_path / "vad.onnx"))
    np.save(tmp_path / "frames.npy", np.zeros((2, 8), np.float32))
    for flags, message in (
        (["--const", "sr=fast"], "error: --const sr=fast: expected a number, got 'fast'"),
        (["--const", "sr"], "error: --const: expected NAME=VALUE, got 'sr'"),
        (
            ["--const", "sr=1", "--state-map", "state=nope"],
            "error: vad.onnx: state_map pair 'state' -> 'nope'",
        ),
    ):
        result = invoke(tmp_path / "vad.onnx", tmp_path / "frames.npy", *flags)
        assert result.exit_code == 1, result.output
        assert result.output.strip().startswith(message), result.output
