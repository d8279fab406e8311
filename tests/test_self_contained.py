"""The suite carries everything it reads: no test or sweep names a path outside the repository.

Method: every string literal in the Python files of `tests/`, `sim/`, `specs/` and `bench/`
(read with `ast`, so comments and docstrings that mention the project's history do not
count) is checked for a way out of the checkout: a parent-directory step (`../`), an absolute
path under a home or work dir, or the project's `shared/` folder. Then the fixtures the
suite reads are checked to sit inside the repository. This is the cheap, automatic half of
"a fresh clone with nothing beside it passes"; the other half is running that clone.
"""

from __future__ import annotations

import ast
import pathlib
import re

from fixture_paths import FIXTURES_DIR

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
SCANNED = ("tests", "sim", "specs", "bench")
OUTSIDE = re.compile(r"(^|[\s\"'=:])\.\./|^/(work|home|root|Users)/|(^|/)shared/fixtures")


def _string_literals(path: pathlib.Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_source_string_points_outside_the_repository() -> None:
    offenders = []
    for folder in SCANNED:
        for path in sorted((REPOSITORY / folder).rglob("*.py")):
            for line, text in _string_literals(path):
                if OUTSIDE.search(text):
                    offenders.append(f"{path.relative_to(REPOSITORY)}:{line}: {text[:80]!r}")
    assert not offenders, "paths outside the repository:\n" + "\n".join(offenders)


def test_the_fixtures_live_inside_the_repository() -> None:
    assert FIXTURES_DIR.is_relative_to(REPOSITORY)
    data_dirs = [path for path in FIXTURES_DIR.iterdir() if path.is_dir()]
    assert len(data_dirs) >= 4, data_dirs
    for data_dir in data_dirs:
        assert (FIXTURES_DIR / f"{data_dir.name}.expected.json").is_file(), data_dir
