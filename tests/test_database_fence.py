"""The fence a failed SWAPDB or MOVE leaves (`kevy_persist/store/database_fence.py`).

Method: real stores on the simulator's file system (`sim.simfs`), one door call made to fail
with EIO or ENOSPC (`sim.faults.FaultPlan`, at the step a dry run of the same commands
found for that call and path: the runs are deterministic). After the failure the store must
serve the state the journal commits to, refuse writes on the fenced shards with MISCONF,
refuse every MOVE and SWAPDB, and leave the other databases writable; after a crash (every
image the strict profile allows) the next open must settle the journal to one outcome and
accept writes again. The simulator's door-fault sweeps (`sim/test_door_faults.py`) check
every injection point; these tests pin what a program sees.
"""

from __future__ import annotations

import random

import pytest

from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import CommandError, KevyError, WritesRefusedError
from sim.disk import Image
from sim.faults import FaultPlan
from sim.profiles import Limits, profile_named
from sim.simfs import SimFileSystem
from store_support import SIM_DATA_DIR, sim_store


# An empty data dir whose name is durable (made by the operator long before).
DATA_DIR_IMAGE = Image(("/", SIM_DATA_DIR), ())


def _open(fs: SimFileSystem):
    return sim_store(fs, ManualClock(), appendfsync="always", databases=4)


def _prepare(store) -> None:
    store.database(0).set("a", "zero")
    store.database(1).set("b", "one")
    store.database(3).set("c", "three")


def _step_of(action, operation: str, path: str) -> int:
    """The step index of the first `operation` on `path` during `action` (a dry run)."""
    fs = SimFileSystem.from_image(DATA_DIR_IMAGE, record_sites=True)
    store = _open(fs)
    _prepare(store)
    start = fs.step_count
    action(store)
    store.shutdown()
    return next(index for index, name, step_path, _ in fs.steps
                if index >= start and name == operation and step_path == path)


def _failing_run(action, kind: str, operation: str, path: str):
    step = _step_of(action, operation, path)
    fs = SimFileSystem.from_image(DATA_DIR_IMAGE, faults=FaultPlan(kind, step))
    store = _open(fs)
    _prepare(store)
    with pytest.raises(KevyError):
        action(store)
    fs.faults = None
    return fs, store


def _keys(store) -> dict[int, dict[bytes, bytes]]:
    found = {}
    for number in range(store.databases.count):
        database = store.database(number)
        keys = database.execute("KEYS", "*")
        if keys:
            found[number] = {key: database.get(key) for key in sorted(keys)}
    return found


def _recovered_states(fs: SimFileSystem) -> list[dict[int, dict[bytes, bytes]]]:
    images = profile_named("strict").images(fs.snapshot(), random.Random(0), Limits(64, 16))
    states = []
    for image in images:
        store = _open(SimFileSystem.from_image(image))
        try:
            states.append(_keys(store))
            store.database(0).set("after", "restart")  # the fence is gone
        finally:
            store.shutdown()
    return states


def test_a_swapdb_failed_after_its_commit_point_serves_the_swap_and_refuses_writes():
    """The fsync of the root's `reshard.journal` (the first dir's roll-forward, after the
    commit point) fails: the replay line of issue 13's sweep violation."""
    fs, store = _failing_run(lambda store: store.swap_databases(0, 1), "eio-fsync", "fsync",
                             f"{SIM_DATA_DIR}/reshard.journal")
    swapped = {0: {b"b": b"one"}, 1: {b"a": b"zero"}, 3: {b"c": b"three"}}
    assert _keys(store) == swapped  # what the committed journal installs
    for database, key in ((0, "x"), (1, "y")):
        with pytest.raises(CommandError, match="^MISCONF .*SWAPDB failed after its commit point"):
            store.database(database).set(key, "v")
    with pytest.raises(CommandError, match="^MISCONF .*MOVE and SWAPDB are refused until the store is restarted"):
        store.swap_databases(2, 3)
    with pytest.raises(CommandError, match="^MISCONF .*MOVE and SWAPDB are refused"):
        store.database(3).execute("MOVE", "c", "2")
    store.database(3).set("d", "four")  # a database the swap does not touch stays writable
    store.save()  # saves nothing of the fenced shards: their files stay for recovery
    with pytest.raises(WritesRefusedError):  # shutdown names the shards that refuse writes
        store.shutdown()
    swapped[3][b"d"] = b"four"
    states = _recovered_states(fs)
    assert states and all(state == swapped for state in states), states


def test_a_move_whose_delete_failed_keeps_its_journal_and_fences_both_shards():
    """The DEL at the source cannot be logged (ENOSPC) after the RESTORE in the target was
    fsynced: before the fix MOVE removed its journal and the key stayed in both databases."""
    fs, store = _failing_run(lambda store: store.database(0).execute("MOVE", "a", "2"), "enospc-write",
                             "write", f"{SIM_DATA_DIR}/aof-0.aof")
    assert fs.exists(f"{SIM_DATA_DIR}/move.journal")
    for database in (0, 2):
        with pytest.raises(CommandError, match="^MISCONF .*MOVE failed with its journal left for recovery"):
            store.database(database).set("a", "again")
    with pytest.raises(CommandError, match="^MISCONF .*MOVE and SWAPDB are refused"):
        store.database(1).execute("MOVE", "b", "3")
    store.database(1).set("e", "five")
    with pytest.raises(WritesRefusedError):
        store.shutdown()
    states = _recovered_states(fs)
    moved = {1: {b"b": b"one", b"e": b"five"}, 2: {b"a": b"zero"}, 3: {b"c": b"three"}}
    assert states and all(state == moved for state in states), states


def test_a_move_whose_journal_could_not_be_written_changes_nothing():
    """The journal's own fsync fails: nothing else was written, so MOVE removes the journal
    durably, answers the error and the store goes on unfenced."""
    fs, store = _failing_run(lambda store: store.database(0).execute("MOVE", "a", "2"), "eio-fsync",
                             "fsync", f"{SIM_DATA_DIR}/move.journal")
    assert not fs.exists(f"{SIM_DATA_DIR}/move.journal")
    assert store.databases.unsettled is None
    assert store.database(0).execute("MOVE", "a", "2") == 1
    store.shutdown()
    states = _recovered_states(fs)
    assert states and all(state == {1: {b"b": b"one"}, 2: {b"a": b"zero"}, 3: {b"c": b"three"}}
                          for state in states), states
