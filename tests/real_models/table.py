"""Run the whole corpus (auto, then dynamo alone) and print docs/export-models.md's table.

PYTHONPATH=tests python -m real_models.table > /tmp/table.md
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from .corpus import ENTRIES
from .harness import check_entry


def main() -> int:
    print("| model | library | contract used | auto | dynamo alone | max diff | reason / exporter |")
    print("|---|---|---|---|---|---|---|")
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, entry in enumerate(ENTRIES):
            auto = check_entry(entry, Path(tmp) / f"a{i}", "auto")
            dyn = check_entry(entry, Path(tmp) / f"d{i}", "dynamo")
            bad += (not auto.ok) + (not dyn.ok)
            diff = max(auto.max_diff, dyn.max_diff)
            why = auto.detail if auto.outcome != "exported" else f"{auto.detail}; dynamo: {dyn.detail}"
            print(
                f"| {entry.name} | {entry.library} | {auto.contract or dyn.contract or '-'} | {auto.outcome} "
                f"| {dyn.outcome} | {diff:.2g} | {why[:300]} |",
                flush=True,
            )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
