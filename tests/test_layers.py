"""One import order for the whole package, checked on the source with `ast` (lazy imports inside functions too).

A module may import modules of its own layer or of a lower one, never of a higher one, and no two modules may
import each other, directly or round a longer cycle. The package root (`distilkit/__init__.py`) is a lazy facade
above everything: no module imports it. To add a package, put its top-level name in `LAYERS`; a module of a
package that belongs higher than the rest of it is named on its own (`explain.command`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "distilkit"

# Lowest first. Names are top-level modules or subpackages of `distilkit`; a subpackage's modules share its layer.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "_version", "_extras", "_io", "limits", "constants"),
    # hub only turns "name or path" into local files; configuration and checkpoint resolve through it
    ("hub",),
    # model_registry: the Auto model registry/dispatch that the PyTorch (auto) and Keras (tf) Auto classes share
    ("configuration", "checkpoint", "model_registry"),
    ("tokenization", "modeling", "processors"),
    ("engine", "tf"),
    ("auto",),
    # convert sits here, not with the command-line tools: the default-model recipes build from it
    ("training", "convert"),
    # the embedded defaults are built by training; pipelines load them when `model=` is omitted
    ("models",),
    # attributions and attention over a model (errors, constants and modeling only): the task pipelines call it
    # for explain=True
    ("explain",),
    ("pipelines", "remote"),
    ("ray", "distributed", "serving"),
    # `distilkit explain` runs pipelines and default models, so it sits with the CLI, not with the rest of explain
    ("cli", "inspection", "demo", "explain.command"),
]
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: Path) -> set[str]:
    """Every distilkit module `name` imports anywhere in its body: `from . import x` resolves to the submodule
    `x` when there is one, else to the package itself."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:
                candidate = f"{origin}.{alias.name}"
                found.add(candidate if candidate in MODULES else origin)
    return {module for module in found if module == "distilkit" or module.startswith("distilkit.")}


def owner(module: str) -> str:
    """The unit named in `LAYERS` a module belongs to: `distilkit.models.recipes` -> `models`,
    `distilkit.explain.command` -> `explain.command`."""
    parts = module.split(".")[1:]
    for end in range(len(parts), 1, -1):
        if ".".join(parts[:end]) in LAYER_OF:
            return ".".join(parts[:end])
    return parts[0] if parts else ""


GRAPH = {name: imported_modules(name, path) for name, path in MODULES.items()}


def test_every_module_has_a_layer():
    unplaced = sorted({owner(name) for name in MODULES if name != "distilkit"} - set(LAYER_OF))
    assert not unplaced, f"add these to LAYERS in tests/test_layers.py: {unplaced}"


@pytest.mark.parametrize("name", sorted(name for name in MODULES if name != "distilkit"))
def test_imports_point_down(name):
    rank = LAYER_OF[owner(name)]
    upward = sorted(
        target for target in GRAPH[name]
        if target == "distilkit" or LAYER_OF.get(owner(target), -1) > rank
    )
    assert not upward, f"{name} (layer {LAYERS[rank]}) imports higher layers: {upward}"


def test_no_import_cycles():
    # a cycle between modules, or between two top-level units of one layer (e.g. hub <-> checkpoint)
    def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
        state: dict[str, int] = {}
        found: list[list[str]] = []

        def visit(node: str, trail: list[str]) -> None:
            state[node] = 1
            for target in sorted(graph.get(node, ())):
                if state.get(target) == 1:
                    found.append(trail[trail.index(target):] + [target])
                elif target not in state:
                    visit(target, [*trail, target])
            state[node] = 2

        for node in sorted(graph):
            if node not in state:
                visit(node, [node])
        return found

    module_graph = {name: {target for target in targets if target != name and not name.startswith(target + ".")
                           and target != "distilkit"}
                    for name, targets in GRAPH.items() if name != "distilkit"}
    unit_graph: dict[str, set[str]] = {}
    for name, targets in module_graph.items():
        unit_graph.setdefault(owner(name), set()).update(owner(target) for target in targets
                                                         if owner(target) != owner(name))
    assert not cycles(module_graph), f"import cycles between modules: {cycles(module_graph)}"
    assert not cycles(unit_graph), f"import cycles between packages: {cycles(unit_graph)}"


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    # the rules above would pass vacuously if the parser missed imports inside functions
    assert "distilkit.models.defaults" in GRAPH["distilkit.pipelines"] or \
        "distilkit.pipelines" in GRAPH["distilkit.models.defaults"]
    assert "distilkit.errors" in GRAPH["distilkit.configuration"]


def test_no_private_names_across_packages():
    """A module uses another top-level unit's public names only: `from x import _y` or `obj._method()` where
    `_method` is defined only in another unit means that unit lacks a public function."""
    trees = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}
    defined: dict[str, set[str]] = {}
    for name, tree in trees.items():
        defined.setdefault(owner(name), set()).update(
            node.name for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
        defined[owner(name)].update(  # names the unit assigns itself (`self._cache = ...`, `_registry = {}`)
            node.attr if isinstance(node, ast.Attribute) else node.id for node in ast.walk(tree)
            if isinstance(node, (ast.Attribute, ast.Name)) and isinstance(node.ctx, ast.Store))
    private_elsewhere = {unit: {function for other, names in defined.items() if other != unit for function in names
                                if function.startswith("_") and not function.startswith("__")} - names
                         for unit, names in defined.items()}
    offenders = []
    for name, tree in trees.items():
        package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in private_elsewhere[owner(name)]:
                offenders.append(f"{name}: .{node.attr}")
            if not isinstance(node, ast.ImportFrom):
                continue
            base = package.split(".")
            origin = (".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                      if node.level else node.module or "")
            if origin.startswith("distilkit") and owner(origin) != owner(name):
                offenders += [f"{name}: {origin}.{alias.name}" for alias in node.names
                              if alias.name.startswith("_") and not alias.name.startswith("__")
                              and f"{origin}.{alias.name}" not in MODULES]  # `from distilkit import _io` is fine
    assert not offenders, offenders
