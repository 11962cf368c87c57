"""Any name the file system takes can be written atomically: the temp name beside it (``.<name>.XXXXXXXX.tmp``)
is cut to 255 bytes, while the final name stays exactly as given."""

from __future__ import annotations

import os

from _runtime_models import make_bundle
from click.testing import CliRunner

from edgernn.cli import cli
from edgernn.runtime.fileio import atomic_write_bytes, staged_dir, temp_stem


def test_a_file_with_a_255_byte_name_is_written_whole_and_leaves_no_temp(tmp_path):
    for name in ("a" * 250 + ".csv", "b" * 255, "€" * 85):  # 85 x 3 bytes = 255 bytes
        path = atomic_write_bytes(tmp_path / name, b"1,2\n")
        assert path.name == name and path.read_bytes() == b"1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a" * 250 + ".csv", "b" * 255, "€" * 85])


def test_a_folder_with_a_255_byte_name_is_staged_and_replaced(tmp_path):
    final = tmp_path / ("c" * 255)
    for text in ("first", "second"):  # the second run replaces the first (exchange or rename)
        with staged_dir(final) as tmp:
            (tmp / "f.txt").write_text(text)
        assert (final / "f.txt").read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == [final.name]


def test_the_temp_stem_fits_with_the_bytes_added_around_it():
    assert temp_stem("x.csv") == "x.csv"
    assert len(os.fsencode(temp_stem("a" * 300))) == 255 - 14
    stem = temp_stem("€" * 85)  # never cut inside a character
    assert stem == "€" * 80 and len(os.fsencode(stem)) == 240


def test_run_out_with_a_250_character_name(tmp_path):
    bundle = make_bundle(tmp_path / "b", cell="gru", features=3, hidden=4, out=2)
    (tmp_path / "x.csv").write_text("1,2,3\n4,5,6\n")
    out = tmp_path / ("o" * 246 + ".csv")
    args = ["run", str(bundle), str(tmp_path / "x.csv"), "--variant", "fp32"]
    printed = CliRunner().invoke(cli, args)
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert printed.exit_code == 0 and result.exit_code == 0, result.output
    assert out.read_text() == printed.stdout  # the same table, one row per step
    assert out.read_text().splitlines()[0] == "step,y_0,y_1" and len(out.read_text().splitlines()) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["b", "x.csv", out.name])
