"""The rules of the house (docs/design.md, issue 14), checked on reverie's import graph.

The graph is read statically with :mod:`ast` from ``src/reverie``: every ``import`` and
``from ... import`` anywhere in a module (function-level imports and ``TYPE_CHECKING`` blocks
too), relative imports resolved, ``from pkg import name`` counted as an import of the
submodule ``pkg.name`` where that is a module. Each rule is a function of such a graph,
returning its violations as ``(importer, imported)`` pairs (cycles as package lists), and
each is also fed a small made-up graph that breaks it, so a rule that stops catching
anything fails too.

Rules:
(a) no module outside a world's folder ``envs/<world>/`` imports that world (except the
    Sokoban-only commands in ``workflows/`` and ``cli/``; :data:`WORLD_EXCEPTIONS`);
(b) no import cycle between the packages of :data:`PACKAGES`;
(c) ``reverie.core`` imports nothing of reverie outside core;
(d) nothing imports ``reverie.cli`` (but ``reverie.__main__`` and cli itself), and no library
    package imports ``reverie.workflows``;
(e) ``reverie.envs`` imports no learner package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "reverie"
PACKAGES = ("core", "envs", "models", "data", "agents", "planning", "training", "evaluation", "workflows", "cli")
LEARNERS = ("agents", "models", "training", "planning", "evaluation", "data")
#: Per world, the modules outside its folder that may import it, and why.
WORLD_EXCEPTIONS = {
    "reverie.envs.sokoban": {
        "reverie.workflows": "Sokoban-only workflows: `reverie run`'s Sokoban preset, the levels demo",
        "reverie.cli": "Sokoban-only commands: levels, play",
    },
    "reverie.envs.minipacman": {"reverie.cli.play": "`reverie play minipacman` (terminal play)"},
}

Graph = dict[str, set[str]]


# -- reading the graph ---------------------------------------------------------------------

def module_names(src: Path, root: str = ROOT) -> dict[str, Path]:
    """Every module of the package ``root`` under ``src``: dotted name -> file."""
    modules = {}
    for path in sorted((src / root).rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from`` import names (relative ones resolved against ``module``)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, known: set[str], root: str = ROOT) -> set[str]:
    """The modules of ``root`` that ``module`` imports anywhere in its file."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path.name == "__init__.py", node)
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in known)
    return {name for name in found if name == root or name.startswith(root + ".")} - {module}


def import_graph(src: Path = SRC, root: str = ROOT) -> Graph:
    modules = module_names(src, root)
    return {name: imports_of(name, path, set(modules), root) for name, path in modules.items()}


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def package_of(module: str, root: str = ROOT) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == root and parts[1] in PACKAGES else None


def _edges(graph: Graph):
    for importer, imported in sorted(graph.items()):
        for target in sorted(imported):
            yield importer, target


# -- the rules ----------------------------------------------------------------------------

def worlds_of(graph: Graph) -> set[str]:
    """The world packages: ``reverie.envs.<world>`` that have modules of their own."""
    return {".".join(name.split(".")[:3]) for name in graph if name.startswith("reverie.envs.")
            and len(name.split(".")) > 3}


def world_leaks(graph: Graph, exceptions: dict[str, dict[str, str]] = WORLD_EXCEPTIONS) -> list[tuple[str, str]]:
    """(a) Imports of a world's modules from outside its folder and outside its listed exceptions."""
    leaks = []
    for world in sorted(worlds_of(graph)):
        allowed = exceptions.get(world, {})
        leaks += [(a, b) for a, b in _edges(graph) if within(b, world) and not within(a, world)
                  and not any(within(a, prefix) for prefix in allowed)]
    return sorted(leaks)


def package_cycles(graph: Graph) -> list[list[str]]:
    """(b) Groups of packages that import each other (strongly connected, more than one)."""
    edges: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for a, b in _edges(graph):
        pa, pb = package_of(a), package_of(b)
        if pa and pb and pa != pb:
            edges[pa].add(pb)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for package in PACKAGES:
        if package not in index:
            visit(package)
    return sorted(groups)


def cycle_edges(graph: Graph, group: list[str]) -> list[tuple[str, str]]:
    """The module imports that tie a cycle's packages together (for the failure message)."""
    return [(a, b) for a, b in _edges(graph)
            if package_of(a) in group and package_of(b) in group and package_of(a) != package_of(b)]


def core_imports(graph: Graph) -> list[tuple[str, str]]:
    """(c) What ``reverie.core`` imports of reverie outside core."""
    return [(a, b) for a, b in _edges(graph) if within(a, "reverie.core") and not within(b, "reverie.core")]


def shell_imports(graph: Graph) -> list[tuple[str, str]]:
    """(d) Imports of ``cli`` from outside it (but ``__main__``), and of ``workflows`` by a library package."""
    shells = ("reverie.cli", "reverie.workflows")
    return [(a, b) for a, b in _edges(graph)
            if (within(b, "reverie.cli") and not within(a, "reverie.cli") and a != "reverie.__main__")
            or (within(b, "reverie.workflows") and not any(within(a, s) for s in shells) and a != "reverie.__main__")]


def env_learner_imports(graph: Graph) -> list[tuple[str, str]]:
    """(e) Imports of a learner package from ``reverie.envs``."""
    return [(a, b) for a, b in _edges(graph)
            if within(a, "reverie.envs") and any(within(b, f"reverie.{p}") for p in LEARNERS)]


