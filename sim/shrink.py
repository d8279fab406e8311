"""Shrinking: the fewest operations that still make a sweep fail.

Method: delta debugging over the workload's operation list. Starting from every operation,
try dropping chunks (halves, quarters, ... single operations); keep a drop whenever the sweep
of the remaining operations (same workload, profile, seed, fault kind; stopping at the first
violation) still reports one. The result is 1-minimal: dropping any single remaining
operation makes the failure go away. Operations keep their original values (INCR stays INCR
of the same key), so the shrunk history is a sub-sequence of the original.
"""

from __future__ import annotations

import attrs

from .explorer import SweepConfig, SweepResult, selected_operations, sweep
from .workloads import workload_named


def _failing(config: SweepConfig, keep: list[int]) -> SweepResult | None:
    result = sweep(attrs.evolve(config, keep=tuple(keep), stop_at_first=True))
    return result if result.violation_count else None


def shrink(config: SweepConfig) -> tuple[SweepConfig, SweepResult] | None:
    """The smallest failing configuration found (with `keep` set) and its first violation,
    or None when the full configuration does not fail."""
    count = len(selected_operations(workload_named(config.workload), attrs.evolve(config, keep=None)))
    keep = list(range(count)) if config.keep is None else list(config.keep)
    last = _failing(config, keep)
    if last is None:
        return None
    chunk = max(1, len(keep) // 2)
    while chunk >= 1:
        start = 0
        while start < len(keep):
            candidate = keep[:start] + keep[start + chunk:]
            found = _failing(config, candidate)
            if found is not None:
                keep, last = candidate, found
            else:
                start += chunk
        chunk //= 2
    return attrs.evolve(config, keep=tuple(keep), stop_at_first=False), last
