"""The wheels of a pack folder: edgernn's own wheel, built from its source, and its runtime
dependencies for another platform and Python, downloaded with pip's platform options.

pip evaluates ``--platform`` literally: ``manylinux_2_28_aarch64`` does not imply the older manylinux
tags, so each is listed (FACTS.md, "aarch64 under QEMU"). Environment markers are evaluated against
this machine except ``python_version``, so a Windows target names click's ``colorama`` itself.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from edgernn.runtime.errors import EdgernnError, InputError

from ._version import __version__


class PackError(EdgernnError):
    """A pack folder could not be made: no wheel for the target, pip failed, no source to build from."""


def _manylinux(arch: str) -> tuple[str, ...]:
    """Every manylinux tag pip should accept for ``arch``, newest first (glibc 2.36 = Debian 12)."""
    return (*(f"manylinux_2_{minor}_{arch}" for minor in range(36, 16, -1)), f"manylinux2014_{arch}")


# The platforms onnxruntime publishes CPU wheels for (1.32: Python 3.11-3.14 on each), as pip tags.
PLATFORMS: dict[str, tuple[str, ...]] = {
    "linux-aarch64": _manylinux("aarch64"),
    "linux-x86_64": _manylinux("x86_64"),
    "macos-arm64": tuple(f"macosx_{major}_0_arm64" for major in range(15, 10, -1)),
    "windows-amd64": ("win_amd64",),
    "windows-arm64": ("win_arm64",),
}
PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")  # probed for the message when a wheel is missing
RUNTIME_EXTRA = "cpu"  # what a device installs: edgernn[cpu] = numpy, click, rich + onnxruntime
FORBIDDEN = ("torch", "onnx", "onnxscript", "matplotlib", "safetensors")  # never on a device
_PIP_ERROR = re.compile(r"^ERROR: (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Target:
    """Where the pack runs: a platform name of :data:`PLATFORMS` and a Python ``major.minor``."""

    platform: str
    python: str

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise InputError(
                f"--platform {self.platform}: no onnxruntime wheels for it; onnxruntime publishes wheels "
                f"for: {', '.join(PLATFORMS)}"
            )
        if not re.fullmatch(r"3\.\d{1,2}", self.python):
            raise InputError(f"--python {self.python}: expected a CPython version such as 3.11")

    @property
    def abi(self) -> str:
        """The CPython ABI tag, e.g. ``cp311``."""
        return "cp" + self.python.replace(".", "")

    def pip_args(self) -> list[str]:
        """pip's options that download for this target instead of this machine."""
        args = ["--only-binary=:all:", "--python-version", self.python, "--implementation", "cp"]
        args += ["--abi", self.abi, "--abi", "abi3", "--abi", "none"]
        for tag in PLATFORMS[self.platform]:
            args += ["--platform", tag]
        return args


