"""The text files of a pack folder: ``install.sh`` (offline venv + pip) and ``README.md``, and the
size table ``edgernn pack`` prints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgernn.runtime.fileio import atomic_write_text

from ._version import __version__
from .pack_wheels import RUNTIME_EXTRA, host_onnxruntime

_MIB = 1024 * 1024
_MACHINES = {
    "linux-aarch64": "aarch64",
    "linux-x86_64": "x86_64",
    "macos-arm64": "arm64",
}  # uname -m on each Linux target

_INSTALL = r"""#!/bin/sh
# Install edgernn's runtime for this bundle from this folder: a venv, then pip from wheels/{index_note}.
# Usage: ./install.sh [VENV]     (VENV defaults to ./venv beside this script)
#        PYTHON=python{python} ./install.sh   (the interpreter that makes the venv; default python3)
# Made by `edgernn pack` {version} for {platform}, Python {python}.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${{1:-"$here/venv"}}
python=${{PYTHON:-python3}}
if ! have=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); then
  echo "error: $python did not run; expected Python {python} (set PYTHON=python{python})" >&2
  exit 1
fi
if [ "$have" != "{python}" ]; then
  echo "error: $python is Python $have; the wheels in $here/wheels are for Python {python} (set PYTHON=python{python})" >&2
  exit 1
fi
machine=$(uname -m)
if [ -n "{machine}" ] && [ "$machine" != "{machine}" ]; then
  echo "error: this machine is $machine; the wheels in $here/wheels are for {machine} ({platform})" >&2
  exit 1
fi
if ! "$python" -m venv "$venv"; then
  echo "error: $python could not make a venv in $venv (Debian, Raspberry Pi OS, Ubuntu: sudo apt install python3-venv)" >&2
  exit 1
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check {pip_flags} --find-links "$here/wheels" \
  "$here/wheels/{own_wheel}[{extra}]"{pins}
"$venv/bin/python" -c 'import sys; from edgernn.runtime import Session; print(Session.load(sys.argv[1]).describe()["choice"])' "$here/bundle"
echo "installed: $venv (run: $venv/bin/edgernn run $here/bundle INPUT.csv)"
"""

_README = """# {name}: edgernn pack for {platform}, Python {python}

Made by `edgernn pack` {version}. Ships the `{variants}` variant(s) of the bundle ({reason}).

| part | what | size |
|---|---|---|
{table}

## Install (offline{glibc_note})

```sh
./install.sh              # a venv in ./venv; pip reads only ./wheels{index_note}
PYTHON=python{python} ./install.sh /opt/edgernn-venv   # another interpreter or venv folder
```

## Run

```sh
./venv/bin/edgernn run bundle input.csv             # one whole sequence; CSV rows are time steps
./venv/bin/edgernn run bundle input.csv --stream    # one step per row, state carried
./venv/bin/python -m edgernn run bundle input.csv   # the same, without console scripts on PATH
```

```python
from edgernn.runtime import Session
session = Session.load("bundle", threads=1)      # threads: intra-op threads
result = session.run(x)                          # x: [batch, time, features] float32
stream = session.stream()                        # stream.step(x_t) per time step
```

Threads: a recurrent model steps through time one step after the other, so more threads help only
wide layers or batches; on a Raspberry Pi 4/5 start with `--threads 1` (one step per call) and
measure `--threads 2` and `4` for whole sequences.

## What was verified

`install.sh` ends by loading the bundle. edgernn's CI installs a pack for linux-aarch64 / Python 3.11
into Debian's arm64 Python under QEMU user-mode emulation (Cortex-A72) and checks `Session.run`, a
stream and `edgernn run` against x86-64 (fp32 within 1e-5 relative, int8 within the int8 variant's
own tolerance). No real board was used: emulation checks results, not speed.
"""


def _mib(size: int) -> str:
    return f"{size / _MIB:.1f} MiB" if size >= _MIB / 10 else f"{size / 1024:.1f} KiB"


def size_rows(result: Any) -> list[tuple[str, str, str]]:
    """(part, what, size) for the size table: the bundle, the wheels, and their installed estimate."""
    names = ", ".join(sorted(w.split("-")[0] for w in result.wheels))
    return [
        ("bundle", f"{', '.join(result.variants)} + manifest", _mib(result.bundle_bytes)),
        ("wheels", f"{len(result.wheels)}: {names}", _mib(result.wheel_bytes)),
        ("installed", "the wheels unpacked (estimate, without .pyc)", _mib(result.installed_bytes)),
    ]


def size_table(result: Any) -> str:
    """The size table as plain text, one row per line."""
    rows = [("part", "size", "what"), *[(p, s, w) for p, w, s in size_rows(result)]]
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{r[0]:<{width[0]}}  {r[1]:>{width[1]}}  {r[2]}" for r in rows)


def write_all(tmp: Path, config: Any, result: Any, name: str) -> None:
    """Write ``install.sh`` (executable) and ``README.md`` into the pack folder ``tmp``."""
    target = config.target
    own = next(w for w in result.wheels if w.startswith(f"edgernn-{__version__}-"))
    onnxruntime = host_onnxruntime()
    pins = f' "onnxruntime=={onnxruntime}"' if onnxruntime and not config.wheels else ""
    fields = dict(
        platform=target.platform,
        python=target.python,
        version=__version__,
        machine=_MACHINES.get(target.platform, ""),
        own_wheel=own,
        extra=RUNTIME_EXTRA,
        pip_flags="--no-index" if config.wheels else "",
        pins=pins,
        index_note=""
        if config.wheels
        else " and the package index (--no-wheels: only edgernn's wheel is here)",
    )
    atomic_write_text(
        tmp / "install.sh", _INSTALL.format(**fields).replace("  --find-links", " --find-links")
    )
    os.chmod(tmp / "install.sh", 0o755)
    table = "\n".join(f"| {p} | {w} | {s} |" for p, w, s in size_rows(result))
    glibc = f"; Linux with glibc >= {result.glibc}" if result.glibc else ""
    readme = _README.format(
        **fields,
        name=name,
        variants=", ".join(result.variants),
        reason=result.variant_reason,
        table=table,
        glibc_note=glibc,
    )
    if not config.wheels:
        readme = readme.replace("## Install (offline", "## Install (needs the package index")
    atomic_write_text(tmp / "README.md", readme)
