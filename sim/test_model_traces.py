"""specs/model_check.py: the protocol models hold (and their broken variants fail with a
shortest counterexample), and the simulator's traces of the group commit, SAVE,
BGREWRITEAOF and re-shard are paths of their models.

Method: breadth-first model checking of each protocol and variant (states, depth, time in
the assertion messages); then every schedule the group-commit sweep enumerates (the first
200, fewest preemptions first) is recorded and its trace validated against the model; a
trace recorded with a race planted must fail validation. Then every workload that runs a
SAVE, a BGREWRITEAOF or a re-shard is recorded under four seeds and each run of the protocol
in it is mapped to model transitions (`sim.protocol_traces`) and followed on the model; a
trace recorded with a protocol bug planted must fail.
"""

from __future__ import annotations

import attrs
import pytest

from sim import protocol_traces
from sim.explorer import SweepConfig, record, selected_operations
from sim.interleavings import schedules_for
from sim.model_traces import load_models, validate
from sim.mutants import mutant_named
from sim.planted import Mutant, planted
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


# --------------------------------------------------------------------------- SAVE, rewrite, re-shard

SAVE_WORKLOADS = ("save-always", "save-no", "transactions-always", "transactions-everysec", "transactions-no",
                  "streams-always", "streams-no", "replica-full-sync-always")
REWRITE_WORKLOADS = ("background-always", "background-everysec", "background-no", "store-background-always",
                     "store-background-everysec", "store-background-no", "owned-background-always",
                     "owned-background-everysec")
# The re-shards with many files pending at once (a crash image per subset) are slower to
# follow: the exhaustive tier adds them.
RESHARD_WORKLOADS = ("reshard-grow-1-3", "reshard-kevyhash-slots", "reshard-slots-kevyhash",
                     "reshard-over-journal-2-3-4", "reshard-twice-1-3-2", "import-rdb-1-kevyhash",
                     "import-rdb-3-slots", "import-rdb-1-kevyhash-then-3")
RESHARD_SLOW = ("reshard-shrink-3-2", "reshard-2-4")
SEEDS = range(4)


def _recorded_steps(name: str, seed: int) -> list:
    workload = workload_named(name)
    config = SweepConfig(name, "strict", seed=seed)
    return record(workload, selected_operations(workload, config), config, None).steps


def _validate_all(validate, names, seeds=SEEDS) -> tuple[int, int]:
    """(traces, protocol runs) validated; fails on the first that is not a path of the model."""
    traces = runs = 0
    for name in names:
        for seed in seeds:
            count, problem = validate(_recorded_steps(name, seed))
            assert not problem, f"{name} seed {seed}: {problem}"
            traces, runs = traces + 1, runs + count
    return traces, runs


def test_every_simulated_save_trace_is_a_path_of_the_save_model():
    traces, runs = _validate_all(protocol_traces.validate_save, SAVE_WORKLOADS)
    print(f"SAVE: {runs} runs in {traces} traces validated")
    assert (traces, runs) == (32, 48)


def test_every_simulated_rewrite_trace_is_a_path_of_the_rewrite_model():
    traces, runs = _validate_all(protocol_traces.validate_rewrite, REWRITE_WORKLOADS)
    print(f"BGREWRITEAOF: {runs} runs in {traces} traces validated")
    assert (traces, runs) == (32, 64)


def test_every_simulated_reshard_trace_is_a_path_of_the_reshard_model():
    traces, runs = _validate_all(protocol_traces.validate_reshard, RESHARD_WORKLOADS)
    print(f"re-shard: {runs} runs in {traces} traces validated")
    assert (traces, runs) == (32, 44)


@pytest.mark.exhaustive
def test_every_simulated_reshard_trace_of_the_larger_layouts_is_a_path_of_the_model():
    traces, runs = _validate_all(protocol_traces.validate_reshard, RESHARD_SLOW)
    print(f"re-shard (larger layouts): {runs} runs in {traces} traces validated")
    assert traces == 8 and runs == 8


def _planted_problem(mutant, validate, name: str) -> str:
    with planted(mutant):
        return validate(_recorded_steps(name, 0))[1]


def test_a_save_that_installs_its_log_first_is_not_a_path_of_the_model():
    problem = _planted_problem(mutant_named("save-swaps-its-commit-points"), protocol_traces.validate_save,
                               "save-always")
    assert "no transition of the model" in problem, problem


def test_a_rewrite_commit_without_the_last_tee_copy_is_not_a_path_of_the_model():
    problem = _planted_problem(mutant_named("rewrite-commit-skips-the-last-tee"), protocol_traces.validate_rewrite,
                               "background-always")
    assert problem, "the planted rewrite validated"


def test_a_reshard_without_the_fsync_dir_before_its_journal_is_not_a_path_of_the_model():
    mutant = Mutant("reshard-no-fsync-dir-before-journal", "kevy_persist.reshard.reconcile",
                    "        tracker.advance(Phase.TEMPS_WRITTEN)\n        fs.fsync_dir(directory)\n",
                    "        tracker.advance(Phase.TEMPS_WRITTEN)\n", "the temps' fsync_dir removed", ())
    problem = _planted_problem(mutant, protocol_traces.validate_reshard, "reshard-grow-1-3")
    assert "no transition of the model" in problem, problem
