"""``edgernn run`` reads a CSV by its header when the bundle names its columns: any order, extra
columns left out with a note, a missing one refused in one line; outputs carry the target names."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from _runtime_models import make_bundle, ort_reference, zeros_state
from click.testing import CliRunner

from edgernn.cli import cli
from edgernn.runtime.records import SeriesRecord

COLUMNS = ("temp", "wind", "load")


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    root = tmp_path_factory.mktemp("named")
    bundle = make_bundle(
        root / "b",
        input_kw={"columns": COLUMNS},
        output_kw={"names": ("load[t+1]", "spare[t+1]")},
        series=SeriesRecord(time_column="date"),
    )
    x = np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32)
    want = ort_reference(bundle / "model.onnx", {"x": x[None], **zeros_state("lstm", 1)})[0][0]
    return root, bundle, x, want


def _write(path, header, columns, x, extra=None):
    lines = [",".join(header)] if header else []
    for i, row in enumerate(x):
        cells = {name: f"{v:.9g}" for name, v in zip(COLUMNS, row, strict=True)}
        cells.update(extra(i) if extra else {})
        lines.append(",".join(cells[c] for c in columns))
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(bundle, path, *flags):
    return CliRunner().invoke(cli, ["run", str(bundle), str(path), *flags])


def _values(result):
    table = list(csv.reader(io.StringIO(result.stdout)))
    assert table[0] == ["step", "load[t+1]", "spare[t+1]"]
    return np.array(table[1:], dtype=np.float64)[:, 1:]


def test_reordered_columns_and_extra_ones_give_the_same_outputs(named):
    root, bundle, x, want = named
    same = _write(root / "same.csv", COLUMNS, COLUMNS, x)
    order = ("date", "load", "station", "temp", "wind")
    extra = lambda i: {"date": f"2020-01-0{i + 1}", "station": "north"}  # noqa: E731
    shuffled = _write(root / "shuffled.csv", order, order, x, extra)
    a, b = _run(bundle, same), _run(bundle, shuffled)
    assert a.exit_code == 0 and b.exit_code == 0, b.output
    np.testing.assert_allclose(_values(a), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(_values(a), _values(b))
    assert "note: left out columns the bundle does not read: date (time column), station" in b.stderr
    assert "note: columns mapped by name in the bundle's order: temp, wind, load" in b.stderr
    assert (
        "note: running the fp32 variant on CPUExecutionProvider (auto: the bundle has no int8 variant)"
        in b.stderr
    )
    streamed = _run(bundle, shuffled, "--stream")
    np.testing.assert_allclose(_values(streamed), _values(a), rtol=1e-5, atol=1e-6)


def test_a_missing_column_is_one_line(named):
    root, bundle, x, _ = named
    path = _write(root / "missing.csv", ("temp", "load"), ("temp", "load"), x)
    result = _run(bundle, path)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip() == (
        f"error: {path}: missing column 'wind'; the bundle reads temp, wind, load, the header has temp, load"
    )


def test_headerless_only_when_the_width_matches(named):
    root, bundle, x, want = named
    ok = _run(bundle, _write(root / "plain.csv", None, COLUMNS, x))
    assert ok.exit_code == 0
    assert "no header row: reading the 3 columns as temp, wind, load" in ok.stderr
    np.testing.assert_allclose(_values(ok), want, rtol=1e-5, atol=1e-6)
    wide = root / "wide.csv"
    wide.write_text("1,2,3,4\n5,6,7,8\n")
    bad = _run(bundle, wide)
    assert bad.exit_code == 1
    assert (
        "no header row and 4 columns, but the bundle reads 3 (temp, wind, load); add a header row"
        in bad.stderr
    )


def test_a_blank_line_between_rows_is_refused_not_dropped(named):
    root, bundle, _, _ = named
    path = root / "blank.csv"
    path.write_text("temp,wind,load\n1,2,3\n\n4,5,6\n\n")
    result = _run(bundle, path)
    assert result.exit_code == 1
    assert f"error: {path}: line 3 is empty; every line is one time step" in result.stderr
    path.write_text("temp,wind,load\n1,2,3\n4,5,6\n\n\n")  # trailing blank lines are the end of the file
    assert _run(bundle, path).exit_code == 0


def test_a_closed_pipe_ends_quietly(named, tmp_path):
    import subprocess
    import sys

    root, bundle, x, _ = named
    long = np.repeat(x, 4000, axis=0)
    path = _write(tmp_path / "long.csv", COLUMNS, COLUMNS, long)
    code = "import sys; from edgernn.cli import main; sys.argv = ['edgernn', 'run', sys.argv[1], sys.argv[2]]; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(bundle), str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert b"Broken pipe" not in err and b"Traceback" not in err
