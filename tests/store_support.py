"""Helpers shared by the embedded-store tests (not a test module).

- `CountingFileSystem` wraps a real `FileSystem` and keeps, per path, how many bytes were
  written and how many of them an fsync covered, so a test can tell whether a reply came
  before or after the fsync that made its record durable.
- `store_state` renders a store's whole content (every shard, read directly, no locking) as
  plain Python values, the form the tests' models are written in.
- `sim_store` opens a store on the simulator's in-memory file system; `reboot` turns that file
  system's current (live) content into a fresh one, as after a clean power cycle, and
  `crash` keeps only what a crash profile allows (strict: only what was fsynced).
"""

from __future__ import annotations

import random
import threading
from typing import Any

from kevy_persist import Store, StoreConfig
from kevy_persist.disk.clock import ManualClock
from kevy_persist.disk.fs import FileSystem
from kevy_persist.store.store import iter_shards
from sim.disk import Image
from sim.profiles import Limits, profile_named
from sim.simfs import SimFileSystem

SIM_DATA_DIR = "/data"


class CountingWritable:
    def __init__(self, owner: CountingFileSystem, inner: Any, path: str) -> None:
        self._owner = owner
        self._inner = inner
        self.path = path

    def write(self, data: bytes) -> None:
        self._inner.write(data)
        with self._owner.counters_lock:
            self._owner.written_bytes[self.path] = self._inner.tell()

    def fsync(self) -> None:
        size = self._inner.tell()
        self._inner.fsync()
        with self._owner.counters_lock:
            self._owner.fsync_count[self.path] = self._owner.fsync_count.get(self.path, 0) + 1
            self._owner.synced_bytes[self.path] = max(self._owner.synced_bytes.get(self.path, 0), size)

    def truncate(self, size: int) -> None:
        self._inner.truncate(size)
        with self._owner.counters_lock:
            self._owner.written_bytes[self.path] = size
            self._owner.synced_bytes[self.path] = min(self._owner.synced_bytes.get(self.path, 0), size)

    def tell(self) -> int:
        return self._inner.tell()

    def close(self) -> None:
        self._inner.close()


class CountingFileSystem:
    """A `FileSystem` that counts fsyncs and tracks written vs synced bytes per path.

    A rename moves the counters to the target name (the durable replace of a log).
    """

    def __init__(self, inner: FileSystem) -> None:
        self._inner = inner
        self.counters_lock = threading.Lock()
        self.fsync_count: dict[str, int] = {}
        self.written_bytes: dict[str, int] = {}
        self.synced_bytes: dict[str, int] = {}

    def open_write(self, path: str) -> CountingWritable:
        handle = self._inner.open_write(path)
        with self.counters_lock:
            self.written_bytes[path] = 0
            self.synced_bytes[path] = 0
        return CountingWritable(self, handle, path)

    def open_append(self, path: str) -> CountingWritable:
        handle = self._inner.open_append(path)
        with self.counters_lock:
            self.written_bytes[path] = handle.tell()
            # What was on disk when the file was opened counts as synced (opening fsyncs it).
            self.synced_bytes.setdefault(path, handle.tell())
        return CountingWritable(self, handle, path)

    def rename(self, source: str, target: str) -> None:
        self._inner.rename(source, target)
        with self.counters_lock:
            for table in (self.written_bytes, self.synced_bytes):
                if source in table:
                    table[target] = table.pop(source)

    def unsynced_bytes(self, path: str) -> int:
        with self.counters_lock:
            return self.written_bytes.get(path, 0) - self.synced_bytes.get(path, 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def canonical_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, set):
        return set(value)
    if hasattr(value, "items"):  # ZSet
        return [(member, float(score)) for member, score in value.items()]
    return list(value)  # list (deque)


def store_state(store: Store, *, with_deadlines: bool = False) -> dict[bytes, Any]:
    """Every key of every shard -> its value as plain Python (list, dict, set, [(m, s)])."""
    state: dict[bytes, Any] = {}
    for _, shard in iter_shards(store):
        for key, _, value, deadline_ms in shard.keyspace.iter_entries():
            assert key not in state, "a key lives on one shard only"
            rendered = canonical_value(value)
            state[key] = (rendered, deadline_ms) if with_deadlines else rendered
    return state


def sim_store(fs: SimFileSystem, clock: ManualClock, **config: Any) -> Store:
    options: dict[str, Any] = {"data_dir": SIM_DATA_DIR, "ticker": "manual"}
    options.update(config)
    return Store.open(StoreConfig(**options), file_system=fs, clock=clock)


def live_image(fs: SimFileSystem, directory: str = SIM_DATA_DIR) -> Image:
    """The live content of `directory` (what a running program reads) as an image."""
    files = tuple(sorted((f"{directory}/{name}", fs.read_bytes(f"{directory}/{name}"))
                         for name in fs.list_dir(directory)))
    return Image(("/", directory), files)


def reboot(fs: SimFileSystem) -> SimFileSystem:
    """A fresh file system holding the live content, all durable (a clean power cycle)."""
    return SimFileSystem.from_image(live_image(fs))


def crash(fs: SimFileSystem, profile: str = "strict", seed: int = 0) -> SimFileSystem:
    """A fresh file system holding one crash image the profile allows (seeded choice)."""
    images = profile_named(profile).images(fs.snapshot(), random.Random(seed), Limits(64, 16))
    return SimFileSystem.from_image(random.Random(seed).choice(images))
