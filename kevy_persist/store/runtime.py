"""The embedded store's runtime: the only part of the core that owns threads and real time.

- `GroupCommit`: many writers wait for one fsync. A writer that needs its log record durable
  (`appendfsync always`) calls `wait_durable(offset)`; the first waiter that finds no fsync in
  flight becomes the leader and fsyncs, every writer whose record lies below the offset that
  fsync covered returns with it. Writers never hold the shard lock while they wait, so others
  keep appending and join the next fsync.
- The log file is replaced (save, rewrite, shutdown) only inside `exclusive()`: it waits out
  the sync in flight and keeps new leaders out until the swap is done, so no fsync ever runs
  on a closed or half-replaced log.
- `Ticker`: a daemon thread calling `tick()` every interval until stopped (or nothing, in
  `manual` mode, where the owner calls `tick()` itself).
- `Primitives`: the locks and conditions a `ShardRunner` builds on -- the real ones here; the
  crash simulator injects its deterministic scheduler's (`sim/scheduler.py`), so the group
  commit's leader and waiters run as simulated threads it interleaves.
- `new_random_source()`: the random source for non-deterministic commands (SPOP, ...).
- `WorkerThread`: runs one background job's off-the-lock steps on a daemon thread, paced by
  `DutyCyclePacer`; `new_condition()` and `precise_seconds()` for the job manager
  (`store/background.py`), which measures hold times with the latter (metrics only: no
  decision depends on it).

A failed fsync is sticky: every current and later waiter gets the error (DESIGN §3: an fsync
error is never retried on the same file and trusted).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator


class GroupCommit:
    def __init__(self, sync: Callable[[], int], condition=None) -> None:
        """`sync` makes the log durable and returns the end offset it covered. `condition`
        (a `threading.Condition` by default) is what the crash simulator replaces with its
        scheduler's, so every wait and notify is a switch point it controls."""
        self._sync = sync
        self._condition = condition if condition is not None else threading.Condition()
        self._durable_offset = 0
        self._generation = 0
        self._sync_in_flight = False
        self._exclusive = False
        self._failure: BaseException | None = None
        self.sync_count = 0

    @property
    def durable_offset(self) -> int:
        return self._durable_offset

    @property
    def generation(self) -> int:
        """Which log file offsets refer to; grows when a save or rewrite replaces the log."""
        return self._generation

    def reset(self, durable_offset: int) -> None:
        """A new, durable log replaced the old one: offsets start over in a new generation.

        Everything written to earlier generations is durable through the snapshot (or rewritten
        log) that replaced them, so their waiters are released. The store calls it inside
        `exclusive()`, so no sync of the old file can still be running.
        """
        with self._condition:
            assert not self._sync_in_flight, "the log is replaced only between syncs"
            self._generation += 1
            self._durable_offset = durable_offset
            self._failure = None
            self._condition.notify_all()

    def fail(self, failure: BaseException) -> None:
        """Record a sync failure seen outside a leader (e.g. at close): waiters get it."""
        with self._condition:
            self._failure = failure
            self._condition.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """No sync runs inside: the owner may fsync, close or replace the log file itself.

        Waiters arriving meanwhile wait (they do not lead a sync) until the section ends; the
        owner usually ends it with `reset()` after installing a new log.
        """
        with self._condition:
            while self._sync_in_flight or self._exclusive:
                self._condition.wait()
            self._exclusive = True
        try:
            yield
        finally:
            with self._condition:
                self._exclusive = False
                self._condition.notify_all()

    def wait_durable(self, generation: int, offset: int) -> None:
        """Return once log `generation` is durable up to `offset` (or raise the fsync error)."""
        while True:
            with self._condition:
                while True:
                    if generation < self._generation:
                        return
                    # Durable first: a record an earlier fsync covered is durable even when a
                    # later one failed (its writer must not hear of a failure it did not suffer).
                    if self._durable_offset >= offset:
                        return
                    if self._failure is not None:
                        raise self._failure
                    if not self._sync_in_flight and not self._exclusive:
                        self._sync_in_flight = True
                        break
                    self._condition.wait()
            self._lead_one_sync()

    def sync_now(self) -> None:
        """Run one sync that starts now, so it covers everything written before the call.

        Joining a sync already in flight would not do (it may have started before the last
        write), so this waits for it and then leads its own. Raises a recorded failure.
        """
        with self._condition:
            while self._sync_in_flight or self._exclusive:
                self._condition.wait()
            if self._failure is not None:
                raise self._failure
            self._sync_in_flight = True
        self._lead_one_sync()
        with self._condition:
            if self._failure is not None:
                raise self._failure

    def _lead_one_sync(self) -> None:
        covered = None
        failure = None
        try:
            covered = self._sync()
        except BaseException as error:  # noqa: BLE001 -- handed to every waiter, then re-raised
            failure = error
        with self._condition:
            self._sync_in_flight = False
            if failure is not None:
                self._failure = failure
            else:
                assert covered is not None
                self.sync_count += 1
                self._durable_offset = max(self._durable_offset, covered)
            self._condition.notify_all()


