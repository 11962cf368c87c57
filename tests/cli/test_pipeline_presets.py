"""Every bundled preset goes through `edgernn pipeline` end to end with its default settings (slow)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

from edgernn.cli import cli  # noqa: E402
from edgernn.runtime.bundle import Bundle  # noqa: E402
from edgernn.train.datasets import BUNDLED  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_pipeline_on_every_bundled_preset(tmp_path, name):
    out = tmp_path / name
    result = CliRunner().invoke(
        cli, ["pipeline", "--dataset", name, "--profile-iters", "5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    streams = Bundle.load(out / "bundle").manifest.streamable
    modes = {t["mode"] for t in summary["timing"]}
    assert modes == ({"sequence", "stream"} if streams else {"sequence"})
    assert ("streaming stages skipped" in result.output) == (not streams)
    assert all(v["stream_ok"] == streams or not streams for v in summary["variants"].values())
    assert (out / "report.md").read_text().startswith("# edgernn run report\n\n**Verdict: ")
    assert not summary["verdict"], summary["verdict"]  # the presets beat their naive baselines
