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
    Mutant(
        "ack-before-group-commit",
        "kevy_persist.store.shard_runner",
        "        if end_offset is not None and self.config.appendfsync is FsyncPolicy.ALWAYS:",
        "        if False and end_offset is not None and self.config.appendfsync is FsyncPolicy.ALWAYS:",
        "under `always` the store replies before its record is durable (the acknowledgement moved "
        "before the group commit's fsync)",
        (Sweep("group-commit-always", "strict"),),
    ),
    Mutant(
        "save-swaps-its-commit-points",
        "kevy_persist.engine.shard",
        """        snapshot.save_snapshot(self.file_system, self.snapshot_path, self.keyspace.iter_entries(), covered)
        self.changes_since_save = 0
        if self.options.log_enabled:
            self.start_log(LogIdentity(self.epoch + 1, LogKind.INCREMENTAL))""",
        """        entries = list(self.keyspace.iter_entries())
        if self.options.log_enabled:
            self.start_log(LogIdentity(self.epoch + 1, LogKind.INCREMENTAL))
        snapshot.save_snapshot(self.file_system, self.snapshot_path, entries, covered)
        self.changes_since_save = 0""",
        "SAVE installs the next epoch's log before the snapshot that log continues: a crash "
        "between the two pairs the old snapshot with a log whose history starts after it",
        (Sweep("save-always", "strict"), Sweep("save-no", "strict")),
    ),
    Mutant(
        "history-replays-the-whole-log-over-its-snapshot",
        "kevy_persist.engine.history",
        """    if covered is not None and identity.epoch == snapshot_epoch:
        return HistoryDecision.OK, ReplayPlan(True, covered.offset, True, replace_log=True), """"",
        """    if covered is not None and identity.epoch == snapshot_epoch:
        return HistoryDecision.OK, ReplayPlan(True, None, True, replace_log=True), """"",
        "in the window between a SAVE's snapshot rename and its log swap, recovery replays the "
        "whole old log over the new snapshot instead of from the covered offset (kevy 1.23's "
        "double application: INCR and LPUSH applied twice)",
        (Sweep("save-always", "strict"), Sweep("save-no", "strict")),
    ),
    Mutant(
        "scan-ignores-synced-markers",
        "kevy_persist.formats.aof_scan",
        "    if claim is not None and claim[1] > stop_offset:",
        "    if False and claim is not None and claim[1] > stop_offset:",
        "the log scan ignores the synced markers after a page-shaped hole: zeros inside data an "
        "fsync made durable are cut as a torn tail, dropping acknowledged writes (marker check skipped)",
        (Sweep("open-durable-hole", "strict"), Sweep("open-durable-hole", "weakest")),
    ),
    Mutant(
        "reshard-recovery-ignores-the-journal",
        "kevy_persist.reshard.recovery",
        "        if journal is not None:\n            tracker.advance(Phase.JOURNAL_FOUND)",
        "        if False:\n            tracker.advance(Phase.JOURNAL_FOUND)",
        "recovery discards a committed re-shard instead of rolling it forward (journal check "
        "skipped): after the sources were moved aside, their keys are gone",
        (Sweep("reshard-grow-1-3", "strict", cap=64, samples=16, nested_cap=2, nested_samples=1),
         Sweep("reshard-over-journal-2-3-4", "strict", cap=64, samples=16, nested_cap=2, nested_samples=1)),
    ),
    Mutant(
        "rewrite-commit-skips-the-last-tee",
        "kevy_persist.engine.background_job",
        "            temp = self._append_to_log_temp(self.take_tee())\n",
        "            temp = self._open_log_temp()  # mutant: the range since the last copy is not copied\n",
        "a background rewrite's commit renames the new log without copying what the live log took "
        "since the last tee copy: writes acknowledged between the last STEP and the commit are "
        "missing from the log that replaces the old one",
        (Sweep("background-always", "strict"),),
    ),
    Mutant(
        "everysec-never-syncs",
        "kevy_persist.engine.shard",
        """        if not self.sync_due():
            return False
        self.sync_log()
        return True""",
        """        if not self.sync_due():
            return False
        return True""",
        "`everysec` reports its second's sync done without running it: writes acknowledged "
        "seconds ago are lost",
        (Sweep("log-everysec", "strict"),),
    ),
)


def mutant_named(name: str) -> Mutant:
    for mutant in CATALOGUE:
        if mutant.name == name:
            return mutant
    raise KeyError(f"unknown mutant {name!r}; known: {', '.join(mutant.name for mutant in CATALOGUE)}")
