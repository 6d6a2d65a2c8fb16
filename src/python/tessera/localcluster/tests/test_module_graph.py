"""The cluster's modules import one another in one direction only (type-only imports included): the add-ons take
`access.ClusterAccess`, never `cluster.LocalCluster`, which starts some of them."""

from __future__ import annotations

import ast
import graphlib
import pkgutil
from pathlib import Path

import tessera.localcluster as package

PREFIX = f"{package.__name__}."


def _imports(path: Path) -> set[str]:
    """The package's modules that `path` imports, at the top, inside functions or under TYPE_CHECKING."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == package.__name__:
                found |= {alias.name for alias in node.names}
            elif node.module.startswith(PREFIX):
                found.add(node.module.removeprefix(PREFIX).split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix(PREFIX).split(".")[0] for a in node.names if a.name.startswith(PREFIX)}
    return found


def test_the_cluster_modules_import_one_another_without_a_cycle() -> None:
    directory = Path(package.__file__).parent
    modules = [m.name for m in pkgutil.iter_modules([str(directory)]) if not m.ispkg]
    assert {"cluster", "addons", "mesh", "access"} <= set(modules), modules  # the sandbox holds the package
    graph = {name: _imports(directory / f"{name}.py") & set(modules) for name in modules}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError, naming the cycle
    assert "cluster" not in graph["addons"] | graph["mesh"], graph
