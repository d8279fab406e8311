"""The mutant catalogue: realistic durability bugs planted one at a time (`sim.planted`).

Each entry is a bug that once slipped, or could slip, past the sweeps -- a missing fsync or
fsync_dir, an acknowledgement before its sync, a check skipped -- with the sweeps expected
to catch it by their oracle (a lost acknowledged write, a hole, a refused recovery), never by
counting calls. `python -m sim mutate` plants every entry (or a sample) in a scratch copy and
reports which sweep killed it; `sim/test_planted.py` keeps the ones the issue names as
regression tests of the simulator, planted in process.
"""

from __future__ import annotations

from .planted import Mutant, Sweep

CATALOGUE: tuple[Mutant, ...] = (
    Mutant(
        "reshard-abandon-no-fsync-dir",
        "kevy_persist.reshard.reconcile",
        """            fs.remove(join(directory, RESHARD_JOURNAL_NAME))
            fs.fsync_dir(directory)""",
        """            fs.remove(join(directory, RESHARD_JOURNAL_NAME))""",
        "an abandoned re-shard removes its journal without an fsync_dir before removing the temps: "
        "after a failed commit fsync_dir that wrote the journal's name, a crash can keep the journal "
        "and lose the temps, and the next open rolls forward into missing files",
        (Sweep("reshard-grow-1-3", "weakest", "eio-fsync_dir", cap=16, samples=6, nested_cap=2, nested_samples=1),),
    ),
    Mutant(
        "scan-damage-is-always-a-torn-tail",
        "kevy_persist.formats.aof_scan",
        """    resume = _find_valid_record_after(handle, format_version, stop_offset, file_size)
    if resume is None:
        return StopKind.TORN_TAIL, None, """"",
        """    resume = None
    if resume is None:
        return StopKind.TORN_TAIL, None, """"",
        "the log scan stops searching for valid records after damage: a flip in a middle record "
        "truncates the log there and silently drops every acknowledged write after it",
        (Sweep("log-always", "weakest", "bitflip", cap=48, samples=12),),
    ),
    Mutant(
        "quarantine-not-made-durable",
        "kevy_persist.engine.aof",
        """    sink.close()
    source.close()
    fs.fsync_dir(parent(path))
    return target""",
        """    sink.close()
    source.close()
    return target""",
        "opening copies a torn tail to its quarantine file but never fsyncs the directory: the "
        "quarantine file reported to the operator can vanish in a crash after the log was cut",
        (Sweep("open-torn", "strict"),),
    ),
    Mutant(
        "open-does-not-finish-an-interrupted-save",
        "kevy_persist.engine.shard_opening",
        "    elif options.log_enabled and (plan.replace_log or discarded_bytes):",
        "    elif options.log_enabled and discarded_bytes:",
        "a shard opened between a SAVE's snapshot rename and its log swap appends to the old log "
        "instead of finishing the save: the old log's valid end can lie before the offset the "
        "snapshot covers, so the next replay skips those appends (caught only by writing after "
        "recovery and crashing again)",
        (Sweep("save-no", "strict", resume=True),),
    ),
    Mutant(
        "group-commit-leader-marks-durable-at-fsync-start",
        "kevy_persist.store.runtime",
        """                    if not self._sync_in_flight and not self._exclusive:
                        self._sync_in_flight = True
                        break""",
        """                    if not self._sync_in_flight and not self._exclusive:
                        self._sync_in_flight = True
                        self._durable_offset = max(self._durable_offset, offset)  # marked at start
                        self._condition.notify_all()
                        break""",
        "the group-commit leader marks its own offset durable when its fsync starts: waiters below "
        "it are acknowledged while the fsync is still running, and a crash then loses them",
        (Sweep("group-commit-always", "strict"),),
    ),
    Mutant(
        "group-commit-covers-records-appended-during-fsync",
        "kevy_persist.engine.shard",
        """        covered = self.writer.end_offset
        try:
            self.writer.fsync()""",
        """        try:
            self.writer.fsync()
            covered = self.writer.end_offset  # read after the fsync returned""",
        "the leader reads the covered offset after its fsync returns: a record another writer "
        "appended while the fsync ran is counted as covered and acknowledged, though the fsync "
        "started before it was written",
        (Sweep("group-commit-always", "strict"),),
    ),
)


def mutant_named(name: str) -> Mutant:
    for mutant in CATALOGUE:
        if mutant.name == name:
            return mutant
    raise KeyError(f"unknown mutant {name!r}; known: {', '.join(mutant.name for mutant in CATALOGUE)}")
