"""The house keeps its shape: one door to the disk, layers that only look down, no circles.

Method: parse every module of `kevy_persist/`, `kevy_server/` and `sim/` with `ast` and
collect every import -- at module level, inside functions and under `TYPE_CHECKING` alike,
since each is a dependency a reader has to hold in mind. Then:

- only the modules in `SANCTIONED` may import the operating-system modules (DESIGN §1);
- a module of `kevy_persist/` imports only its own layer and the layers below it, in the
  order of `LAYERS` (README, "Where things are");
- the core never imports the server or the simulator, the server never the simulator;
- no circle of imports among the modules of the three packages (a package's `__init__` counts
  as a module), and no module imports another's private (`_name`) names.

The checkers are tested on small made-up trees, so each can be seen to fail.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
CORE = REPOSITORY / "kevy_persist"
PACKAGES = ("kevy_persist", "kevy_server", "sim")
FORBIDDEN = {"os", "time", "random", "socket", "threading", "shutil", "tempfile", "io", "subprocess"}
SANCTIONED = {
    "disk/os_fs.py": {"os"},
    "disk/clock.py": {"time"},
    # The embedded store's runtime owns threads, the wall clock and the random source.
    "store/runtime.py": {"threading", "time", "random"},
    # The forked worker of background jobs: fork, pipe, waitpid (nothing else forks).
    "store/fork_worker.py": {"os"},
}
# kevy_persist's layers, bottom to top; the package's own __init__ stands above them all.
LAYERS = ("errors", "disk", "formats", "layout", "data", "commands", "engine", "reshard", "store", "tools")
TOP = len(LAYERS)
# Which other packages each package may import.
PACKAGE_MAY_IMPORT = {"kevy_persist": set(), "kevy_server": {"kevy_persist"}, "sim": {"kevy_persist"}}


# -- reading imports --------------------------------------------------------------------------


def module_name(root: pathlib.Path, path: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(root: pathlib.Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported_modules(root: pathlib.Path, path: pathlib.Path) -> set[str]:
    """Every module `path` imports (dotted, resolved against `root`): `from a import b`
    names `a.b` when that is a module, else `a`; relative imports are resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    own = module_name(root, path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _is_module(root, candidate) else target)
    return found


def private_names_imported(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module != "__future__"
        for alias in node.names
        if alias.name.startswith("_")
    ]


def import_graph(root: pathlib.Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """module -> the modules of `packages` it imports."""
    graph: dict[str, set[str]] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            graph[module_name(root, path)] = set()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            own = module_name(root, path)
            graph[own] = {name for name in imported_modules(root, path) if name in graph and name != own}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index_of[node] = low[node] = len(index_of)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index_of:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index_of[target])
        if low[node] == index_of[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index_of:
            visit(node)
    return found


def layer_of(module: str) -> int:
    """The layer of a `kevy_persist` module: its first component's place in LAYERS."""
    parts = module.split(".")
    if len(parts) == 1:
        return TOP  # kevy_persist/__init__.py, the package's face
    return LAYERS.index(parts[1])


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for source, targets in sorted(graph.items()):
        source_package = source.split(".")[0]
        for target in sorted(targets):
            target_package = target.split(".")[0]
            if target_package != source_package:
                if target_package not in PACKAGE_MAY_IMPORT.get(source_package, set()):
                    problems.append(f"{source} imports {target}: {source_package} may not import {target_package}")
                continue
            if source_package == "kevy_persist" and layer_of(target) > layer_of(source):
                problems.append(
                    f"{source} ({LAYERS[layer_of(source)]}) imports {target} "
                    f"({'the package root' if layer_of(target) == TOP else LAYERS[layer_of(target)]}), a higher layer"
                )
    return problems


# -- the door ---------------------------------------------------------------------------------


def imported_top_level_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def uses_builtin_open(path: pathlib.Path) -> bool:
    tree = ast.parse(path.read_text(), filename=str(path))
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open"
        for node in ast.walk(tree)
    )