def host_onnxruntime() -> str | None:
    """The onnxruntime version installed here (the one edgernn was tested with), if any."""
    try:
        return importlib.metadata.version("onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        return None


def source_root() -> Path:
    """The source tree edgernn is installed from (an editable or in-place install)."""
    here = Path(__file__).resolve().parent  # src/edgernn
    root = here.parent.parent
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file() or 'name = "edgernn"' not in pyproject.read_text(encoding="utf-8"):
        raise PackError(
            f"pack builds edgernn's wheel from its source tree; edgernn is installed at {here} with no "
            "pyproject.toml above it (install edgernn from a source checkout: pip install -e .)"
        )
    return root


def pip(args: list[str], what: str) -> str:
    """Run ``python -m pip ARGS``; :class:`PackError` with pip's own error line when it fails."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--disable-pip-version-check"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        errors = _PIP_ERROR.findall(proc.stderr) or (proc.stderr.strip().splitlines() or ["no output"])[-1:]
        raise PackError(f"{what}: pip failed: {' '.join(errors[0].split())[:300]}")
    return proc.stdout


def build_own_wheel(dest: Path) -> Path:
    """edgernn's wheel, built from a copy of its source tree (the tree itself is left untouched)."""
    root = source_root()
    with tempfile.TemporaryDirectory(prefix="edgernn-wheel-") as tmp:
        src = Path(tmp) / "src"
        ignore = shutil.ignore_patterns(
            ".*", "__pycache__", "*.egg-info", "build", "dist", "runs", "site", "bundles", "tests"
        )
        shutil.copytree(root, src, ignore=ignore)
        pip(
            ["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dest), str(src)],
            "building edgernn's wheel",
        )
    wheels = sorted(dest.glob(f"edgernn-{__version__}-*.whl"))
    if not wheels:
        raise PackError(f"building edgernn's wheel: pip wrote no edgernn-{__version__} wheel in {dest}")
    return wheels[0]


def download(target: Target, own_wheel: Path, dest: Path) -> list[Path]:
    """Download edgernn[cpu]'s dependencies for ``target`` into ``dest`` (beside ``own_wheel``)."""
    requirements = [f"edgernn[{RUNTIME_EXTRA}] @ {own_wheel.resolve().as_uri()}"]
    version = host_onnxruntime()
    if version:
        requirements.append(f"onnxruntime=={version}")  # the version this machine tested
    if target.platform.startswith("windows"):
        requirements.append("colorama")  # click's dependency on Windows (markers are read from this host)
    try:
        pip(["download", "-q", "-d", str(dest), *target.pip_args(), *requirements], "downloading wheels")
    except PackError as err:
        if not _has_onnxruntime(target, version):
            raise PackError(_missing(target, version)) from None
        raise PackError(f"{err} (for {target.platform}, Python {target.python})") from None
    wheels = sorted(dest.glob("*.whl"))
    bad = [w.name for w in wheels if w.name.split("-")[0].lower().replace("_", "-") in FORBIDDEN]
    if bad:
        raise PackError(
            f"downloading wheels: expected no torch/onnx/matplotlib on a device, pip fetched {bad}"
        )
    return wheels


def _has_onnxruntime(target: Target, version: str | None) -> bool:
    """Whether pip finds an onnxruntime wheel for ``target`` (metadata only: nothing is installed)."""
    spec = f"onnxruntime=={version}" if version else "onnxruntime"
    with tempfile.TemporaryDirectory(prefix="edgernn-probe-") as tmp:
        args = ["install", "--dry-run", "--no-deps", "-q", "--target", tmp, *target.pip_args(), spec]
        try:
            pip(args, "probing onnxruntime")
        except PackError:
            return False
    return True


def _missing(target: Target, version: str | None) -> str:
    """The one line for a target with no onnxruntime wheel: the Pythons that have one there."""
    which = f"onnxruntime {version}" if version else "onnxruntime"
    have = [
        p for p in PYTHONS if p != target.python and _has_onnxruntime(Target(target.platform, p), version)
    ]
    there = (
        f"it has {target.platform} wheels for Python {', '.join(have)}"
        if have
        else "pip found none for any Python"
    )
    return f"no {which} wheel for {target.platform} and Python {target.python}; {there}"


def installed_bytes(wheel: Path) -> int:
    """What a wheel takes once installed: the sum of its files' uncompressed sizes."""
    with zipfile.ZipFile(wheel) as zf:
        return sum(info.file_size for info in zf.infolist())


def glibc_floor(wheels: list[Path]) -> str | None:
    """The newest glibc that any of the Linux wheels needs (from their manylinux tags), e.g. ``2.28``."""
    floors = []
    for wheel in wheels:
        tags = [(int(a), int(b)) for a, b in re.findall(r"manylinux_(\d+)_(\d+)_", wheel.name)]
        tags += [(2, 17)] * ("manylinux2014" in wheel.name)
        if tags:
            floors.append(min(tags))  # a wheel runs where any of its tags holds
    if not floors:
        return None
    major, minor = max(floors)
    return f"{major}.{minor}"