def _listing(pairs) -> str:
    return "\n".join(f"  {a} -> {b}" for a, b in pairs)


# -- the tree as it is --------------------------------------------------------------------

@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph()


def test_the_graph_sees_the_package(graph):
    assert len(graph) > 50
    assert "reverie.envs.sokoban.rules" in graph["reverie.envs.sokoban.spec"]  # `from . import cells, rules`
    assert "reverie.envs.registry" in graph["reverie.envs.sokoban.spec"]      # `from ..registry import`


def test_no_world_module_outside_its_folder(graph):
    leaks = world_leaks(graph)
    assert not leaks, "modules outside envs/sokoban/ import Sokoban:\n" + _listing(leaks)


def test_no_cycle_between_packages(graph):
    cycles = package_cycles(graph)
    assert not cycles, "import cycles between packages:\n" + "\n".join(
        f"{' <-> '.join(group)}:\n{_listing(cycle_edges(graph, group))}" for group in cycles)


def test_core_imports_nothing_of_reverie(graph):
    found = core_imports(graph)
    assert not found, "reverie.core imports:\n" + _listing(found)


def test_nothing_imports_cli_or_workflows(graph):
    found = shell_imports(graph)
    assert not found, "library modules import cli/workflows:\n" + _listing(found)


def test_envs_import_no_learner(graph):
    found = env_learner_imports(graph)
    assert not found, "envs import learner packages:\n" + _listing(found)


# -- each rule catches a break ------------------------------------------------------------

def test_the_reader_resolves_relative_and_function_level_imports(tmp_path):
    pkg = tmp_path / "reverie"
    for folder in ("core", "envs/sokoban", "training"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from .core import errors\n")
    (pkg / "core" / "errors.py").write_text("class ReverieError(Exception): ...\n")
    (pkg / "envs" / "sokoban" / "__init__.py").write_text("from . import rules\n")
    (pkg / "envs" / "sokoban" / "rules.py").write_text("from ...core.errors import ReverieError\n")
    (pkg / "training" / "runs.py").write_text("def f():\n    from ..envs.sokoban.rules import step\n")
    graph = import_graph(tmp_path)
    assert graph["reverie"] == {"reverie.core", "reverie.core.errors"}
    assert graph["reverie.envs.sokoban"] == {"reverie.envs.sokoban.rules"}
    assert graph["reverie.envs.sokoban.rules"] == {"reverie.core.errors"}
    assert graph["reverie.training.runs"] == {"reverie.envs.sokoban.rules"}
    assert world_leaks(graph) == [("reverie.training.runs", "reverie.envs.sokoban.rules")]


def test_world_leaks_are_caught():
    graph = {"reverie.models.base": {"reverie.envs.sokoban.cells"},
             "reverie.envs.sokoban.spec": {"reverie.envs.sokoban.rules"},
             "reverie.envs.sokoban.rules": set(),
             "reverie.envs.minipacman.spec": {"reverie.envs.sokoban.render"},
             "reverie.workflows.pipeline": {"reverie.envs.sokoban.presets", "reverie.envs.minipacman.spec"},
             "reverie.envs.registry": set()}
    assert world_leaks(graph) == [("reverie.envs.minipacman.spec", "reverie.envs.sokoban.render"),
                                  ("reverie.models.base", "reverie.envs.sokoban.cells"),
                                  ("reverie.workflows.pipeline", "reverie.envs.minipacman.spec")]


def test_package_cycles_are_caught():
    graph = {"reverie.training.runs": {"reverie.evaluation.evaluate", "reverie.core.atomic"},
             "reverie.evaluation.evaluate": {"reverie.planning.mcts"},
             "reverie.planning.mcts": {"reverie.training.returns"},
             "reverie.training.returns": set(),
             "reverie.models.io": {"reverie.core.checkpoint"}}
    assert package_cycles(graph) == [["evaluation", "planning", "training"]]
    graph["reverie.planning.mcts"] = set()
    assert package_cycles(graph) == []


def test_core_imports_are_caught():
    graph = {"reverie.core.checkpoint": {"reverie.core.atomic", "reverie.training.runs"}}
    assert core_imports(graph) == [("reverie.core.checkpoint", "reverie.training.runs")]


def test_shell_imports_are_caught():
    graph = {"reverie.training.runs": {"reverie.cli.main"},
             "reverie.evaluation.report": {"reverie.workflows.pipeline"},
             "reverie.__main__": {"reverie.cli.main"},
             "reverie.cli.run": {"reverie.workflows.pipeline", "reverie.cli.main"},
             "reverie.workflows.control": {"reverie.workflows.pipeline"}}
    assert shell_imports(graph) == [("reverie.evaluation.report", "reverie.workflows.pipeline"),
                                    ("reverie.training.runs", "reverie.cli.main")]


def test_env_learner_imports_are_caught():
    graph = {"reverie.envs.sokoban.model": {"reverie.models.base", "reverie.envs.spec"},
             "reverie.envs.registry": {"reverie.core.errors"},
             "reverie.data.levels": {"reverie.envs.sokoban.bank"}}
    assert env_learner_imports(graph) == [("reverie.envs.sokoban.model", "reverie.models.base")]
