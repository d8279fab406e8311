"""specs/history_spec.py: every crash point of every action sequence recovers exactly the
acknowledged operations (Hypothesis), and a broken rule is caught (the spec can fail)."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from kevy_persist.engine import history

_PATH = pathlib.Path(__file__).resolve().parents[1] / "specs" / "history_spec.py"
_module_spec = importlib.util.spec_from_file_location("history_spec", _PATH)
history_spec = importlib.util.module_from_spec(_module_spec)
_module_spec.loader.exec_module(history_spec)

ACTIONS = st.lists(
    st.sampled_from(["append", "append", "save", "save-log-fails", "save-log-name-lost", "rewrite"]),
    min_size=1,
    max_size=12,
)


@settings(max_examples=400)
@given(ACTIONS, st.integers(0, 2))
def test_every_crash_point_recovers_exactly_the_acknowledged_operations(actions, crash_step):
    disk, acknowledged = history_spec.run(actions, crash_step)
    assert history_spec.plan_state(disk) == acknowledged, (actions, crash_step, disk)


def test_the_spec_catches_a_broken_rule(monkeypatch):
    """Replaying the whole log over the snapshot in the crash window (kevy 1.23's rule)
    applies operations twice, and the spec says so."""
    real = history.plan_replay

    def kevy_rule(snapshot_present, covered, log_present, identity):
        decision, plan, reason = real(snapshot_present, covered, log_present, identity)
        if plan is not None and plan.log_start_offset is not None:
            plan = attrs.evolve(plan, log_start_offset=None)
        return decision, plan, reason

    monkeypatch.setattr(history_spec, "plan_replay", kevy_rule)
    disk, acknowledged = history_spec.run(["append", "save", "append", "append", "save"], crash_step=1)
    assert history_spec.plan_state(disk) != acknowledged


@given(st.tuples(st.booleans(), st.booleans(), st.integers(0, 5), st.integers(0, 50), st.booleans(),
                 st.booleans(), st.integers(0, 5), st.booleans()))
def test_plans_are_self_consistent_for_every_input(arguments):
    assert history_spec.plan_is_self_consistent(*arguments)


def test_crosshair_finds_no_counterexample_to_the_history_contract():
    """Method: `crosshair check --analysis_kind=PEP316` on the spec, 2 s per condition."""
    completed = subprocess.run(
        [sys.executable, "-m", "crosshair", "check", "--analysis_kind=PEP316",
         "--per_condition_timeout=2", str(_PATH)],
        capture_output=True, text=True, timeout=300, cwd=str(_PATH.parents[1]),
    )
    assert "error:" not in completed.stdout, completed.stdout
    assert completed.returncode == 0, completed.stdout + completed.stderr
