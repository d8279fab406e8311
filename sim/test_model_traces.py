"""specs/model_check.py: the protocol models hold (and their broken variants fail with a
shortest counterexample), and the simulator's traces of the group commit are paths of the
model.

Method: breadth-first model checking of each protocol and variant (states, depth, time in
the assertion messages); then every schedule the group-commit sweep enumerates (the first
200, fewest preemptions first) is recorded and its trace validated against the model; a
trace recorded with a race planted must fail validation.
"""

from __future__ import annotations

import attrs
import pytest

from sim.explorer import SweepConfig, record
from sim.interleavings import schedules_for
from sim.model_traces import load_models, validate
from sim.mutants import mutant_named
from sim.planted import planted
from sim.workloads import workload_named

MODELS = load_models()


@pytest.mark.parametrize("name, run, should_hold", MODELS.ALL_CHECKS, ids=[entry[0] for entry in MODELS.ALL_CHECKS])
def test_each_protocol_model_holds_and_each_broken_variant_has_a_counterexample(name, run, should_hold):
    result = run()
    assert (result.counterexample is None) == should_hold, result.line()
    assert result.states > 1


def _traces(limit: int):
    workload = workload_named("group-commit-always")
    config = SweepConfig("group-commit-always", "strict", schedule_limit=limit, schedule_samples=2)
    operations = workload.operations(0)
    for schedule in schedules_for(workload, config):
        workload.schedule = schedule
        yield record(workload, operations, attrs.evolve(config), None)


def test_every_simulated_group_commit_trace_is_a_path_of_the_model():
    validated = 0
    for recording in _traces(200):
        problem = validate(recording.cuts, "/data/aof-0.aof", 4, MODELS)
        assert not problem, problem
        validated += 1
    assert validated == 202


def test_a_trace_of_a_planted_race_is_not_a_path_of_the_model():
    with planted(mutant_named("group-commit-covers-records-appended-during-fsync")):
        problems = [validate(recording.cuts, "/data/aof-0.aof", 4, MODELS) for recording in _traces(100)]
    assert any(problems)
