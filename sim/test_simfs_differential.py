"""SimFileSystem behaves like the real file system when nothing crashes.

Method: a seeded generator draws a random sequence of file-system calls over a few names
(open for write/append, write, fsync, truncate, close, read through a handle, read_bytes,
rename, remove, list_dir, exists, size, make_dirs, fsync_dir), runs it against
`OsFileSystem` in a temp dir and against `SimFileSystem`, and compares every result: the
returned value, or for a failure the error class, errno and operation. Handles that fail to
open on one side must fail on the other, so both keep the same set of open handles.
Replay a failure: the test id names the seed; rerun `pytest sim/test_simfs_differential.py -k SEED`.
"""

from __future__ import annotations

import random

import pytest

from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.errors import StorageIOError
from sim.simfs import SimFileSystem

NAMES = ["a", "b", "c.tmp", "sub/d", "sub", "missing/e"]


def _call(function, *arguments):
    try:
        return ("ok", function(*arguments))
    except StorageIOError as error:
        return ("error", error.errno, error.operation)


class _Side:
    def __init__(self, fs, root: str) -> None:
        self.fs = fs
        self.root = root
        self.handles: list = []

    def path(self, name: str) -> str:
        return self.root + "/" + name


def _run_operation(side: _Side, operation: tuple):
    kind = operation[0]
    fs = side.fs
    if kind in ("open_write", "open_append"):
        outcome = _call(getattr(fs, kind), side.path(operation[1]))
        if outcome[0] == "ok":
            side.handles.append(outcome[1])
            return ("ok", outcome[1].tell())
        return outcome
    if kind in ("write", "fsync", "truncate", "close", "tell"):
        if not side.handles:
            return ("no-handle",)
        handle = side.handles[operation[1] % len(side.handles)]
        if kind == "write":
            outcome = _call(handle.write, operation[2])
        elif kind == "truncate":
            outcome = _call(handle.truncate, operation[2])
        elif kind == "tell":
            outcome = ("ok", None)
        else:
            outcome = _call(getattr(handle, kind))
        position = handle.tell()
        if kind == "close":
            # A closed handle is gone (using it is misuse, not an operating error).
            side.handles.remove(handle)
        return (*outcome, position)
    if kind == "read_at":
        opened = _call(fs.open_read, side.path(operation[1]))
        if opened[0] != "ok":
            return opened
        handle = opened[1]
        handle.seek(operation[2])
        data = handle.read(operation[3])
        rest = handle.read()
        position = handle.tell()
        handle.close()
        return ("ok", data, rest, position)
    if kind in ("read_bytes", "remove", "exists", "size", "make_dirs"):
        return _call(getattr(fs, kind), side.path(operation[1]))
    if kind == "rename":
        return _call(fs.rename, side.path(operation[1]), side.path(operation[2]))
    if kind == "list_dir":
        return _call(fs.list_dir, side.path(operation[1]) if operation[1] else side.root)
    if kind == "fsync_dir":
        return _call(fs.fsync_dir, side.path(operation[1]) if operation[1] else side.root)
    raise AssertionError(kind)


def _random_operations(seed: int, count: int) -> list[tuple]:
    rng = random.Random(seed)
    operations = []
    for _ in range(count):
        kind = rng.choice(["open_write", "open_append", "write", "write", "write", "fsync",
                           "truncate", "close", "read_at", "read_bytes", "rename", "remove",
                           "list_dir", "exists", "size", "make_dirs", "fsync_dir", "tell"])
        name = rng.choice(NAMES)
        if kind == "write":
            operations.append((kind, rng.randrange(8), rng.randbytes(rng.randrange(0, 40))))
        elif kind == "truncate":
            operations.append((kind, rng.randrange(8), rng.randrange(0, 60)))
        elif kind in ("fsync", "close", "tell"):
            operations.append((kind, rng.randrange(8)))
        elif kind == "read_at":
            operations.append((kind, name, rng.randrange(0, 50), rng.randrange(0, 30)))
        elif kind == "rename":
            # Same-directory renames only (the simulator's stated model).
            target = rng.choice([n for n in NAMES if "/" not in n])
            operations.append((kind, rng.choice(["a", "b", "c.tmp", "zz"]), target))
        elif kind in ("list_dir", "fsync_dir"):
            operations.append((kind, rng.choice(["", "sub", "missing", "a"])))
        elif kind == "make_dirs":
            operations.append((kind, rng.choice(["sub", "sub/deeper", "sub/deeper/x"])))
        elif kind == "size":
            # A directory's size is file-system specific; files only.
            operations.append((kind, rng.choice(["a", "b", "c.tmp", "sub/d", "zz"])))
        else:
            operations.append((kind, name))
    return operations


@pytest.mark.parametrize("seed", range(60))
def test_sim_file_system_matches_the_os_file_system_on_random_calls(tmp_path, seed):
    """Method: 120 random calls, same sequence on both file systems, every result compared."""
    real = _Side(OsFileSystem(), str(tmp_path))
    simulated = _Side(SimFileSystem(), "/root")
    simulated.fs.make_dirs("/root")
    for number, operation in enumerate(_random_operations(seed, 120)):
        expected = _run_operation(real, operation)
        actual = _run_operation(simulated, operation)
        assert actual == expected, f"call {number}: {operation!r}"
    for handle in real.handles:
        handle.close()


def test_sim_file_system_numbers_every_call_and_records_its_site():
    """Method: three calls from this test; each is one step whose site is this file."""
    fs = SimFileSystem(record_sites=True)
    handle = fs.open_write("/x")
    handle.write(b"abc")
    handle.fsync()
    assert [step[:3] for step in fs.steps] == [(0, "open_write", "/x"), (1, "write", "/x"),
                                               (2, "fsync", "/x")]
    assert all(step[3].startswith("sim/test_simfs_differential.py:") for step in fs.steps)
    assert fs.steps[2][3].endswith("in test_sim_file_system_numbers_every_call_and_records_its_site")


def _lock_scenario(fs, root: str) -> list:
    """Lock, a second lock (refused), probe, release, probe, lock again; the LOCK's bytes."""
    from kevy_persist.errors import LockHeldError

    path = root + "/LOCK"
    outcomes = [("probe", fs.probe_lock(path))]
    first = fs.lock(path)
    try:
        fs.lock(path)
        outcomes.append(("second", "granted"))
    except LockHeldError as error:
        outcomes.append(("second", "refused", error.path == path, error.holder_pid))
    outcomes.append(("probe", fs.probe_lock(path)))
    outcomes.append(("content", fs.read_bytes(path)))
    first.release()
    first.release()  # idempotent
    outcomes.append(("probe", fs.probe_lock(path)))
    again = fs.lock(path)
    outcomes.append(("again", fs.read_bytes(path)))
    again.release()
    outcomes.append(("missing-dir", _call(fs.lock, root + "/missing/LOCK")))
    return outcomes


def test_the_lock_behaves_like_flock(tmp_path) -> None:
    """The same lock scenario on both sides gives the same outcomes (the simulator writes
    the process id it is given; here the real one)."""
    import os

    real = _lock_scenario(OsFileSystem(), str(tmp_path))
    simulated_fs = SimFileSystem(process_id=os.getpid())
    simulated_fs.make_dirs("/root")
    simulated = _lock_scenario(simulated_fs, "/root")
    assert real == simulated
    assert real[1] == ("second", "refused", True, os.getpid())
