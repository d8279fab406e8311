"""The simulator's step traces, validated against the model checker's state machines.

What it checks. `specs/model_check.py` models the group commit as a state machine (records
appended, what the leader marked durable, the fsync in flight, the acknowledged prefix,
what the disk holds). Every recording of `group-commit-always` -- one per schedule -- is a
sequence of cuts; each cut projects to (records appended in the live log, acknowledged
prefix, records the disk holds durably), read from the frozen disk state with the oracle's
own framing walk (`sim.log_frames`) and from the history. The trace is a path of the model
when some run of the model passes through those projections in order, taking any number of
unobserved steps between two cuts (an fsync's start, a leader's mark) whose projections are
the cut's or the next one's. A trace that is not (an acknowledgement the model forbids, a
durable count no fsync explains) fails `validate`, so the model and the code cannot drift
apart silently.
"""

from __future__ import annotations

import importlib.util
import pathlib

from .disk import apply_effects, durable_namespace
from .log_frames import frames

_SPEC_PATH = pathlib.Path(__file__).resolve().parent.parent / "specs" / "model_check.py"


def load_models():
    spec = importlib.util.spec_from_file_location("model_check", _SPEC_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _records(data: bytes) -> int:
    return sum(1 for frame in frames(data) if not frame.marker)


def projection(state, freeze, log_path: str) -> tuple[int, int, int]:
    """(appended, acknowledged, durable) of one cut."""
    directory, _, name = log_path.rpartition("/")
    inode_number = durable_namespace(state).get(directory, {}).get(name)
    if inode_number is None:  # the log's name is not durable yet: find it among the pending
        inode_number = next((operation.inode for operation in state.pending_names
                             if operation.directory == directory and operation.target == name), None)
    if inode_number is None:
        return 0, freeze[0], 0
    inode = state.inodes[inode_number]
    live = apply_effects(inode.durable, inode.pending)
    return _records(live), freeze[0], _records(inode.durable)


def validate(cuts: list, log_path: str, records: int, models=None) -> str:
    """"" when the trace is a path of the group-commit model, else why not."""
    models = models or load_models()
    successors = models.group_commit_successors(records)

    def model_successors(state):
        *core, disk = state
        for label, (appended, marked, in_flight, acknowledged) in successors(tuple(core)):
            yield label, (appended, marked, in_flight, acknowledged, max(disk, core[2]) if label == "fsync-end" else disk)

    def project(state):
        return state[0], state[3], state[4]

    candidates = {(0, 0, -1, 0, 0)}
    previous = (0, 0, 0)
    for number, (_, state, freeze) in enumerate(cuts):
        observed = projection(state, freeze, log_path)
        allowed = {previous, observed}
        frontier, reached = list(candidates), set(candidates)
        while frontier:
            current = frontier.pop()
            for _, following in model_successors(current):
                if following not in reached and project(following) in allowed:
                    reached.add(following)
                    frontier.append(following)
        candidates = {state for state in reached if project(state) == observed}
        if not candidates:
            return f"cut {number}: {previous} -> {observed} (appended, acknowledged, durable) is no step of the model"
        previous = observed
    return ""
