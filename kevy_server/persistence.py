"""The server's side of background persistence: BGSAVE, BGREWRITEAOF and their completions as
events of the event loop, save points, auto-rewrite, and Redis's MISCONF after a failed BGSAVE.

Where each step of a job runs (the store's job protocol, `kevy_persist/store/background.py`):
- freeze -- on the loop, inside the BGSAVE / BGREWRITEAOF verb or the driver, after every
  pending record of the turn has been written (`EventLoop.write_pending_now`): the frozen view
  must equal the log's end offset. Inside EXEC the records of the block are still pending
  (a crash-atomic block cannot be cut), so the verb answers "scheduled", as Redis does there,
  and the driver starts the job right after the turn (a call handed to the loop);
- serialize, install, tee copies -- on the store's worker thread, while the loop serves;
- commit -- on the loop, in `drive`, with no fsync of a live log in flight: while the loop's
  fsync thread works (`durability.pending`), the store is polled with `may_commit=False`;
  once a worker is done (`Store.background_commit_ready`), the loop writes what is pending
  and waits for the fsync in flight (milliseconds), then commits.
`drive` runs on every tick (10 times a second) and when a worker finishes (its thread calls
`_worker_finished`, which only hands a call to the loop). It also starts what the store's
triggers want -- save points (`save`), auto-rewrite -- which the store evaluates only while no
job runs or waits.

MISCONF (Redis's `stop-writes-on-bgsave-error`): while it is `yes`, save points are configured
and a shard's last background save failed, write commands and PING are refused with Redis's
text, until a save (SAVE, or a BGSAVE that succeeds) clears it.
"""

from __future__ import annotations

import logging
from time import perf_counter_ns
from typing import Any

from kevy_persist import KevyError
from kevy_persist.commands import ErrorReply, SimpleString
from kevy_persist.errors import CommandError

from . import command_data

__all__ = ["MISCONF_BGSAVE", "Persistence"]

log = logging.getLogger("kevy_server")

BGSAVE_STARTED = SimpleString("Background saving started")
BGSAVE_SCHEDULED = SimpleString("Background saving scheduled")
REWRITE_STARTED = SimpleString("Background append only file rewriting started")
REWRITE_SCHEDULED = SimpleString("Background append only file rewriting scheduled")
MISCONF_BGSAVE = ErrorReply(
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
    "Commands that may modify the data set are disabled, because this instance is configured to report "
    "errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the "
    "Redis logs for details about the RDB error."
)


