"""CSV files as spreadsheets write them: a UTF-8 byte-order mark and CRLF line ends are accepted."""

from __future__ import annotations

import pytest
from _runtime_models import make_bundle
from click.testing import CliRunner

from edgernn.cli import cli

ROWS = ["a,b,c", "1,2,3", "4,5,6", "7.5,-8,9e-1"]


def run_csv(bundle, path) -> str:
    result = CliRunner().invoke(cli, ["run", str(bundle), str(path)])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("header", [True, False], ids=["header", "no-header"])
def test_run_reads_bom_and_crlf_like_plain_csv(tmp_path, header):
    bundle = make_bundle(tmp_path / "b", cell="gru", features=3, hidden=5, out=2)
    rows = ROWS if header else ROWS[1:]
    (tmp_path / "plain.csv").write_bytes("\n".join(rows).encode() + b"\n")
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode() + b"\r\n")
    plain = run_csv(bundle, tmp_path / "plain.csv")
    assert plain.splitlines()[0] == "step,y_0,y_1" and len(plain.splitlines()) == 4  # all three rows ran
    assert run_csv(bundle, tmp_path / "excel.csv") == plain


def test_train_reader_accepts_crlf(tmp_path):
    pytest.importorskip("torch")
    from edgernn.train.readers import read_csv

    (tmp_path / "plain.csv").write_text("\n".join(ROWS) + "\n")
    (tmp_path / "crlf.csv").write_bytes("\r\n".join(ROWS).encode() + b"\r\n")
    names, values = read_csv(tmp_path / "crlf.csv", ("a", "c"))
    assert names == ("a", "c") and values.tolist() == [[1, 3], [4, 6], [7.5, 0.9]]
    assert read_csv(tmp_path / "plain.csv", ("a", "c"))[1].tolist() == values.tolist()


def test_train_reader_accepts_a_bom(tmp_path):
    pytest.importorskip("torch")
    from edgernn.train.readers import read_csv

    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(ROWS).encode() + b"\r\n")
    names, values = read_csv(tmp_path / "bom.csv", ("a", "c"))
    assert names == ("a", "c") and values.tolist() == [[1, 3], [4, 6], [7.5, 0.9]]
