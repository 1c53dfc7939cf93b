"""The package's import graph: no cycle, and no import from a lower layer to a higher one
(domain → store → runtime clients → activities → workflows → registry → services →
worker / api / cli). Every import counts, including those inside functions and under
TYPE_CHECKING: a knot hidden from the interpreter is still a knot for a reader."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import jobdeck

PACKAGE = Path(jobdeck.__file__).parent

# The first matching prefix names a module's layer; lower layers never import higher ones.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "domain",
        [
            "jobdeck.domain",
            "jobdeck.errors",
            "jobdeck.config",
            "jobdeck.clock",
            "jobdeck.dataformats",
            "jobdeck.fine_tuning_models",
            "jobdeck.inputs",
            "jobdeck.logs",
            "jobdeck.redact",
            "jobdeck.tiktokens",
            "jobdeck.training",
            "jobdeck.fairness",
            "jobdeck.pipelines",
            "jobdeck.notifications.events",  # notifications' vocabulary (issue 15)
            "jobdeck.schedules",  # schedules' vocabulary: cron, definition (issue 15)
        ],
    ),
    ("store", ["jobdeck.store"]),
    (
        "runtime clients",
        [
            "jobdeck.runtime",
            "jobdeck.temporal",
            "jobdeck.tracing",  # OpenTelemetry, optional (issue 17)
            "jobdeck.dataset_files",
            "jobdeck.devserver",
            "jobdeck.events",
            "jobdeck.admin",
            "jobdeck.documents",
            "jobdeck.notifications",  # channels, signing, announce (issue 15)
            "jobdeck.outbound",  # SSRF-guarded, address-pinned HTTP and sockets
            "jobdeck.providers",  # provider calls within shared budgets (issue 16)
        ],
    ),
    ("activities", ["jobdeck.activities"]),
    ("workflows", ["jobdeck.workflows"]),
    ("registry", ["jobdeck.registry", "jobdeck.replay"]),
    ("services", ["jobdeck.services"]),
    (
        "entry points",
        ["jobdeck.worker", "jobdeck.api", "jobdeck.cli", "jobdeck.launcher", "jobdeck.watch"],
    ),
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue  # Alembic's scripts are loaded by path, not imported
        parts = ("jobdeck", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The package module an imported name lives in (`a.b.c` may be a name in `a.b`)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                names = [f"{base}.{alias.name}" for alias in node.names]
            for name in names:
                target = _resolve(name, modules) if name.startswith("jobdeck") else None
                if target is not None and target != module:
                    graph[module].add(target)
    return graph


def layer_of(module: str) -> int:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    if module in ("jobdeck", "jobdeck.__main__"):
        return len(LAYERS) - 1
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_the_check_sees_a_cycle_and_an_upward_import() -> None:
    """The checks can fail: a made-up graph with both faults is caught."""
    graph = {
        "jobdeck.store.jobs": {"jobdeck.activities.records"},
        "jobdeck.activities.records": {"jobdeck.store.jobs"},
    }
    assert cycles(graph) == [["jobdeck.activities.records", "jobdeck.store.jobs"]]
    assert layer_of("jobdeck.activities.records") > layer_of("jobdeck.store.jobs")