class Persistence:
    """The loop's driver of one store's background jobs (see the module docstring)."""

    def __init__(self, server: Any, stop_writes_on_bgsave_error: bool) -> None:
        self.server = server
        self.stop_writes_on_bgsave_error = stop_writes_on_bgsave_error
        self.deferred_bgsave = False  # asked for inside EXEC: started by the next drive
        self.deferred_rewrite = False
        self.refusing_writes = False
        self._failures_seen = 0
        # The loop's time spent inside the jobs' owner steps (freeze, tee tail, commit, and
        # the wait for an fsync in flight before a commit): INFO's background_loop_hold_us.
        self.loop_hold_ns = 0
        self.loop_hold_max_ns = 0

    def attach(self, store: Any) -> None:
        """Take over `store`'s background jobs (at start, or when the data dir has opened)."""
        store.set_background_wakeup(self._worker_finished)

    def _worker_finished(self) -> None:
        """On the worker's thread: hand the commit to the loop (never touch the store here)."""
        self.server.loop.call_soon_threadsafe(self.drive)

    # -- the verbs ----------------------------------------------------------------------------

    def bgsave(self, schedule: bool) -> Any:
        if self.server.dispatcher.in_exec:
            if self.bgsave_running():
                return ErrorReply("ERR Background save already in progress")
            self.deferred_bgsave = True
            self.server.loop.call_soon_threadsafe(self.drive)  # after this turn's write
            return BGSAVE_SCHEDULED
        return self._request(lambda store: store.bgsave(schedule, may_commit=False), BGSAVE_STARTED, BGSAVE_SCHEDULED)

    def bgrewriteaof(self) -> Any:
        if self.server.dispatcher.in_exec:
            if any(info.aof_rewrite_in_progress for info in self.server.store.persistence_info()):
                return ErrorReply("ERR Background append only file rewriting already in progress")
            self.deferred_rewrite = True
            self.server.loop.call_soon_threadsafe(self.drive)
            return REWRITE_SCHEDULED
        return self._request(lambda store: store.bgrewriteaof(may_commit=False), REWRITE_STARTED, REWRITE_SCHEDULED)

    def _request(self, start: Any, started_reply: Any, scheduled_reply: Any) -> Any:
        """Write the turn's pending records, then ask the store (the freeze may run now)."""
        self.server.loop.write_pending_now()
        began = perf_counter_ns()
        try:
            outcome = start(self.server.store)
        except CommandError as error:
            return ErrorReply(error.message)
        finally:
            self._held(perf_counter_ns() - began)
        return started_reply if outcome == "started" else scheduled_reply

    def bgsave_running(self) -> bool:
        return any(info.rdb_bgsave_in_progress for info in self.server.store.persistence_info())

    def save(self) -> Any:
        """SAVE: synchronous; answered once the snapshot and the fresh log are durable."""
        try:
            self.server.save()
        except CommandError as error:
            return ErrorReply(error.message)
        self.update_refusal()
        return None

    # -- the driver (the loop's thread) ---------------------------------------------------------

    def drive(self) -> None:
        """Commit a finished job, start the next or a deferred one; see the module docstring."""
        server = self.server
        store = server.store
        if server.loading is not None or store is None:
            return
        loop = server.loop
        busy_before = store.background_busy()
        started = 0
        try:
            loop.write_pending_now()  # a job may be frozen below
            started = perf_counter_ns()
            if store.background_commit_ready():
                if loop.durability.pending:
                    loop.quiesce()  # the commit swaps the live log: no fsync of it in flight
                store.poll_background()
            else:
                store.poll_background(may_commit=False)
            self._start_deferred(store)
        except KevyError as error:
            log.error("background job driver: %s", error)
        if busy_before or store.background_busy():
            self._held(perf_counter_ns() - started)
        self.update_refusal()

    def _held(self, elapsed_ns: int) -> None:
        self.loop_hold_ns += elapsed_ns
        self.loop_hold_max_ns = max(self.loop_hold_max_ns, elapsed_ns)

    def _start_deferred(self, store: Any) -> None:
        for wanted, start in ((self.deferred_bgsave, lambda: store.bgsave(True, may_commit=False)),
                              (self.deferred_rewrite, lambda: store.bgrewriteaof(may_commit=False))):
            if not wanted:
                continue
            try:
                start()
            except CommandError:
                pass  # one of that kind runs already: Redis's scheduled job is then that one
        self.deferred_bgsave = self.deferred_rewrite = False

    def update_refusal(self) -> None:
        """Refuse writes (MISCONF) while Redis's rule says so; log each failed job once."""
        server = self.server
        infos = server.store.persistence_info()
        failures = sum(info.job_failures for info in infos)
        if failures > self._failures_seen:
            log.error("a background save or rewrite failed (%d failures so far); INFO persistence has the status",
                      failures)
        self._failures_seen = failures
        refusing = bool(
            self.stop_writes_on_bgsave_error
            and server.store.config.save_points
            and any(info.rdb_last_bgsave_status == "err" for info in infos)
        )
        if refusing != self.refusing_writes:
            self.refusing_writes = refusing
            server.dispatcher.set_write_refusal(MISCONF_BGSAVE if refusing else None)
            if refusing:
                log.error("refusing writes (MISCONF) until a save succeeds: stop-writes-on-bgsave-error is yes")


def refused_by_misconf(argv: list[bytes]) -> bool:
    """Redis refuses these while a BGSAVE error stops writes: `write` commands and PING."""
    name = argv[0].lower()
    if name == b"ping":
        return True
    return command_is(argv, "write")


def command_is(argv: list[bytes], flag: str) -> bool:
    """Whether Redis 7.0 flags the command (its subcommand, for a container) with `flag`."""
    name = argv[0].decode("utf-8", "replace").lower()
    data = command_data.entry(name)
    if data is None:
        return False
    if data.subcommands and len(argv) > 1:
        sub = command_data.entry(f"{name}|{argv[1].decode('utf-8', 'replace').lower()}")
        if sub is not None:
            data = sub
    return flag in data.flags
