"""mkdocs hook: let mkdocstrings read edgernn's packages from the source tree.

setuptools maps ``edgernn`` to ``src/edgernn`` and each stage to a top-level folder
(``edgernn.runtime`` -> ``runtime/``, ...; ``[tool.setuptools.package-dir]`` in pyproject.toml), a
layout griffe cannot follow from one search path. This hook links the packages into one ``edgernn``
tree in a temporary folder (never in the repository) and puts that folder first on the python
handler's search paths, so the API pages document the code as checked out.

An API page holds a marker ``<!-- public-api: edgernn.runtime -->``; the hook replaces it with one
``::: ...`` block per name in that package's ``__all__`` (read from its ``__init__.py`` without
importing it; a lazily imported name points at the module that defines it), so the reference
lists exactly what a user imports.
"""

from __future__ import annotations

import ast
import re
import shutil
import tempfile
from pathlib import Path

from mkdocs.plugins import event_priority

ROOT = Path(__file__).resolve().parents[1]
_tree: Path | None = None


def package_dirs() -> dict[str, str]:
    """``{"edgernn": "src/edgernn", "edgernn.runtime": "runtime", ...}`` from pyproject.toml."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    table = text.split("[tool.setuptools.package-dir]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^"([\w.]+)"\s*=\s*"([^"]+)"', table, flags=re.MULTILINE))


def link_tree(dest: Path) -> Path:
    """Build ``dest/edgernn`` from symlinks that mirror the installed package layout; return ``dest``."""
    dirs = package_dirs()
    face = dest / "edgernn"
    face.mkdir(parents=True)
    for entry in (ROOT / dirs.pop("edgernn")).iterdir():
        if entry.name != "__pycache__":
            (face / entry.name).symlink_to(entry)
    for name, folder in dirs.items():
        (face / name.split(".", 1)[1]).symlink_to(ROOT / folder, target_is_directory=True)
    return dest


MARKER = re.compile(r"<!-- public-api: ([\w.]+) -->")


def public_names(package: str) -> list[tuple[str, str]]:
    """``(name, where griffe finds it)`` for each name in ``package.__all__``."""
    folder = package_dirs()[package]
    tree = ast.parse((ROOT / folder / "__init__.py").read_text(encoding="utf-8"))
    values: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and node.value is not None:
                    values[target.id] = node.value
    lazy = ast.literal_eval(values["_LAZY"]) if "_LAZY" in values else {}
    names = lazy if isinstance(values["__all__"], ast.Call) else ast.literal_eval(values["__all__"])
    where = {
        name: f"{package}{module}.{name}" if module.startswith(".") else module
        for name, module in lazy.items()
    }
    return [(name, where.get(name, f"{package}.{name}")) for name in sorted(names)]


def on_page_markdown(markdown, page, config, files):
    """Expand each public-api marker into mkdocstrings blocks."""

    def expand(match: re.Match) -> str:
        blocks = [
            f"::: {target}\n    options:\n      heading: {name}\n"
            for name, target in public_names(match.group(1))
        ]
        return "\n".join(blocks)

    return MARKER.sub(expand, markdown)


@event_priority(100)  # before mkdocstrings' own on_config, which creates the python handler
def on_config(config):
    """Put the linked tree first on mkdocstrings' python search paths."""
    global _tree
    _tree = link_tree(Path(tempfile.mkdtemp(prefix="edgernn-docs-")))
    handlers = config.plugins["mkdocstrings"].config.handlers
    python = handlers.setdefault("python", {})
    python["paths"] = [str(_tree), *python.get("paths", [])]
    return config


def on_shutdown():
    """Remove the temporary tree."""
    if _tree is not None:
        shutil.rmtree(_tree, ignore_errors=True)