CORE_MODULES = sorted(CORE.rglob("*.py"))


@pytest.mark.parametrize("module", CORE_MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_stays_behind_the_door(module: pathlib.Path) -> None:
    """Only sanctioned modules import os/time/random/socket/threading or call open()."""
    relative = module.relative_to(CORE).as_posix()
    offending = (imported_top_level_modules(module) & FORBIDDEN) - SANCTIONED.get(relative, set())
    assert not offending, f"{relative} imports {sorted(offending)}: go through FileSystem/Clock"
    if relative != "disk/os_fs.py":
        assert not uses_builtin_open(module), f"{relative} calls open(): use the FileSystem"


def test_architecture_check_sees_a_violation(tmp_path: pathlib.Path) -> None:
    """The checker itself can fail: a module importing os is caught."""
    sample = tmp_path / "leaky.py"
    sample.write_text("import os.path\nfrom time import sleep\n")
    assert imported_top_level_modules(sample) & FORBIDDEN == {"os", "time"}


def test_every_core_module_sits_in_a_named_layer() -> None:
    """A new folder must be placed in the layer order before it can hold code."""
    for path in CORE_MODULES:
        parts = path.relative_to(CORE).parts
        if parts == ("__init__.py",):
            continue  # the package's face, above every layer
        first = parts[0] if len(parts) > 1 else path.stem
        assert first in LAYERS, f"{path.relative_to(REPOSITORY)} is in no layer of {LAYERS}"


# -- layers and circles -----------------------------------------------------------------------


GRAPH = import_graph(REPOSITORY, PACKAGES)


def test_imports_only_look_down() -> None:
    """A lower layer never imports a higher one; the core imports neither server nor sim."""
    assert upward_imports(GRAPH) == []


def test_no_import_circles() -> None:
    """No two modules of kevy_persist, kevy_server or sim import each other, even indirectly."""
    assert circles(GRAPH) == []


def test_no_module_imports_private_names() -> None:
    """`from x import _y` reaches into another module's privates; give it a public name."""
    offending = {
        str(path.relative_to(REPOSITORY)): names
        for package in PACKAGES
        for path in sorted((REPOSITORY / package).rglob("*.py"))
        if (names := private_names_imported(path))
    }
    assert offending == {}


def _tree(tmp_path: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_layer_check_catches_an_upward_import(tmp_path: pathlib.Path) -> None:
    root = _tree(tmp_path, {
        "kevy_persist/__init__.py": "",
        "kevy_persist/disk/__init__.py": "",
        "kevy_persist/disk/fs.py": "def f():\n    from kevy_persist.engine import shard\n",
        "kevy_persist/engine/__init__.py": "",
        "kevy_persist/engine/shard.py": "from ..disk.fs import f\n",
    })
    problems = upward_imports(import_graph(root, ("kevy_persist",)))
    assert problems == ["kevy_persist.disk.fs (disk) imports kevy_persist.engine.shard (engine), a higher layer"]


def test_circle_check_catches_a_circle_through_type_checking(tmp_path: pathlib.Path) -> None:
    root = _tree(tmp_path, {
        "sim/__init__.py": "",
        "sim/a.py": "from sim.b import thing\n",
        "sim/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import other\n",
        "sim/c.py": "from . import a\n",
        "sim/d.py": "from sim import a\n",
    })
    assert circles(import_graph(root, ("sim",))) == [["sim.a", "sim.b", "sim.c"]]


def test_package_rule_catches_the_core_importing_the_server(tmp_path: pathlib.Path) -> None:
    root = _tree(tmp_path, {
        "kevy_persist/__init__.py": "",
        "kevy_persist/errors.py": "import kevy_server.cli\n",
        "kevy_server/__init__.py": "",
        "kevy_server/cli.py": "",
    })
    problems = upward_imports(import_graph(root, ("kevy_persist", "kevy_server")))
    assert problems == ["kevy_persist.errors imports kevy_server.cli: kevy_persist may not import kevy_server"]
