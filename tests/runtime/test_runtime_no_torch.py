"""The runtime and ``edgernn run`` work in a process where torch, onnx and matplotlib cannot be imported,
and without onnxruntime the import fails naming the extra to install."""

from __future__ import annotations

import subprocess
import textwrap

import numpy as np
import pytest
from _runtime_models import make_bundle, ort_reference, zeros_state
from blocked_imports import run_blocked

HEAVY = ("torch", "onnx", "matplotlib")
CHECK_CLEAN = """
loaded = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
assert not loaded, f"heavy modules loaded: {loaded}"
"""


def run_python(code: str, blocked=HEAVY, *, then: str = "") -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter whose imports of ``blocked`` packages raise ImportError."""
    return run_blocked(f"HEAVY = {set(HEAVY)!r}\n" + textwrap.dedent(code) + then, blocked)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("notorch")
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.save(root / "x.npy", x)
    b = make_bundle(root / "b", cell="gru")
    ref = ort_reference(b / "model.onnx", {"x": x[None], **zeros_state("gru", 1)})[0]
    return root, b, ref


def test_the_hook_really_blocks():
    result = run_python("import torch")
    assert result.returncode != 0 and "blocked for this test: torch" in result.stderr


def test_whole_runtime_imports_and_runs_without_torch(bundle):
    root, b, ref = bundle
    code = f"""
    import importlib, pkgutil
    import numpy as np
    import edgernn.runtime as rt
    for info in pkgutil.iter_modules(rt.__path__):
        importlib.import_module("edgernn.runtime." + info.name)
    session = rt.Session.load({str(b)!r}, provider="cpu")
    x = np.load({str(root / "x.npy")!r})[None]
    y = session.run(x).output
    stream = session.stream()
    steps = np.stack([stream.step(x[:, t]).output for t in range(x.shape[1])], 1)
    np.save({str(root / "rt.npy")!r}, np.stack([y, steps]))
    """
    result = run_python(code, then=CHECK_CLEAN)
    assert result.returncode == 0, result.stderr
    y, steps = np.load(root / "rt.npy")
    np.testing.assert_allclose(y, ref, atol=1e-6)
    np.testing.assert_allclose(steps, ref, atol=1e-6)


def run_cli(args: list[str]) -> subprocess.CompletedProcess:
    """``edgernn ARGS`` through the console-script entry point, then check nothing heavy loaded."""
    code = f"""
    from edgernn.cli import main
    sys.argv = ["edgernn", *{args!r}]
    try:
        main()
    except SystemExit as done:
        code = done.code
    """
    return run_python(code, then=CHECK_CLEAN + "sys.exit(code)\n")


def test_edgernn_run_help_without_torch():
    result = run_cli(["run", "--help"])
    assert result.returncode == 0, result.stderr
    assert "Usage: edgernn run [OPTIONS] BUNDLE INPUT" in result.stdout


def test_edgernn_run_without_torch(bundle):
    root, b, ref = bundle
    out = root / "cli.npy"
    result = run_cli(["run", str(b), str(root / "x.npy"), "--out", str(out), "--provider", "cpu"])
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(out), ref, atol=1e-6)


def test_without_onnxruntime_the_error_names_the_extra():
    result = run_python(
        """
        try:
            import edgernn.runtime
        except ImportError as err:
            print(type(err).__name__, err)
        else:
            sys.exit("edgernn.runtime imported without onnxruntime")
        """,
        blocked=("onnxruntime", *HEAVY),
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.startswith("MissingDependencyError")
    assert "pip install 'edgernn[cpu]'" in result.stdout
