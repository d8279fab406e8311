"""Building a whole new data dir in one commit: the re-shard protocol with no sources.

`install_fresh_layout(fs, directory, target, shard_entries, clock)` writes shard `i`'s keys
(`shard_entries[i]`) into an empty (or missing) data dir so that, across any crash, the dir
afterwards holds either nothing or all of them -- never some shards without the others, which
an open would serve as a keyspace with keys silently missing. It is what `import-rdb` uses.

The steps are the re-shard's (specs/reshard.md), with the same phase table
(`reshard.protocol`) and the same recovery, so nothing new is trusted:
1. create the directory (and missing parents), each new name fsynced in its parent
   (`layout.data_dir`: without it a crash may lose the dir with every imported file);
2. finish or discard an interrupted attempt (`recover_interrupted_reshard`): a committed
   earlier import is rolled forward -- and then the dir is not empty, which step 3 refuses;
3. refuse a directory holding any file (`LayoutError`): this builds a new data dir and never
   replaces one;
4. write every `dump-{i}.rdb.reshard` (KEVYSNAP, no covered log position) and fsync each;
5. fsync_dir: the temps' names are durable;
6. write and fsync `reshard.journal` (previous count = target count: there are no old
   files), fsync_dir -- the commit point;
7. `finish_committed`: copy each temp to `dump-{i}.rdb`, record `shards.meta`, remove the
   temps and the journal, fsync_dir.
A crash before step 6's fsync_dir leaves temps (and maybe a torn journal) that the next open
or import discards: the dir is empty again. A crash after it is rolled forward by the next
open (`Store.open`, `kevy-server`, `kevy-persist reshard`) or import: the dir holds every key.
An error before the commit point removes what was written (best effort) and re-raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from kevy_persist.disk.clock import Clock
from kevy_persist.disk.fs import FileSystem, join
from kevy_persist.engine.snapshot import write_snapshot_temp
from kevy_persist.errors import LayoutError
from kevy_persist.layout.data_dir import make_data_dir
from kevy_persist.layout.meta import ShardLayout
from kevy_persist.layout.names import ReshardJournal, reshard_temp_name
from kevy_persist.reshard.protocol import Phase, PhaseListener, PhaseTracker, may_abort
from kevy_persist.reshard.reconcile import abandon_attempt, write_journal
from kevy_persist.reshard.recovery import InterruptedOutcome, finish_committed, recover_interrupted_reshard

# (key, kind, native value, deadline_ms or None), as the snapshot encoder takes them.
Entry = tuple[bytes, Any, Any, "int | None"]


@attrs.frozen
class InstallReport:
    target: ShardLayout
    stamp_ns: int
    written_bytes: int


def prepare_fresh_directory(fs: FileSystem, directory: str, *, listener: PhaseListener | None = None) -> None:
    """Steps 1-3: the directory exists, any interrupted attempt is settled, and it is empty."""
    make_data_dir(fs, directory)
    recovery = recover_interrupted_reshard(fs, directory, listener=listener)
    names = fs.list_dir(directory)
    if names:
        finished = " (an interrupted import into it was just finished)" if (
            recovery.outcome is InterruptedOutcome.ROLLED_FORWARD
        ) else ""
        raise LayoutError(directory, f"not empty{finished}: holds {', '.join(names[:5])}"
                          f"{' ...' if len(names) > 5 else ''}; a new data dir is built only in an empty one")


def install_fresh_layout(
    fs: FileSystem,
    directory: str,
    target: ShardLayout,
    shard_entries: Sequence[Iterable[Entry]],
    clock: Clock,
    *,
    listener: PhaseListener | None = None,
    shard_written: Callable[[int], None] | None = None,
) -> InstallReport:
    """Steps 1-7 of the module docstring; `shard_entries[i]` are the keys of shard `i`.

    `shard_written(i)` is called once shard `i`'s temp snapshot is written (for progress).
    """
    assert len(shard_entries) == target.shard_count, "one entry source per shard"
    prepare_fresh_directory(fs, directory, listener=listener)
    stamp_ns = clock.now_ms() * 1_000_000
    tracker = PhaseTracker(listener)
    tracker.advance(Phase.STALE_TEMPS_REMOVED)  # step 3 found the dir empty
    journal = ReshardJournal(stamp_ns, target.shard_count, target.shard_count, target.routing)
    written_bytes = 0
    try:
        for index, entries in enumerate(shard_entries):
            temp_path = write_snapshot_temp(fs, join(directory, reshard_temp_name(index)), entries, None)
            written_bytes += fs.size(temp_path)
            if shard_written is not None:
                shard_written(index)
        tracker.advance(Phase.TEMPS_WRITTEN)
        fs.fsync_dir(directory)
        tracker.advance(Phase.TEMPS_DURABLE)
        write_journal(fs, directory, journal)
        tracker.advance(Phase.JOURNAL_WRITTEN)
        fs.fsync_dir(directory)
    except BaseException:
        if may_abort(tracker.phase):
            abandon_attempt(fs, directory, tracker)
        raise
    tracker.advance(Phase.COMMITTED)
    finish_committed(fs, directory, journal, tracker)
    return InstallReport(target, stamp_ns, written_bytes)
