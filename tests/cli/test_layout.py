"""The plan of the tree, enforced: imports point one way, no cycles, short functions.

Read from the source with ``ast`` (module-level imports only: an import inside a function is a lazy
one, which is how the face and the profiler reach the heavy stages on demand).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FOLDERS = {"src/edgernn": "edgernn", "train": "edgernn.train", "export": "edgernn.export"}
FOLDERS.update({"runtime": "edgernn.runtime", "profiling": "edgernn.profiling"})
# the namespace root: version and the lazy-import helper, which every stage may read
ROOT_MODULES = {"edgernn", "edgernn._lazy", "edgernn._version"}
# stage -> the stages its modules may import at module level (besides itself and the root)
ALLOWED = {
    "face": {"train", "export", "profiling", "runtime"},
    "export": {"train", "runtime"},
    "profiling": {"runtime"},
    "train": {"runtime"},
    "runtime": set(),
    "root": set(),
}
HEAVY = ("torch", "onnx", "matplotlib", "onnxscript", "safetensors")
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


MODULES = _modules()


def _stage(module: str) -> str:
    if module in ROOT_MODULES:
        return "root"
    if module.endswith(".__main__"):  # `python -m edgernn.train` is the `edgernn train` command: the face
        return "face"
    if module.startswith("edgernn.") and module.split(".")[1] in ("train", "export", "runtime", "profiling"):
        return module.split(".")[1]
    return "face"


def _imports(module: str, path: Path) -> list[str]:
    """Module-level imports of ``module``, resolved to absolute names (``edgernn.x.y`` or third-party)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module
            names = [f"{target}.{a.name}" for a in node.names]
            found += [n for n in names if n in MODULES] or [target]
    return found  # imports under `if` (TYPE_CHECKING) are not counted


def _ours(name: str) -> str | None:
    """The module of ours that ``name`` names (or lies in), if any."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def test_the_layout_has_every_stage():
    stages = {_stage(m) for m in MODULES}
    assert stages == {"root", "face", "train", "export", "profiling", "runtime"}
    assert "edgernn.profiling.engine" in MODULES and "edgernn.pipeline" in MODULES
    assert not any(m.startswith(("edgernn.export.profile", "edgernn.export.pipeline")) for m in MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_one_way(module):
    stage = _stage(module)
    for name in _imports(module, MODULES[module]):
        target = _ours(name)
        if stage in ("runtime", "profiling") and name.split(".")[0] in HEAVY:
            pytest.fail(f"{module} imports {name} at module level; {stage} stays torch/onnx/matplotlib-free")
        if target is None:
            continue
        other = _stage(target)
        if other in (stage, "root"):
            continue
        assert other in ALLOWED[stage], f"{module} ({stage}) imports {target} ({other})"


# Lazy imports (inside a function) that go against ALLOWED on purpose: module -> the stages it may reach.
LAZY_ALLOWED = {"edgernn.profiling.torch_baseline": {"train"}}  # rebuilds a bundle's PyTorch source model


def _all_imports(module: str, path: Path) -> list[str]:
    """Every import of ``module``, lazy ones (inside functions) included, as absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            found += [f"{target}.{a.name}" for a in node.names]
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_lazy_imports_point_one_way_too(module):
    """No stage reaches the face, not even inside a function: the face wires stages, never the reverse."""
    stage = _stage(module)
    for name in _all_imports(module, MODULES[module]):
        target = _ours(name)
        if target is None or _stage(target) in (stage, "root"):
            continue
        other = _stage(target)
        allowed = ALLOWED[stage] | LAZY_ALLOWED.get(module, set())
        assert other in allowed, f"{module} ({stage}) imports {target} ({other}), lazily or not"


def test_no_import_cycles():
    graph = {m: {t for n in _imports(m, p) if (t := _ours(n)) and t != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(t) :] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_only_the_pytorch_baseline_reaches_train_from_the_profiler():
    for module, path in MODULES.items():
        if _stage(module) != "profiling":
            continue
        lazy = [
            n.module
            for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("edgernn.train")
        ]
        assert not lazy or module == "edgernn.profiling.torch_baseline", f"{module} imports {lazy}"


def test_functions_are_short():
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {lines} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_no_top_level_folder_shadows_the_standard_library_or_the_package():
    """From the repository root (``python -c``, scripts, CI) ``import profile`` must reach the standard
    library and ``import edgernn`` the installed package, so no top-level folder takes either name."""
    import sys

    names = {p.name for p in REPO.iterdir() if p.is_dir() or p.suffix == ".py"}
    names = {n.removesuffix(".py") for n in names}
    assert not names & set(sys.stdlib_module_names), names & set(sys.stdlib_module_names)
    assert "edgernn" not in names
