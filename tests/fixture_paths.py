"""Where the kevy 1.23 fixtures live: `shared/fixtures/kevy-1.23/` beside the repository.

Looked up in order: `$KEVY_FIXTURES`, `<repo>/../shared/...` (how CI lays out a clone),
`/work/shared/...` (a developer machine). Missing fixtures fail the tests that need them
rather than skipping them: a compatibility suite that silently checks nothing is worse than
a red one.
"""

from __future__ import annotations

import os
import pathlib

_REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
_CANDIDATES = [
    os.environ.get("KEVY_FIXTURES"),
    str(_REPOSITORY.parent / "shared" / "fixtures" / "kevy-1.23"),
    "/work/shared/fixtures/kevy-1.23",
]


def _find() -> pathlib.Path:
    for candidate in _CANDIDATES:
        if candidate and pathlib.Path(candidate, "kevyhash-vectors.tsv").exists():
            return pathlib.Path(candidate)
    raise FileNotFoundError(f"kevy 1.23 fixtures not found; looked in {[c for c in _CANDIDATES if c]}")


FIXTURES_DIR = _find()
