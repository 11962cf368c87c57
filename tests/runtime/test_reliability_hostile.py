"""The success paths beside the issue #14 corpus: what hostile input must not break for honest input.

Listed external data loads from memory and runs; a manifest with a BOM loads; labels with commas and
newlines survive the CSV output; inspect names external data the manifest does not list; an
unexpected exception is still one line (and a traceback under --debug).
"""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import onnx
import pytest
from _runtime_models import make_bundle, ort_reference
from click.testing import CliRunner

from edgernn.cli import cli
from edgernn.runtime import BundleError, Session
from edgernn.runtime.fileio import sha256_file


def _externalise(bundle, *, listed: bool):
    model = onnx.load(str(bundle / "model.onnx"))
    onnx.save(
        model,
        str(bundle / "model.onnx"),
        save_as_external_data=True,
        location="w.bin",  # weights over 1 KiB
    )
    data = json.loads((bundle / "manifest.json").read_text())
    data["files"]["model.onnx"]["sha256"] = sha256_file(bundle / "model.onnx")
    if listed:
        entry = {"sha256": sha256_file(bundle / "w.bin"), "size_bytes": (bundle / "w.bin").stat().st_size}
        data["files"]["w.bin"] = {**entry, "role": "data"}
    (bundle / "manifest.json").write_text(json.dumps(data))
    return bundle


def test_listed_external_data_loads_from_memory_and_runs(tmp_path):
    inline = make_bundle(tmp_path / "inline", cell="gru", hidden=16)
    bundle = _externalise(make_bundle(tmp_path / "b", cell="gru", hidden=16), listed=True)
    x = np.random.default_rng(1).standard_normal((2, 7, 3)).astype(np.float32)
    want = ort_reference(inline / "model.onnx", {"x": x, "h0": np.zeros((1, 2, 16), np.float32)})[0]
    session = Session.load(bundle, provider="cpu", threads=1)
    np.testing.assert_array_equal(session.run(x).output, want)
    assert session.model_sha256 == sha256_file(bundle / "model.onnx")


def test_inspect_names_external_data_the_manifest_does_not_list(tmp_path):
    from edgernn.export.inspection import inspect_path

    bundle = _externalise(make_bundle(tmp_path / "b", cell="gru", hidden=16), listed=False)
    checks = {f["path"]: f["check"] for f in inspect_path(bundle)["files"]}
    assert checks["model.onnx"] == "external data not listed: w.bin"


def test_a_manifest_with_a_bom_loads_like_any_text_file_edgernn_reads(tmp_path):
    bundle = make_bundle(tmp_path / "b", cell="gru", hidden=5)
    text = (bundle / "manifest.json").read_bytes()
    (bundle / "manifest.json").write_bytes(b"\xef\xbb\xbf" + text)
    assert Session.load(bundle, provider="cpu").manifest.hidden_size == 5


@pytest.mark.parametrize("suffix", [".csv", "stdout"])
def test_labels_with_commas_quotes_and_newlines_stay_one_csv_field(tmp_path, suffix):
    labels = ['a, "b"', "line\nbreak"]
    bundle = make_bundle(
        tmp_path / "b",
        cell="gru",
        hidden=5,
        topology="many_to_one",
        output_kw={"kind": "classes", "labels": labels},
    )
    (tmp_path / "x.csv").write_text("1,2,3\n4,5,6\n")
    args = ["run", str(bundle), str(tmp_path / "x.csv")]
    if suffix == ".csv":
        args += ["--out", str(tmp_path / "y.csv")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    text = (tmp_path / "y.csv").read_text() if suffix == ".csv" else result.stdout
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["label", *(f"p_{name}" for name in labels)]
    assert len(rows) == 2 and rows[1][0] in labels and len(rows[1]) == 3


def test_an_unexpected_exception_is_one_line_and_a_traceback_under_debug(tmp_path, monkeypatch):
    from edgernn.runtime import cli as run_cli

    def broken(*args):
        raise RuntimeError("something\nedgernn did not foresee")

    monkeypatch.setattr(run_cli, "read_input", broken)
    bundle = make_bundle(tmp_path / "b", cell="gru", hidden=5)
    (tmp_path / "x.csv").write_text("1,2,3\n")
    plain = CliRunner().invoke(cli, ["run", str(bundle), str(tmp_path / "x.csv")])
    assert plain.exit_code == 1 and isinstance(plain.exception, SystemExit)
    assert plain.stderr.splitlines() == [
        "error: unexpected RuntimeError: something edgernn did not foresee (a bug in edgernn; run with "
        "--debug for the traceback)"
    ]
    debug = CliRunner().invoke(cli, ["--debug", "run", str(bundle), str(tmp_path / "x.csv")])
    assert isinstance(debug.exception, RuntimeError)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mean", [], "manifest field 'output.mean': expected a number or a list of 2 values, got []"),
        ("std", [], "manifest field 'output.std': expected a number or a list of 2 values, got []"),
        ("mean", [0.0, 1.0, 2.0], "manifest field 'output.mean': expected 2 values, got 3"),
    ],
)
def test_output_scaling_that_cannot_fit_the_output_is_refused_at_load(tmp_path, field, value, message):
    """Found by the manifest fuzz: with ``output.size`` unset, an empty mean reached numpy at run time
    (a broadcasting ValueError); the graph's own output width decides now."""
    bundle = make_bundle(tmp_path / "b", cell="gru", out=2)
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    data["output"].update({"size": None, field: value})
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=re.escape(message)):
        Session.load(bundle, provider="cpu")
