"""One pipeline at a time per output folder: the folder is claimed (a lock held for the whole run),
a second pipeline into it is refused in one line, and --overwrite checks every path before removing."""

from __future__ import annotations

import pytest

from edgernn.outdir import MARKER, claim
from edgernn.runtime.errors import InputError


def test_a_second_pipeline_into_a_claimed_folder_is_refused_and_removes_nothing(tmp_path):
    out = tmp_path / "p"
    with claim(out):
        (out / "summary.json").write_text("first")
        with (
            pytest.raises(InputError, match="another edgernn process is writing this folder now"),
            claim(out, overwrite=True),
        ):
            pass
        assert (out / "summary.json").read_text() == "first"
    with claim(out, overwrite=True):  # released at the end of the first run
        assert sorted(p.name for p in out.iterdir()) == [MARKER]


def test_overwrite_checks_every_path_before_removing_any(tmp_path):
    out = tmp_path / "p"
    with claim(out):
        (out / "run").mkdir()
        (out / "summary.json").write_text("{}")
    (tmp_path / "mine").mkdir()
    (out / "bundle").symlink_to(tmp_path / "mine")
    with (
        pytest.raises(InputError, match="bundle is a link; expected the folder a pipeline writes there"),
        claim(out, overwrite=True),
    ):
        pass
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "bundle", "run", "summary.json"]
