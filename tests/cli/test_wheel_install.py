"""The built wheel, installed without ``-e`` into a fresh venv, imports every package from the repo root.

The repository root must not shadow the installed package: a folder there named like an import path
(``edgernn/``) would be found first by ``python -c`` and by scripts run from the checkout, which only an
editable install hides. Here the wheel is built from a copy of the tree (nothing is written into the
checkout), installed with pip into a venv of its own (no downloads: its dependencies come from this
environment's site-packages through a ``.pth`` line, after the venv's own), and each package is imported
with the repository root as the working directory and its file checked to lie inside that venv.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("edgernn", "edgernn.runtime", "edgernn.train", "edgernn.export", "edgernn.profiling")
PACKAGES += ("edgernn.cli",)
_SKIP = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "runs", "site", "bundles", ".*_cache")
_REPORT = """
import importlib, json, sys
found = {}
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    found[name] = module.__file__
print(json.dumps({"files": found, "version": sys.modules["edgernn"].__version__, "path0": sys.path[0]}))
"""


def _build_wheel(tmp: Path) -> Path:
    source = tmp / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*_SKIP, ".hypothesis", ".pytest_cache"))
    out = tmp / "dist"
    build = "import sys; from setuptools import build_meta as b; print(b.build_wheel(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", build, str(out)], cwd=source, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return out / done.stdout.strip().splitlines()[-1]


def _fresh_venv(tmp: Path) -> tuple[Path, Path]:
    env = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # dependencies (numpy, onnxruntime, torch, ...) from this environment, searched after the venv's own
    (Path(purelib) / "deps-from-parent.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, Path(purelib)


def test_wheel_installs_and_imports_from_repo_root(tmp_path):
    wheel = _build_wheel(tmp_path)
    assert wheel.name.startswith("edgernn-") and wheel.suffix == ".whl"
    python, site = _fresh_venv(tmp_path)
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    install += ["--no-deps", "--no-index", "--no-compile", str(wheel)]
    done = subprocess.run(install, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not list(site.glob("__editable__*")), "the fresh venv must hold a normal install"

    run = subprocess.run(
        [python, "-c", _REPORT, *PACKAGES], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["path0"] == ""  # `python -c`: the working directory (the repo root) is searched first
    for name in PACKAGES:
        where = Path(report["files"][name]).resolve()
        assert where.is_relative_to(site.resolve()), f"{name} imported from {where}, not the fresh venv"
    assert wheel.name.startswith(f"edgernn-{report['version']}-")
    assert (python.parent / "edgernn").is_file()  # the console script
