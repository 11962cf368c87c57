"""The runtime guide's stream batcher example (docs/runtime.md) runs as written, against a small
bundle named ``bundle``."""

from __future__ import annotations

import re

import numpy as np
from _runtime_models import make_bundle


def test_the_docs_batcher_example_runs(repo_root, tmp_path, monkeypatch):
    text = (repo_root / "docs" / "runtime.md").read_text(encoding="utf-8")
    block = re.search(
        r"<!-- batcher example.*?-->\n```python\n(.*?)```\n<!-- /batcher example -->", text, re.S
    )
    assert block is not None, "docs/runtime.md lost its batcher example"
    make_bundle(tmp_path / "bundle", layers=2, hidden=8)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block.group(1), "docs/runtime.md", "exec"), namespace)
    assert namespace["y0"].shape == (1, 2) and np.isfinite(namespace["y0"]).all()
    assert len(namespace["batcher"]) == 0  # every thread closed its handle
    assert all(h.steps == 101 for h in namespace["handles"])
