"""The README and the docs site: short README, links that resolve, a benchmarks page that is what
its generator renders from the committed results, and a results schema the generator can read."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

LINK = re.compile(r"\]\(([^)\s]+)\)")


def load_generator(repo_root: Path):
    spec = importlib.util.spec_from_file_location("gen_benchmarks", repo_root / "docs" / "gen_benchmarks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_short_and_keeps_its_quickstart(repo_root: Path):
    lines = (repo_root / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200
    assert "<!-- quickstart: .ci/run executes these two commands verbatim -->" in lines
    assert "<!-- /quickstart -->" in lines


def test_relative_links_resolve(repo_root: Path):
    pages = [repo_root / "README.md", *sorted((repo_root / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(repo_root)} -> {target}")
    assert broken == []


def test_benchmarks_page_is_generated_from_the_committed_results(repo_root: Path):
    gen = load_generator(repo_root)
    page = (repo_root / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert page == gen.render(), "docs/benchmarks.md is stale: run python docs/gen_benchmarks.py"


def test_generator_states_median_range_and_context(tmp_path: Path, repo_root: Path):
    gen = load_generator(repo_root)
    base = {
        "schema": 1,
        "benchmark": "overhead",
        "command": "python benchmarks/overhead.py",
        "smoke": False,
        "verdict": "ok",
        "machine": {"cpu_model": "Test CPU", "cores": 2, "usable_cores": 2, "load_1min": 1.0, "os": "x"},
        "versions": {"python": "3.11", "torch": "2.13", "onnxruntime": "1.32", "numpy": "2.4"},
    }
    for i, value in enumerate((1.02, 1.08, 1.12)):  # median 1.08, range 1.02-1.12, two of three met
        metric = {"name": "step ratio", "value": value, "unit": "x", "target": "<= 1.1", "ok": value <= 1.1}
        record = {**base, "date": f"2026-01-0{i + 1}T00:00:00Z", "metrics": [metric]}
        (tmp_path / f"overhead-{i}.json").write_text(json.dumps(record))
    smoke = {**base, "smoke": True, "date": "2026-01-04T00:00:00Z", "metrics": [{**metric, "value": 9.0}]}
    (tmp_path / "overhead-smoke.json").write_text(json.dumps(smoke))
    text = gen.render(tmp_path)
    assert "| step ratio | 1.08x (1.02-1.12) | <= 1.1 | 2 of 3 |" in text
    assert "3 runs, 2026-01-01 00:00 to 2026-01-03 00:00 UTC" in text
    assert "Test CPU, 2 usable cores" in text and "torch 2.13, onnxruntime 1.32, numpy 2.4" in text
    assert "9.00x" not in text  # smoke runs are never stated


def test_readme_runtime_example_runs(repo_root: Path, tmp_path: Path, monkeypatch):
    import numpy as np
    from _runtime_models import make_bundle

    text = (repo_root / "README.md").read_text(encoding="utf-8")
    section = text.split("## Run it on the device", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    make_bundle(tmp_path / "bundle", layers=2, hidden=8)
    monkeypatch.chdir(tmp_path)
    features = json.loads((tmp_path / "bundle" / "manifest.json").read_text())["input"]["features"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, features)).astype(np.float32)
    namespace = {"x": x, "frames": list(x[:1].transpose(1, 0, 2))}  # 5 steps of [1, features]
    exec(compile(block, "README.md", "exec"), namespace)
    assert np.allclose(namespace["y_t"], namespace["y"][0, -1], atol=1e-5)  # streamed == whole sequence
