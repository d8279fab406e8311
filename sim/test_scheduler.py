"""The deterministic scheduler: simulated threads, every interleaving up to a bound, the
group-commit races caught.

Method: `group-commit-always` (sim/workloads/group_commit.py) runs the store's real
`ShardRunner` and `GroupCommit` on two simulated writer threads; the explorer enumerates
every schedule with at most two preemptions (982 here) and samples eight more, cutting at
every step of each (door calls, lock operations, waits, notifies, the middle of each fsync).
Each race the issue names is planted (`sim/mutants.py`) and must be caught by the oracle,
with a replay line that reproduces it; the clean code has no violation; the same seed gives
the same run. Replay: `python -m sim replay --workload group-commit-always ... --schedule S`
with the mutant planted.
"""

from __future__ import annotations

import pytest

from sim.explorer import SweepConfig, replay, sweep
from sim.mutants import mutant_named
from sim.planted import planted
from sim.profiles import Limits
from sim.report import format_summary, replay_line
from sim.scheduler import Deadlock, Schedule, Scheduler, SimLock

WORKLOAD = "group-commit-always"


def test_group_commit_under_every_interleaving_up_to_two_preemptions_finds_no_violation():
    """Method: strict profile, all 982 schedules with at most two preemptions plus 8 sampled."""
    result = sweep(SweepConfig(WORKLOAD, "strict", limits=Limits(64, 16), nested_limits=Limits(8, 4)))
    assert result.violation_count == 0, format_summary(result)
    assert result.schedules >= 982


def test_group_commit_under_the_weakest_profile_finds_no_violation():
    """Method: weakest profile, the first 64 schedules (fewest preemptions first) and 8 samples."""
    result = sweep(SweepConfig(WORKLOAD, "weakest", limits=Limits(48, 12), nested_limits=Limits(8, 4),
                               schedule_limit=64))
    assert result.violation_count == 0, format_summary(result)


@pytest.mark.parametrize("fault", ["eio-fsync", "enospc-write"])
def test_group_commit_with_a_failing_door_call_finds_no_violation(fault):
    """Method: the fault at every injection point of the no-preemption schedule: waiters of
    a failed fsync get the error (not an acknowledgement) and nothing acknowledged is lost."""
    result = sweep(SweepConfig(WORKLOAD, "strict", fault=fault, limits=Limits(64, 16), nested_limits=Limits(8, 4)))
    assert result.violation_count == 0, format_summary(result)
    assert result.fault_runs > 0


@pytest.mark.parametrize("name", ["group-commit-leader-marks-durable-at-fsync-start",
                                  "group-commit-covers-records-appended-during-fsync"])
def test_a_planted_group_commit_race_is_caught_and_its_replay_line_reproduces_it(name):
    """Method: plant the race, sweep (stop at the first violation), then replay that exact case
    (its schedule included) with the race still planted: the same violation."""
    config = SweepConfig(WORKLOAD, "strict", limits=Limits(64, 16), nested_limits=Limits(8, 4),
                         schedule_samples=0, stop_at_first=True)
    with planted(mutant_named(name)):
        result = sweep(config)
        assert result.violation_count, f"{name} survived every schedule"
        violation = result.violations[0]
        assert violation.kind == "lost-acknowledged", violation
        print(replay_line(config, violation))
        import attrs

        replayed = replay(attrs.evolve(config, schedule=violation.schedule), violation.cut, violation.image)
        assert replayed.verdict.kind == violation.kind


def test_the_same_seed_gives_the_same_run():
    """Method: two sweeps with sampled schedules only; identical figures and outcomes."""
    config = SweepConfig(WORKLOAD, "strict", limits=Limits(16, 4), nested=False, schedule_limit=1,
                         schedule_samples=6, seed=3)
    first, second = sweep(config), sweep(config)
    assert (first.cuts, first.images_checked, first.outcomes) == (second.cuts, second.images_checked, second.outcomes)


def test_a_thread_runs_only_when_chosen_and_a_lock_cycle_is_a_deadlock():
    """The scheduler alone: the prefix picks the order; two threads taking two locks in
    opposite orders, switched at the wrong moment, end in `Deadlock`, not a hang."""
    order = []
    scheduler = Scheduler(Schedule((1,)))
    for name in ("a", "b"):
        scheduler.spawn(name, lambda name=name: (scheduler.switch("start"), order.append(name)))
    scheduler.run()
    assert order == ["b", "a"]

    scheduler = Scheduler(Schedule((0, 0, 1)))  # a takes `first`, then b runs and takes `second`
    first, second = SimLock(scheduler, "first"), SimLock(scheduler, "second")

    def taking(one, other):
        with one:
            with other:
                pass

    scheduler.spawn("a", lambda: taking(first, second))
    scheduler.spawn("b", lambda: taking(second, first))
    with pytest.raises(Deadlock):
        scheduler.run()
