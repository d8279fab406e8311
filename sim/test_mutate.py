"""`python -m sim mutate`: a mutant planted in a scratch copy is killed by a sweep's oracle.

Method: `run_mutant` copies `kevy_persist/` and `sim/` to a scratch directory, patches the
mutant in there, runs its sweeps in a child Python importing the copy; the checkout's file is
unchanged afterwards. The default tier runs one cheap mutant; the whole catalogue plus one
mutant per sync site is `python -m sim mutate --all` (and the exhaustive test below).
"""

from __future__ import annotations

import pathlib

import pytest

from sim.mutants import mutant_named
from sim.mutate import format_table, mutants_for, run_mutant, sync_site_mutants


def test_a_mutant_planted_in_a_scratch_copy_is_killed_and_the_checkout_is_untouched():
    mutant = mutant_named("quarantine-not-made-durable")
    source = pathlib.Path("kevy_persist/engine/aof.py").read_text()
    result = run_mutant(mutant)
    assert pathlib.Path("kevy_persist/engine/aof.py").read_text() == source
    assert result.killed_by == "open-torn/strict" and result.kind == "quarantine-lost", result
    assert "killed: 1, survived: 0" in format_table([result])


def test_every_sync_line_of_the_core_becomes_a_mutant():
    names = [mutant.name for mutant in sync_site_mutants()]
    assert any("engine/aof.py" in name for name in names) and any("reshard/" in name for name in names)
    assert len(names) == len(set(names))


@pytest.mark.exhaustive
def test_every_mutant_is_killed_by_a_sweep():
    """Long (minutes): every catalogue mutant and every sync-site mutant."""
    results = [run_mutant(mutant) for mutant in mutants_for(True, None)]
    assert all(result.killed_by for result in results), format_table(results)
