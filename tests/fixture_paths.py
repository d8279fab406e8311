"""Where the kevy 1.23 fixtures live: `tests/fixtures/kevy-1.23/`, inside the repository.

The data dirs there were written by the Rust kevy 1.23 server (copied from the project's
shared fixtures), with their expected content; the suite carries them so that a fresh clone
with nothing beside it passes. Tests copy a fixture before opening it for writes.
"""

from __future__ import annotations

import pathlib

FIXTURES_DIR = pathlib.Path(__file__).resolve().parent / "fixtures" / "kevy-1.23"
assert (FIXTURES_DIR / "kevyhash-vectors.tsv").is_file(), f"fixtures missing at {FIXTURES_DIR}"
