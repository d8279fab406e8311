"""The core keeps one door to the disk (DESIGN §1, STYLE "One door to the disk").

Method: parse every module of `kevy_persist/` with `ast` and collect its imports; only the
modules listed in `SANCTIONED` may import the operating-system modules, and only the ones
named for them.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

CORE = pathlib.Path(__file__).resolve().parent.parent / "kevy_persist"
FORBIDDEN = {"os", "time", "random", "socket", "threading", "shutil", "tempfile", "io", "subprocess"}
SANCTIONED = {
    "fs_os.py": {"os"},
    "clock.py": {"time"},
    # The embedded store's runtime owns threads, the wall clock and the random source.
    "runtime.py": {"threading", "time", "random"},
}


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
    allowed = SANCTIONED.get(module.name, set()) if module.parent == CORE else set()
    offending = (imported_top_level_modules(module) & FORBIDDEN) - allowed
    assert not offending, f"{module.name} imports {sorted(offending)}: go through FileSystem/Clock"
    if module.name != "fs_os.py":
        assert not uses_builtin_open(module), f"{module.name} calls open(): use the FileSystem"


def test_architecture_check_sees_a_violation(tmp_path: pathlib.Path) -> None:
    """The checker itself can fail: a module importing os is caught."""
    sample = tmp_path / "leaky.py"
    sample.write_text("import os.path\nfrom time import sleep\n")
    assert imported_top_level_modules(sample) & FORBIDDEN == {"os", "time"}
