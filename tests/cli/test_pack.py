"""`edgernn pack`: platforms and their pip tags, a missing wheel, the shipped variants, --no-wheels, the
output folder rules; and (slow) a real pack for this machine installed offline into a fresh venv.

The fast tests replace the two network/build steps (building edgernn's wheel, pip) with fakes that
record what they were asked; the aarch64 check (.ci/aarch64) and the slow test run the real ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _runtime_models import make_bundle, ort_reference, rnn_model, zeros_state
from click.testing import CliRunner

from edgernn import __version__, pack_wheels
from edgernn.cli import cli
from edgernn.pack_wheels import PLATFORMS, Target
from edgernn.runtime import Session


def _fake_wheel(folder: Path, name: str, payload: int = 1000) -> Path:
    path = folder / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("payload.bin", b"\0" * payload)
    return path


@pytest.fixture
def fake_pip(monkeypatch):
    """edgernn's wheel and pip replaced: `pip download` writes two fake wheels and records its args."""
    calls: list[list[str]] = []

    def build(dest: Path) -> Path:
        return _fake_wheel(dest, f"edgernn-{__version__}-py3-none-any.whl")

    def pip(args: list[str], what: str) -> str:
        calls.append(args)
        if args[0] == "download":
            dest = Path(args[args.index("-d") + 1])
            _fake_wheel(
                dest, "numpy-2.4.6-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl", 5000
            )
            _fake_wheel(dest, "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl", 7000)
        return ""

    monkeypatch.setattr(pack_wheels, "build_own_wheel", build)
    monkeypatch.setattr(pack_wheels, "pip", pip)
    return calls


@pytest.fixture
def bundle(tmp_path):
    """fp32 + int8 (a second fp32 graph standing in: the pack only moves files) + eval data."""
    root = make_bundle(tmp_path / "b", extra={"model.int8.onnx": rnn_model(seed=9)})
    np.savez(root / "eval.npz", x=np.zeros((1, 2, 3), np.float32))
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"]["eval.npz"] = {"sha256": _sha(root / "eval.npz"), "size_bytes": 1, "role": "data"}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _sha(path: Path) -> str:
    from edgernn.runtime.fileio import sha256_file

    return sha256_file(path)


def _pack(*args) -> object:
    platform = [] if "--platform" in args else ["--platform", "linux-aarch64"]
    return CliRunner().invoke(cli, ["pack", *platform, *map(str, args)])


def test_each_platform_lists_every_tag_pip_needs():
    args = Target("linux-aarch64", "3.11").pip_args()
    tags = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert tags[0] == "manylinux_2_36_aarch64" and "manylinux_2_28_aarch64" in tags
    assert "manylinux_2_17_aarch64" in tags and "manylinux2014_aarch64" in tags and len(tags) == 21
    assert args[1:3] == ["--python-version", "3.11"] and args[args.index("--abi") + 1] == "cp311"
    assert Target("windows-amd64", "3.12").pip_args()[-2:] == ["--platform", "win_amd64"]
    assert set(PLATFORMS) == {
        "linux-aarch64",
        "linux-x86_64",
        "macos-arm64",
        "windows-amd64",
        "windows-arm64",
    }


def test_an_unknown_platform_is_one_line_naming_those_that_exist(bundle, tmp_path, fake_pip):
    result = _pack(bundle, "--platform", "linux-riscv64", "--out", tmp_path / "p")
    assert result.exit_code == 1 and not fake_pip and not (tmp_path / "p").exists()
    assert result.output == (
        "error: --platform linux-riscv64: no onnxruntime wheels for it; onnxruntime publishes wheels for: "
        "linux-aarch64, linux-x86_64, macos-arm64, windows-amd64, windows-arm64\n"
    )
    result = _pack(bundle, "--python", "three", "--out", tmp_path / "p")
    assert result.exit_code == 1 and "expected a CPython version such as 3.11" in result.output


