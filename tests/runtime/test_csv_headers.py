"""Headers that are hard to tell from data or to split: column names that are numbers (``0,1``), a
quoted name holding a comma (``"temp, C"``), a BOM. ``run`` uses the bundle's recorded names to decide
that line 1 is a header, and ``train`` and ``run`` split every line with the one CSV reader
(runtime.csvinput), so the CSV a bundle was trained on is the CSV it runs on."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from _runtime_models import make_bundle, ort_reference, zeros_state
from click.testing import CliRunner

from edgernn.cli import cli
from edgernn.runtime.csvinput import csv_lines, is_header
from edgernn.train.readers import read_table


def _bundle(root, columns):
    bundle = make_bundle(root, input_kw={"columns": columns})
    x = np.random.default_rng(5).uniform(1, 20, (6, 3)).astype(np.float32)
    want = ort_reference(bundle / "model.onnx", {"x": x[None], **zeros_state("lstm", 1)})[0][0]
    return bundle, x, want


def _write(path, header: str, x, order) -> None:
    rows = "".join(",".join(f"{row[i]:.9g}" for i in order) + "\n" for row in x)
    path.write_bytes((header + "\n" + rows).encode("utf-8"))


def _outputs(bundle, path):
    result = CliRunner().invoke(cli, ["run", str(bundle), str(path)])
    assert result.exit_code == 0, result.output
    return np.array(list(csv.reader(io.StringIO(result.stdout)))[1:], dtype=np.float64)[:, 1:], result.stderr


@pytest.mark.parametrize(
    "header, order", [("0,1,2", (0, 1, 2)), ("2,0,1", (2, 0, 1)), (" 1 , 2 ,0", (1, 2, 0))]
)
def test_numeric_column_names_are_a_header_and_mapped_by_name(tmp_path, header, order):
    bundle, x, want = _bundle(tmp_path / "b", ("0", "1", "2"))
    _write(tmp_path / "x.csv", header, x, order)
    got, notes = _outputs(bundle, tmp_path / "x.csv")
    assert got.shape == want.shape  # 6 forecasts for 6 rows: line 1 is not a time step
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert "line 1 read as the header: it holds the bundle's column names 0, 1, 2" in notes


@pytest.mark.parametrize("bom", ["", "\ufeff"])
def test_a_quoted_name_with_a_comma_reads_the_same_in_train_and_run(tmp_path, bom):
    columns = ("temp, C", "wind", 'say "hi"')
    bundle, x, want = _bundle(tmp_path / "b", columns)
    path = tmp_path / "x.csv"
    _write(path, bom + '"temp, C",wind,"say ""hi"""', x, (0, 1, 2))
    got, _ = _outputs(bundle, path)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    table = read_table(path)
    assert table.names == columns
    np.testing.assert_allclose(table.values, x, rtol=1e-7)


def test_the_one_reader_splits_lines_and_cells():
    assert is_header(["0", "1"], ("0", "1")) and not is_header(["0", "1"], None)
    assert is_header(["temp", "load"], None) and not is_header(["1", "x"], ("a",))


def test_csv_lines_keeps_line_numbers_and_blank_lines(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b'\xef\xbb\xbfa,"b, c"\r\n\r\n1,2\r3,4\n\n\n')
    assert csv_lines(path) == [(1, ["a", "b, c"]), (2, []), (3, ["1", "2"]), (4, ["3", "4"])]
