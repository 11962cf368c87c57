"""Every bad input ends in one clear message and leaves nothing written.

CLI cases run ``edgernn`` through click's runner: exit 1 with exactly one ``error: ...`` line on
stderr (usage errors: exit 2 and one ``Error: ...`` line), nothing on stdout, no traceback. API
cases raise the case's EdgernnError subclass with a one-line message. Either way the message names
the file, field or input and what was expected, and no file in the case's folder appears, changes
or disappears (no temp file, no half-written bundle or run, no unpickled marker).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgernn.cli import cli

from .all_cases import CASES, Case
from .inputs import Base


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Base:
    return Base(tmp_path_factory.mktemp("good"))


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` (hidden ones included): sha256 of files, a tag for anything else."""
    seen = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            seen[rel] = f"link -> {path.readlink()}"
        elif path.is_file():
            seen[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            seen[rel] = "dir" if path.is_dir() else "other"
    return seen


def cli_message(args: list, exit_code: int) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert isinstance(result.exception, SystemExit), result.exception  # not an escaped exception
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    if exit_code == 1:
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        return lines[0]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    return errors[0]


def api_message(call, error: type[Exception]) -> str:
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert message and "\n" not in message, message
    return message


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_bad_input_ends_in_one_clear_message_and_writes_nothing(case: Case, base: Base, tmp_path: Path):
    if case.torch:
        pytest.importorskip("torch")
    work = tmp_path / "case"
    work.mkdir()
    call = case.build(work, base)
    before = snapshot(tmp_path)
    message = cli_message(call, case.exit_code) if isinstance(call, list) else api_message(call, case.error)
    for fragment in case.expect:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert snapshot(tmp_path) == before


def test_the_reliability_page_states_the_corpus_size(repo_root: Path):
    page = repo_root / "docs" / "reliability.md"
    assert f"**{len(CASES)} cases**" in page.read_text(encoding="utf-8")
