"""The simulator's test tiers: `pytest sim/` runs the default sweeps; the exhaustive tier
(`@pytest.mark.exhaustive`) runs only when selected: `pytest -m exhaustive sim/`."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    if "exhaustive" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="exhaustive tier: run with `pytest -m exhaustive sim/`")
    for item in items:
        if "exhaustive" in item.keywords:
            item.add_marker(skip)