class Ticker:
    """Calls `tick` every `interval_ms` on a daemon thread until `stop()`."""

    def __init__(self, tick: Callable[[], None], interval_ms: int, name: str = "kevy-ticker") -> None:
        assert interval_ms > 0
        self._tick = tick
        self._interval_seconds = interval_ms / 1000
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.last_error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval_seconds):
            try:
                self._tick()
            except Exception as error:  # noqa: BLE001 -- the ticker must outlive one bad tick
                self.last_error = error

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()


class ShardLock:
    """A mutex for a shard's short critical sections that does not convoy under the GIL.

    A plain `threading.Lock` held for a few microseconds by several threads convoys: when the
    GIL moves to a thread that then finds the shard lock taken, it sleeps in the kernel and
    every release pays a futex wake-up and two context switches. Measured here: 4 threads
    doing SETs on one shard ran at 1/5 of one thread's rate, at 14 us CPU per SET instead of
    2-3. Since the holder can only make progress with the GIL, a waiter first *yields the
    GIL* (`time.sleep(0)`) a bounded number of times, which lets the holder finish; only a
    holder that stays inside (a SAVE, a rewrite: milliseconds to seconds) sends waiters to
    the blocking acquire, so nothing spins on a long hold.
    """

    __slots__ = ("_lock",)
    YIELDS_BEFORE_BLOCKING = 64

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        try_acquire = self._lock.acquire
        if try_acquire(False):
            return True
        sleep = time.sleep
        for _ in range(self.YIELDS_BEFORE_BLOCKING):
            sleep(0)
            if try_acquire(False):
                return True
        return try_acquire()

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> ShardLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


def new_lock() -> ShardLock:
    return ShardLock()


def new_random_source(seed: int | None = None) -> random.Random:
    return random.Random(seed)


class WorkerThread:
    """Runs `work()` once on a daemon thread; `done`, `wait()` and the exception it raised."""

    def __init__(self, work: Callable[[], None], name: str = "kevy-background",
                 finished: Callable[[], None] | None = None) -> None:
        self._work = work
        self._on_finished = finished  # told on this thread once `done` is True (an owner's wake-up)
        self._finished = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self._work()
        except BaseException as error:  # noqa: BLE001 -- handed to the owner, who aborts the job
            self.error = error
        finally:
            self._finished.set()
            if self._on_finished is not None:
                self._on_finished()

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout_seconds: float | None = None) -> bool:
        return self._finished.wait(timeout_seconds)


def new_condition() -> threading.Condition:
    return threading.Condition()


def precise_seconds() -> float:
    """A high-resolution monotonic reading, for measured durations in metrics only."""
    return time.perf_counter()


class DutyCyclePacer:
    """A background thread's `between_chunks`: after each chunk of work it sleeps long enough
    to have used at most `share` of the time, counted in its own CPU time (waiting for the
    GIL is the other threads' turn, not its work). A chunk is charged at most
    `max_chunk_cpu_seconds`: the first chunk after an fsync would otherwise carry the
    kernel's writeback CPU too. `check()` runs first (it may raise to cancel);
    `restart()` forgets the time since the last chunk (call it after a step's own I/O)."""

    def __init__(self, share: float, max_chunk_cpu_seconds: float, check: Callable[[], None]) -> None:
        assert 0 < share <= 1, share
        self._share = share
        self._max_chunk = max_chunk_cpu_seconds
        self._check = check
        self._slice_started = time.thread_time()

    def __call__(self) -> None:
        self._check()
        if self._share < 1:
            worked = min(time.thread_time() - self._slice_started, self._max_chunk)
            time.sleep(worked * (1 - self._share) / self._share)
        self._slice_started = time.thread_time()

    def restart(self) -> None:
        self._slice_started = time.thread_time()


class Primitives:
    """What the store's runtime blocks on: a shard lock and a condition (injectable)."""

    def lock(self):
        return new_lock()

    def condition(self):
        return threading.Condition()


REAL_PRIMITIVES = Primitives()
