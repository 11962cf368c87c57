"""``edgernn run`` on a bundle of the general contract: further inputs from an .npz beside x, further
outputs saved by name (.npz, .json) and noted on stderr when printing; the lines that show the contract."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

import _named_models as nm  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from edgernn.cli import cli  # noqa: E402
from edgernn.runtime import Session  # noqa: E402
from edgernn.runtime.contract import contract_lines  # noqa: E402

SAME_ATOL = 1e-6  # the CLI and Session.run run the same graph on the same values
STREAM_ATOL = 1e-5  # steps of one call each vs one whole-sequence call


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    import warnings

    root = tmp_path_factory.mktemp("named-cli")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation warning
        model = nm.export_model(root / "conditioned.onnx")
    return nm.make_bundle(root / "b", model)


@pytest.fixture(scope="module")
def arrays():
    return nm.example(2, 5, 3, seed=21)


@pytest.fixture(scope="module")
def whole(bundle, arrays):
    return Session.load(bundle, provider="cpu").run(arrays["x"], inputs=nm.further(arrays))


def _npz(path, arrays, drop=()):
    np.savez(path, **{k: v for k, v in arrays.items() if k != "h0" and k not in drop})
    return path


def _run(*args):
    return CliRunner().invoke(cli, ["run", *map(str, args)])


def test_npz_in_npz_out(bundle, arrays, whole, tmp_path):
    result = _run(bundle, _npz(tmp_path / "in.npz", arrays), "--out", tmp_path / "out.npz")
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "out.npz") as out:
        assert sorted(out.files) == ["gate", "pooled", "y"]
        np.testing.assert_allclose(out["y"], whole.output, atol=SAME_ATOL)
        np.testing.assert_allclose(out["gate"], whole.outputs["gate"], atol=SAME_ATOL)
        np.testing.assert_allclose(out["pooled"], whole.outputs["pooled"], atol=SAME_ATOL)


def test_stream_slices_timed_inputs_step_by_step(bundle, arrays, whole, tmp_path):
    result = _run(bundle, _npz(tmp_path / "in.npz", arrays), "--stream", "--out", tmp_path / "out.json")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out.json").read_text())
    assert sorted(data["outputs"]) == ["gate", "pooled"]
    np.testing.assert_allclose(np.asarray(data["outputs"]["gate"]), whole.outputs["gate"], atol=STREAM_ATOL)
    np.testing.assert_allclose(
        np.asarray(data["outputs"]["pooled"]), whole.outputs["pooled"], atol=STREAM_ATOL
    )
    y = np.asarray(data["output"])  # steps stacked on axis 1: [batch, time, out]
    np.testing.assert_allclose(y, whole.output, atol=STREAM_ATOL)


def test_printing_notes_the_further_outputs(bundle, arrays, whole, tmp_path):
    result = _run(bundle, _npz(tmp_path / "in.npz", arrays))
    assert result.exit_code == 0, result.output
    rows = result.stdout.strip().splitlines()
    assert rows[0] == "sequence,step,y_0,y_1"
    assert len(rows) == 1 + 2 * 5
    np.testing.assert_allclose([float(v) for v in rows[1].split(",")[2:]], whole.output[0, 0], atol=1e-6)
    assert (
        "note: further outputs not printed: gate [2, 5, 1] float32, pooled [2, 3] float32; "
        "--out FILE.npz or FILE.json saves them"
    ) in result.stderr


def test_one_sequence_without_batch_axes(bundle, arrays, whole, tmp_path):
    one = {k: v[0] for k, v in arrays.items() if k != "h0"}
    result = _run(bundle, _npz(tmp_path / "in.npz", one), "--out", tmp_path / "out.npz")
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["y"], whole.output[:1], atol=SAME_ATOL)
        np.testing.assert_allclose(out["pooled"], whole.outputs["pooled"][:1], atol=SAME_ATOL)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda p, a: _npz(p / "in.npz", a, drop=("memory",)),
            "in.npz: expected an array 'memory' ([batch, memory_time, 5] float32) beside 'x'; the bundle "
            "takes aux, cond, memory, memory_mask, speaker",
        ),
        (
            lambda p, a: np.save(p / "x.npy", a["x"]) or p / "x.npy",
            "x.npy: this bundle takes further inputs (aux, cond, memory, memory_mask, speaker) beside 'x'; "
            "give an .npz with arrays of those names",
        ),
        (
            lambda p, a: _npz(p / "in.npz", {**a, "speaker": np.array([1, 9])}),
            "error: input 'speaker': expected [2] int64 with values in [0, 3], got values in [1, 9]",
        ),
        (
            lambda p, a: _npz(p / "in.npz", {**a, "aux": a["aux"][:, :4]}),
            "error: input 'aux': expected [2, 5, 2] float32, got [2, 4, 2] float32 (time 4, expected 5)",
        ),
    ],
    ids=["missing", "npy", "range", "time"],
)
def test_refusals_are_one_line(bundle, arrays, tmp_path, make, message):
    result = _run(bundle, make(tmp_path, arrays))
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0]


def test_stream_refuses_a_timed_input_of_another_length(bundle, arrays, tmp_path):
    path = _npz(tmp_path / "in.npz", {**arrays, "aux": arrays["aux"][:, :4]})
    result = _run(bundle, path, "--stream")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: input 'aux': expected [batch, time, 2] float32 with x's 5 steps on axis 1, got [2, 4, 2]"
    )


def test_contract_lines():
    assert contract_lines(nm.manifest()) == [
        "contract: x and 5 further input(s) in, y and 2 further output(s) out",
        "input aux: [batch, time, 2] float32 <- forward(aux=...)",
        "input cond: [batch, 4] float32 <- forward(cond=...)",
        "input memory: [batch, memory_time, 5] float32 <- forward(memory=...)",
        "input memory_mask: [batch, memory_time] bool <- forward(memory_mask=...)",
        "input speaker: [batch] int64 values in [0, 3] <- forward(speaker=...)",
        "output gate: [batch, time, 1] float32 -> forward()[2]",
        "output pooled: [batch, 3] float32 -> forward()[3]",
    ]
    assert contract_lines(nm.manifest().to_dict()) == contract_lines(nm.manifest())  # as inspect reports it
    assert contract_lines(nm.manifest(inputs=(), outputs=())) == []
