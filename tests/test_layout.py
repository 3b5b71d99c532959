"""The shape of the code base (ARCHITECTURE.md): layers that import downwards only, small modules, a short fit.

These read the source, not the behaviour: each fails when a change brings back
an import cycle, a module past 800 lines, a ``fit`` past 100 lines, an import
of another module's private name, or a heavy dependency in the core.
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import backprop
from backprop import training

SOURCE = Path(backprop.__file__).parent
#: The core imports only numpy (and the standard library).
CORE = {
    "_html",
    "activations",
    "callbacks",
    "checkpoints",
    "errors",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "network",
    "optimizers",
    "schedules",
    "step",
    "textbook",
    "training",
    "_buffers",
    "_fast",
    "_kernels",
    "_memory",
    "_threads",
    "_pool",
    "_passes",
    "_norms",
    "_validation",
    "attribution",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(SOURCE.rglob("*.py"))}


def top_level_imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """``(module, names)`` imported when the module is imported: not in functions, not under TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, list[str]]] = []

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.If | ast.Try | ast.With):
                for block in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, block, []):
                        visit(child.body if isinstance(child, ast.ExceptHandler) else [child])
            if isinstance(node, ast.Import):
                found.extend((alias.name, []) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                found.append((target, [alias.name for alias in node.names]))

    visit(tree.body)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, names in top_level_imports(name, path):
            if target in known:
                graph[name].add(target)
            # `from . import x` imports the submodule x.
            graph[name].update(f"{target}.{item}" for item in names if f"{target}.{item}" in known)
    for name in graph:
        # The packages a module sits in are imported before it anyway (`from . import _kernels`).
        graph[name] = {target for target in graph[name] if target != name and not name.startswith(target + ".")}
    return graph


def test_no_module_level_import_cycle() -> None:
    graph = import_graph()
    # A package's __init__ importing its own submodules is the package, not a cycle.
    for name in graph:
        graph[name] = {
            t for t in graph[name] if not (t.startswith(name + ".") and modules()[name].name == "__init__.py")
        }
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                walk(target, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node, [])
    assert not cycles, "import cycles: " + "; ".join(" → ".join(cycle) for cycle in cycles)


def test_no_module_is_over_800_lines() -> None:
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    assert {name: n for name, n in lengths.items() if n > 800} == {}


def test_fit_is_a_short_loop() -> None:
    lines, _ = inspect.getsourcelines(training.fit)
    assert len(lines) <= 100, len(lines)
    source = "".join(lines)
    # The loop and its two steps, as in Keras's fit/train_step.
    assert "compute_gradient" in source and "apply_gradient" in source


def test_no_module_imports_another_modules_private_names() -> None:
    known = modules()
    private = []
    for name, path in known.items():
        for target, names in top_level_imports(name, path) + _function_imports(name, path):
            if target.startswith("backprop"):
                # An internal module (backprop._kernels) belongs to the package: importing it is fine.
                private += [
                    f"{name}: {target}.{item}"
                    for item in names
                    if item.startswith("_") and item != "__version__" and f"{target}.{item}" not in known
                ]
    assert private == []


def _function_imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")
            base = base[: len(base) - node.level + 1]
            found.append((".".join(base + ([node.module] if node.module else [])), [a.name for a in node.names]))
    return found


def test_the_core_imports_only_numpy() -> None:
    outside = {}
    stdlib = set(sys.stdlib_module_names)
    for name in CORE:
        path = modules()[f"backprop.{name}"]
        third_party = {
            target.split(".")[0]
            for target, _ in top_level_imports(f"backprop.{name}", path)
            if not target.startswith("backprop") and target.split(".")[0] not in stdlib and target != "__future__"
        }
        if third_party - {"numpy"}:
            outside[name] = sorted(third_party - {"numpy"})
    assert outside == {}


def test_storage_does_not_import_the_network() -> None:
    graph = import_graph()
    for storage in ("backprop.files", "backprop.safetensors_format"):
        reached, todo = set(), [storage]
        while todo:
            node = todo.pop()
            for target in graph.get(node, ()):
                if target not in reached:
                    reached.add(target)
                    todo.append(target)
        assert "backprop.network" not in reached, storage


#: ARCHITECTURE.md's rows, from the bottom: a module imports only from its own row or the rows below.
ROWS = {
    "foundations": [
        "errors",
        "_validation",
        "_memory",
        "_buffers",
        "_terminal",
        "_kernels",
        "_pool",
        "_pool_kernels",
        "_threads",
        "_html",
        "metrics",
        "preprocessing",
    ],
    "the step": [
        "activations",
        "initializers",
        "step",
        "layers",
        "losses",
        "optimizers",
        "schedules",
        "network",
        "_passes",
        "_pass_kernels",
        "_fast",
        "_norms",
        "textbook",
    ],
    "storage": ["files", "safetensors_format", "rowfiles", "io"],
    "training": ["callbacks", "checkpoints", "training", "progress", "explain", "gradcheck", "attribution"],
    "data": ["tabular", "datasets", "_bundled_data", "dataframes"],
    "applications": [
        "",  # backprop/__init__.py
        "__main__",
        "pipeline",
        "pipeline_fit",
        "heads",
        "cli",
        "bench",
        "report",
        "plotting",
        "sklearn",
        "onnx",
        "distributed",
        "playground",
    ],
}


def row_of(module: str) -> int:
    """The row of ``backprop.x`` or ``backprop.x.y`` (a package's modules share its row)."""
    first = module.removeprefix("backprop").removeprefix(".").split(".")[0]
    for index, names in enumerate(ROWS.values()):
        if first in names:
            return index
    raise AssertionError(f"{module} is in no row of ARCHITECTURE.md's map: add it to ROWS and to the map")


def test_imports_go_downwards_only() -> None:
    upwards = [
        f"{source} ({list(ROWS)[row_of(source)]}) imports {target} ({list(ROWS)[row_of(target)]})"
        for source, targets in import_graph().items()
        for target in targets
        if row_of(target) > row_of(source)
    ]
    assert upwards == []
