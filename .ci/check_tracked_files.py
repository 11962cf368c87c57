"""Fail when the git index holds an archive, a build product or a file over 1 MiB.

    python .ci/check_tracked_files.py [REPO]

reads every tracked file (``git ls-files``: the index, so a file staged for the next commit counts)
with its blob size from git, prints one line per offending file (path, what is wrong, the rule) and
exits 1; exits 0 with one summary line when all is well. Used three ways, one implementation: by CI
(``.ci/run``), by pre-commit (``.pre-commit-config.yaml``, a local hook) and by
``tests/cli/test_repo_hygiene.py``.

Rules:
- no archives or binaries anywhere (wheels, tarballs, zips, shared libraries, executables, packages);
- no file of 1 MiB or more anywhere;
- model weights and array dumps (``.onnx``, ``.npz``, ``.npy``, ``.pt``, ...) only under the small-data
  folders ``examples/data``, ``tests/data`` and ``train/data`` (the bundled datasets, each file listed
  with its source and licence in that folder's NOTICE.md where it is real data).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_BYTES = 1024 * 1024  # 1 MiB: no source, doc or data file of this project comes near it (largest ~50 KB)
DATA_DIRS = ("examples/data", "tests/data", "train/data")
# archives, packages and native binaries: never tracked (they belong to a registry or a build)
ARCHIVE_SUFFIXES = frozenset(
    ".whl .egg .zip .tar .tgz .tbz2 .txz .gz .bz2 .xz .zst .7z .rar .jar .war .so .dylib .dll .pyd .exe"
    " .msi .deb .rpm .apk .dmg .iso .a .o .lib .obj".split()
)
# weights and array dumps: allowed only in the small-data folders
DATA_SUFFIXES = frozenset(
    ".onnx .ort .npz .npy .pt .pth .ckpt .safetensors .bin .pkl .pickle .h5 .hdf5 .parquet .feather".split()
)

_VERSIONED_LIBRARY = re.compile(r"\.(so|dylib)(\.\d+)+$")  # libfoo.so.1.2


@dataclass(frozen=True)
class Problem:
    """One tracked file that breaks a rule."""

    path: str
    size_bytes: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason} ({self.size_bytes:,} bytes)"


class NotAGitCheckout(RuntimeError):
    """The folder is not inside a git work tree (an unpacked sdist, a copied tree) or git is missing."""


def tracked_sizes(repo: Path) -> dict[str, int]:
    """Every path in the git index of ``repo`` -> its blob size in bytes (what the next commit holds)."""
    try:
        listing = _git(repo, "ls-files", "-s", "-z")
    except OSError as error:  # no git on PATH
        raise NotAGitCheckout(f"git is not available ({error})") from error
    except subprocess.CalledProcessError as error:
        said = error.stderr.strip().splitlines()[-1] if error.stderr.strip() else f"exit {error.returncode}"
        raise NotAGitCheckout(f"{repo} is not a git checkout ({said})") from error
    entries = [line.split("\t", 1) for line in listing.split("\0") if line]
    # "<mode> <object> <stage>\t<path>"; a submodule (mode 160000) has no blob here
    blobs = [(meta.split()[1], path) for meta, path in entries if not meta.startswith("160000")]
    batch = "".join(f"{obj}\n" for obj, _ in blobs)
    sizes = _git(repo, "cat-file", "--batch-check=%(objectsize)", stdin=batch).split()
    return {path: int(size) for (_, path), size in zip(blobs, sizes, strict=True)}


def problems(sizes: dict[str, int]) -> list[Problem]:
    """The rule each tracked file breaks, if any (one problem per file, the most serious first)."""
    found = []
    for path, size in sorted(sizes.items()):
        reason = _reason(PurePosixPath(path), size)
        if reason:
            found.append(Problem(path, size, reason))
    return found


def _reason(path: PurePosixPath, size: int) -> str | None:
    suffix = path.suffix.lower()
    in_data = any(str(path).startswith(f"{folder}/") for folder in DATA_DIRS)
    if suffix in ARCHIVE_SUFFIXES or _VERSIONED_LIBRARY.search(path.name):
        return "an archive or binary; these come from a registry or a build, never from the repository"
    if size >= MAX_BYTES:
        return f"over the {MAX_BYTES // 1024} KiB limit for any tracked file"
    if suffix in DATA_SUFFIXES and not in_data:
        return f"weights or an array dump outside the small-data folders ({', '.join(DATA_DIRS)})"
    return None


def _git(repo: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True, check=True
    )
    return done.stdout


def main(argv: list[str]) -> int:
    """Check the repository at ``argv[0]`` (default: this script's repository); 1 when a file fails."""
    repo = Path(argv[0]) if argv else Path(__file__).resolve().parents[1]
    try:
        sizes = tracked_sizes(repo)
    except NotAGitCheckout as error:
        print(f"check_tracked_files: {error}", file=sys.stderr)
        return 1
    found = problems(sizes)
    for problem in found:
        print(problem, file=sys.stderr)
    if found:
        print(f"{len(found)} of {len(sizes)} tracked files break the repository rules above", file=sys.stderr)
        return 1
    largest = max(sizes, key=sizes.__getitem__, default="(none)")
    print(
        f"{len(sizes)} tracked files: no archives, none over 1 MiB (largest {largest}, {sizes.get(largest, 0):,} bytes)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
