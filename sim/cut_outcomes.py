"""Per-cut verdicts of one sweep, without nesting: which outcomes each crash point allows.

A reading aid for the re-shard workloads (`tests/test_reshard_sweeps.py`): for every cut of
the run it lists (cut, (required, issued) at the cut, the verdict kinds of its images), so a
test can assert that cuts before the commit point discard and cuts after it roll forward.
"""

from __future__ import annotations

from collections import Counter

from sim.explorer import Explorer, SweepConfig, record, selected_operations
from sim.profiles import Limits, profile_named
from sim.workloads import workload_named


def cut_outcomes(workload_name: str, profile: str, *, seed: int = 0, limits=None) -> list[tuple[int, tuple[int, int], Counter]]:
    """Per cut of the run: (cut, (required, issued), top-level verdict kinds). No nesting."""
    workload = workload_named(workload_name)
    config = SweepConfig(workload_name, profile, seed=seed, limits=limits or Limits(64, 16), nested=False)
    operations = selected_operations(workload, config)
    checker = workload.checker(operations, bitflip=False)
    explorer = Explorer(workload, profile_named(profile), config)
    recording = record(workload, operations, config, None)
    images = explorer.images_for_cuts(recording.cuts, None)
    rows = []
    for cut_index, state, freeze in recording.cuts:
        kinds: Counter = Counter()
        for _, image in images[id(state)]:
            verdict = checker.check(explorer.recover_plain(image), freeze)
            kinds[verdict.kind if verdict.ok else f"VIOLATION:{verdict.kind}"] += 1
        rows.append((cut_index, freeze, kinds))
    return rows
