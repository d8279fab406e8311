"""Planted bugs the issue names, each caught by a sweep's oracle (regression tests of the
simulator itself).

Method: plant the mutant in process (`sim.planted.planted`: one function swapped, restored
after), run its sweep, and require a violation the oracle found (not a crashed run) with a
replay line; the same sweep without the mutant is clean (`sim/test_door_faults.py`,
`sim/test_sweeps.py`). Replay one: the line in the assertion message, run with the mutant
planted (`python -m sim mutate --only NAME` prints it).
"""

from __future__ import annotations

import pytest

from sim.explorer import SweepConfig, sweep
from sim.mutants import CATALOGUE, mutant_named
from sim.planted import Sweep, planted
from sim.profiles import Limits
from sim.report import replay_line

ORACLE_KINDS = {"lost-acknowledged", "not-a-prefix", "layout-incomplete", "unknown-layout", "recovery-unstable",
                "lost-after-damage", "lost-before-damage", "quarantine-lost", "resume-lost-acknowledged",
                "resume-not-a-prefix"}


def sweep_config(spec: Sweep) -> SweepConfig:
    return SweepConfig(spec.workload, spec.profile, fault=spec.fault, limits=Limits(spec.cap, spec.samples),
                       nested_limits=Limits(spec.nested_cap, spec.nested_samples), resume=spec.resume)


def caught(mutant_name: str):
    mutant = mutant_named(mutant_name)
    with planted(mutant):
        for spec in mutant.sweeps:
            result = sweep(sweep_config(spec))
            if result.violation_count:
                return result
    return None


@pytest.mark.parametrize("name", ["reshard-abandon-no-fsync-dir", "scan-damage-is-always-a-torn-tail",
                                  "quarantine-not-made-durable", "open-does-not-finish-an-interrupted-save",
                                  "rewrite-commit-skips-the-last-tee"])
def test_planted_bug_is_caught_by_a_sweep_oracle(name):
    """Method: the mutant planted, its sweep finds a violation of an oracle kind."""
    result = caught(name)
    assert result is not None, f"mutant {name} survived its sweeps"
    violation = result.violations[0]
    assert violation.kind in ORACLE_KINDS or violation.kind.startswith("refused:"), violation
    print(replay_line(result.config, violation))


def test_planting_restores_the_original_function():
    """Method: after the block the module's function is the original object again."""
    import kevy_persist.reshard.fresh_install as fresh_install
    import kevy_persist.reshard.reconcile as reconcile

    before = reconcile.abandon_attempt
    with planted(mutant_named("reshard-abandon-no-fsync-dir")):
        assert reconcile.abandon_attempt is not before
        assert fresh_install.abandon_attempt is reconcile.abandon_attempt  # imported by name: swapped too
    assert reconcile.abandon_attempt is before and fresh_install.abandon_attempt is before


def test_every_catalogue_entry_matches_the_code_once():
    """The catalogue has not drifted: each mutant's text occurs exactly once in its module."""
    import importlib
    import inspect

    from sim.planted import patched_source

    for mutant in CATALOGUE:
        patched_source(mutant, inspect.getsource(importlib.import_module(mutant.module)))