def test_a_python_without_an_onnxruntime_wheel_names_the_pythons_that_have_one(bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(
        pack_wheels, "build_own_wheel", lambda d: _fake_wheel(d, f"edgernn-{__version__}-py3-none-any.whl")
    )

    def pip(args, what):  # the index has wheels for 3.12 and 3.13 only
        if args[0] == "download" or args[args.index("--python-version") + 1] not in ("3.12", "3.13"):
            raise pack_wheels.PackError(f"{what}: pip failed: No matching distribution found for onnxruntime")
        return ""

    monkeypatch.setattr(pack_wheels, "pip", pip)
    result = _pack(bundle, "--platform", "linux-aarch64", "--python", "3.9", "--out", tmp_path / "p")
    assert result.exit_code == 1 and not (tmp_path / "p").exists()
    version = pack_wheels.host_onnxruntime()
    assert result.output == (
        f"error: no onnxruntime {version} wheel for linux-aarch64 and Python 3.9; "
        "it has linux-aarch64 wheels for Python 3.12, 3.13\n"
    )


def test_pack_ships_the_asked_variant_with_a_manifest_the_runtime_loads(bundle, tmp_path, fake_pip):
    out = tmp_path / "p"
    result = _pack(bundle, "--variant", "int8", "--platform", "linux-aarch64", "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "bundle").iterdir()) == ["manifest.json", "model.int8.onnx"]
    assert sorted(p.name for p in (out / "wheels").iterdir()) == [
        f"edgernn-{__version__}-py3-none-any.whl",
        "numpy-2.4.6-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl",
        "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl",
    ]
    session = Session.load(out / "bundle", provider="cpu")
    assert session.variant == "int8" and session.describe()["variant_reason"].startswith("auto: int8")
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    want = ort_reference(bundle / "model.int8.onnx", {"x": x, **zeros_state("lstm", 2)})[0]
    np.testing.assert_allclose(session.run(x).output, want, rtol=1e-6, atol=1e-6)
    (download,) = [c for c in fake_pip if c[0] == "download"]
    own = [a for a in download if a.startswith("edgernn[cpu] @ file://")]
    assert len(own) == 1 and own[0].endswith(f"/wheels/edgernn-{__version__}-py3-none-any.whl")
    assert f"onnxruntime=={pack_wheels.host_onnxruntime()}" in download
    assert "manylinux_2_17_aarch64" in download and "cp311" in download
    assert "bundle      " in result.output and "installed" in result.output and "wheels" in result.output
    readme = (out / "README.md").read_text()
    assert "glibc >= 2.28" in readme and "`int8` variant" in readme


def test_auto_takes_the_reports_recommendation_else_the_runtimes_pick(bundle, tmp_path, fake_pip):
    result = _pack(bundle, "--no-wheels", "--out", tmp_path / "p1")
    assert result.exit_code == 0, result.output
    assert "packed int8 (the runtime's pick on the CPU" in result.output
    timing = [
        {"variant": v, "mode": m, "provider": "CPUExecutionProvider", "p50_ms": ms, "seq": 4}
        for v, m, ms in [("fp32", "sequence", 1.0), ("int8", "sequence", 0.5), ("fp32", "stream", 0.1), ("int8", "stream", 0.2)]
    ]  # fmt: skip
    metric = {"name": "rmse", "value": 1.0}
    variants = {v: {"metric": metric, "size_bytes": 100, "stream_ok": True} for v in ("fp32", "int8")}
    (bundle.parent / "summary.json").write_text(json.dumps({"variants": variants, "timing": timing}))
    result = _pack(bundle, "--no-wheels", "--out", tmp_path / "p2")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("packed int8, fp32 (the report's recommendation")
    shipped = json.loads((tmp_path / "p2" / "bundle" / "manifest.json").read_text())["files"]
    assert sorted(shipped) == ["model.int8.onnx", "model.onnx"]  # no eval data, no source
    result = _pack(bundle, "--variant", "fp16", "--no-wheels", "--out", tmp_path / "p3")
    assert result.exit_code == 1 and "fp16 has no CPU kernels" in result.output
    result = _pack(bundle, "--variant", "int8-static", "--no-wheels", "--out", tmp_path / "p3")
    assert result.output == "error: --variant int8-static: the bundle has fp32, int8; not int8-static\n"
    assert not (tmp_path / "p3").exists()


def test_no_wheels_ships_edgernns_wheel_and_installs_the_rest_online(bundle, tmp_path, fake_pip):
    out = tmp_path / "p"
    assert _pack(bundle, "--variant", "fp32", "--no-wheels", "--out", out).exit_code == 0
    assert [p.name for p in (out / "wheels").iterdir()] == [f"edgernn-{__version__}-py3-none-any.whl"]
    assert not [c for c in fake_pip if c[0] == "download"]
    install = (out / "install.sh").read_text()
    assert "--no-index" not in install and f'"onnxruntime=={pack_wheels.host_onnxruntime()}"' in install
    assert (out / "install.sh").stat().st_mode & 0o111
    assert sorted(p.name for p in (out / "bundle").iterdir()) == ["manifest.json", "model.onnx"]


def test_output_folder_rules(bundle, tmp_path, fake_pip):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    result = _pack(bundle, "--no-wheels", "--out", foreign)
    assert (
        result.exit_code == 1
        and "holds notes.txt, which pack did not write; nothing was written" in result.output
    )
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    (foreign / "notes.txt").unlink()
    (foreign / "README.md").write_text("mine")  # a name pack writes, but no pack marker
    result = _pack(bundle, "--no-wheels", "--out", foreign)
    assert result.exit_code == 1 and "is not an edgernn pack folder" in result.output
    result = _pack(bundle, "--no-wheels", "--out", bundle / "p")
    assert result.exit_code == 1 and "is inside the bundle" in result.output
    out = tmp_path / "p"
    assert _pack(bundle, "--variant", "fp32", "--no-wheels", "--out", out).exit_code == 0
    assert _pack(bundle, "--variant", "int8", "--no-wheels", "--out", out).exit_code == 0  # replaced
    assert sorted(p.name for p in (out / "bundle").iterdir()) == ["manifest.json", "model.int8.onnx"]
    (bundle / "model.int8.onnx").write_bytes(b"tampered")
    result = _pack(bundle, "--variant", "int8", "--no-wheels", "--out", tmp_path / "q")
    assert (
        result.exit_code == 1
        and "model.int8.onnx: sha256 mismatch; expected every shipped file" in result.output
    )
    assert not (tmp_path / "q").exists() and not list(tmp_path.glob(".q.*"))


@pytest.mark.slow
def test_a_real_pack_installs_offline_into_a_fresh_venv(bundle, tmp_path):
    """Real pip: this machine's platform and Python, then install.sh with no index (about a minute)."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    out = tmp_path / "p"
    result = _pack(
        bundle, "--platform", "linux-x86_64", "--python", python, "--variant", "fp32", "--out", out
    )
    assert result.exit_code == 0, result.output
    names = {p.name.split("-")[0].lower() for p in (out / "wheels").iterdir()}
    assert {"edgernn", "numpy", "onnxruntime", "click"} <= names and not names & {
        "torch",
        "onnx",
        "matplotlib",
    }
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHON": sys.executable,
        "PIP_CONFIG_FILE": "/dev/null",
        "HOME": str(tmp_path),
    }
    proc = subprocess.run([out / "install.sh", tmp_path / "venv"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "running the fp32 variant" in proc.stdout
    csv_in = tmp_path / "in.csv"
    csv_in.write_text("a,b,c\n" + "\n".join("0.5,-1,2" for _ in range(4)) + "\n")
    run = subprocess.run(
        [tmp_path / "venv/bin/edgernn", "run", out / "bundle", csv_in], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    got = np.array([[float(v) for v in line.split(",")[-2:]] for line in run.stdout.splitlines()[1:]])
    x = np.tile(np.array([0.5, -1, 2], np.float32), (1, 4, 1))
    want = ort_reference(bundle / "model.onnx", {"x": x, **zeros_state("lstm", 1)})[0][0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
