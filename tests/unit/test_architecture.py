"""The package's shape: imports run one way, and the model imports no pytest."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mu3e_checks"


def import_graph() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports (local imports too)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.startswith("mu3e_checks"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    deps.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("mu3e_checks")}
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def test_no_import_cycles_inside_the_package():
    graph = import_graph()
    assert len(graph) > 30
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


def test_renderers_and_the_model_never_import_the_hooks_or_pytest_plumbing():
    graph = import_graph()
    pure = [m for m in graph if m.startswith(("mu3e_checks.render", "mu3e_checks.model",
                                              "mu3e_checks.redact", "mu3e_checks.remedy",
                                              "mu3e_checks.knowledge"))]
    for module in pure:
        assert not graph[module] & {"mu3e_checks.run", "mu3e_checks.plugin",
                                    "mu3e_checks.outcome"}, module
        source = (PACKAGE.parent / (module.replace(".", "/") + ".py"))
        if not source.exists():
            source = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
        tree = ast.parse(source.read_text())
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                    for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                     if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
        assert "pytest" not in imported and "_pytest" not in imported, module
