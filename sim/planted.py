"""Planted bugs: test-only variants of the core, to show a sweep's oracle catches each one.

What it models. A `Mutant` is one textual change to one function of `kevy_persist` (a sync
removed, an acknowledgement moved before its sync, a check skipped) and the sweeps expected
to catch it. Two ways to plant one:
- `planted(mutant)` (in process, for regression tests): the patched source of the one
  function that contains the change is compiled against the module's own globals and swapped
  in -- on the module, on its class, and wherever another module imported it by name -- then
  restored on exit. Classes, enums and every other object stay the originals, so nothing
  else changes identity.
- `python -m sim mutate` (`sim.mutate`) writes the patched file into a scratch copy of the
  tree and runs the sweeps there in a child process, so the checkout is never touched.
A mutant whose `old` text is not found exactly once is an error (the catalogue has drifted
from the code), never a silent pass.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import sys
import textwrap
import types
from collections.abc import Iterator

import attrs


@attrs.frozen
class Sweep:
    """One sweep that should catch a mutant (the arguments of `python -m sim sweep`)."""

    workload: str
    profile: str = "strict"
    fault: str | None = None
    cap: int = 64
    samples: int = 16
    nested_cap: int = 8
    nested_samples: int = 4
    resume: bool = False  # write after each recovery and crash again (sim.resume)

    def label(self) -> str:
        fault = f" --fault {self.fault}" if self.fault else ""
        resume = " --resume" if self.resume else ""
        return f"--workload {self.workload} --profile {self.profile}{fault}{resume}"


@attrs.frozen
class Mutant:
    name: str
    module: str  # dotted name of the module holding the change
    old: str  # the exact text replaced (must occur once)
    new: str
    description: str
    sweeps: tuple[Sweep, ...]


def patched_source(mutant: Mutant, source: str) -> str:
    count = source.count(mutant.old)
    if count != 1:
        raise ValueError(f"mutant {mutant.name}: its text occurs {count} times in {mutant.module}")
    return source.replace(mutant.old, mutant.new)


def _enclosing_function(tree: ast.Module, line: int) -> list[str]:
    """The qualified name path (class, function) of the innermost function holding `line`."""
    best: list[str] = []

    def visit(node: ast.AST, path: list[str]) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = [*path, child.name]
                if child.lineno <= line <= (child.end_lineno or child.lineno):
                    if not isinstance(child, ast.ClassDef):
                        best = inner
                    visit(child, inner)

    visit(tree, [])
    return best


def _function_node(tree: ast.Module, path: list[str]) -> ast.AST:
    node: ast.AST = tree
    for name in path:
        node = next(child for child in ast.iter_child_nodes(node)
                    if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child.name == name)
    return node


@contextlib.contextmanager
def planted(mutant: Mutant) -> Iterator[None]:
    """Run the block with `mutant`'s function swapped in (module docstring)."""
    module = importlib.import_module(mutant.module)
    source = inspect.getsource(module)
    patched = patched_source(mutant, source)
    line = source[: source.index(mutant.old)].count("\n") + 1
    path = _enclosing_function(ast.parse(source), line)
    assert path, f"mutant {mutant.name}: the change is not inside a function"
    node = _function_node(ast.parse(patched), path)
    function_source = textwrap.dedent(ast.get_source_segment(patched, node))
    padded = "\n" * (node.lineno - 1) + function_source  # keep line numbers for tracebacks
    namespace: dict = {}
    exec(compile(padded, module.__file__, "exec"), module.__dict__, namespace)  # noqa: S102
    owner: object = module
    for name in path[:-1]:
        owner = getattr(owner, name)
    original = inspect.getattr_static(owner, path[-1])
    replacement = namespace[path[-1]]
    if isinstance(original, (staticmethod, classmethod)):
        replacement = type(original)(replacement)
    swaps = [(owner, path[-1], original)]
    if owner is module:  # imported by name elsewhere: swap those references too
        for other in list(sys.modules.values()):
            if isinstance(other, types.ModuleType) and other is not module \
                    and (other.__name__ or "").startswith(("kevy_persist", "kevy_server", "sim")):
                for attribute, value in list(vars(other).items()):
                    if value is original:
                        swaps.append((other, attribute, original))
    try:
        for target, attribute, _ in swaps:
            setattr(target, attribute, replacement)
        yield
    finally:
        for target, attribute, value in swaps:
            setattr(target, attribute, value)
