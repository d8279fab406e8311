"""The store's background jobs: BGSAVE and BGREWRITEAOF off the request path, one at a time.

This module decides which job runs when (the queue, Redis's refusals, save points and
auto-rewrite, waiting and cancelling); `job_steps.py` drives the one that runs.

What it runs. The engine's job protocol (`engine/background_job.py`) on each shard in turn:
a request (BGSAVE, BGREWRITEAOF, a save point, auto-rewrite) queues one job per shard, and at
most one job runs in the whole store at a time, as Redis runs one child -- so only one shard
at a time pays for a copy-on-write view and a tee. Where each step runs:

- freeze: on the caller that starts the job, under the shard's lock;
- serialize, install the snapshot, copy the tee: on a worker (`background_worker`): `"thread"` (a daemon thread
  in this process; it yields the GIL between chunks), `"fork"` (a forked child writes the
  temp from its copy of memory, `store/fork_worker.py`; a thread then installs it and copies
  the tee, off the lock), or `"inline"` (no worker: each `poll()` runs exactly one step, for
  deterministic tests and the crash simulator);
- commit or abort: on the driver -- whoever calls `poll()`: the store's ticker, a server's
  event loop through `Store.poll_background()`, or a caller waiting for a job -- under the
  shard's lock and the group commit's exclusive section (no fsync of the live log in flight).
  An owner that runs its own fsyncs (kevy-server's loop) polls with `may_commit=False` while
  one is in flight (jobs may start, none ends), and learns that a worker finished from
  `wakeup` (called on a thread worker's thread; a forked child is seen by polling) and
  `commit_ready()`.

Redis's rules for a request while another job runs: BGSAVE during a BGSAVE is refused
(`ERR Background save already in progress`); during a BGREWRITEAOF it is refused unless
SCHEDULE is given, then queued; BGREWRITEAOF during a BGREWRITEAOF is refused, during a
BGSAVE queued ("scheduled"). Save points and auto-rewrite are evaluated only when nothing runs
or waits. A failed job leaves the live files as they were (or, after its log rename, the
shard refusing writes) and is recorded as `err` in the shard's figures.
"""

from __future__ import annotations

import collections
import itertools
from typing import Any

from kevy_persist.disk.clock import Clock
from kevy_persist.engine.background_job import JobCancelledError
from kevy_persist.engine.background_protocol import JobKind
from kevy_persist.errors import CommandError
from kevy_persist.store import save_points
from kevy_persist.store.job_steps import ActiveJob, JobRequest, JobSteps
from kevy_persist.store.persistence_info import (
    JobRecord,
    ShardPersistenceInfo,
    shard_figures,
)
from kevy_persist.store.runtime import new_condition
from kevy_persist.store.shard_runner import ShardRunner

BGSAVE_IN_PROGRESS = "ERR Background save already in progress"
BGSAVE_BLOCKED = (
    "ERR Another child process is active (AOF?): can't BGSAVE right now. "
    "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
)
REWRITE_IN_PROGRESS = "ERR Background append only file rewriting already in progress"


class BackgroundJobs:
    """The queue and the running job of one store (see the module docstring)."""

    def __init__(self, runner: ShardRunner, clock: Clock, worker: str, fork_worker: Any = None) -> None:
        assert worker in ("thread", "fork", "inline"), worker
        assert worker != "fork" or fork_worker is not None, "fork needs the fork worker class"
        self._runner = runner
        self._clock = clock
        self._worker = worker
        self._condition = new_condition()
        self._queue: collections.deque[JobRequest] = collections.deque()
        self._active: ActiveJob | None = None
        self._driving = False
        self._pass_ids = itertools.count(1)
        now_ms = clock.now_ms()
        self.records = [JobRecord(last_save_ms=now_ms) for _ in runner.shards]
        self._steps = JobSteps(runner, clock, worker, fork_worker, self.records)

    @property
    def wakeup(self) -> Any:
        """Called (on the worker's thread) when a worker has finished."""
        return self._steps.wakeup

    @wakeup.setter
    def wakeup(self, callback: Any) -> None:
        self._steps.wakeup = callback

    # -- requests ---------------------------------------------------------------------------

    def request_bgsave(self, schedule: bool = False, *, may_commit: bool = True) -> str:
        """BGSAVE [SCHEDULE]: "started" or "scheduled", or CommandError with Redis's text
        (`may_commit` as for `poll`)."""
        with self._condition:
            if self.running_or_queued(JobKind.SNAPSHOT, scheduled=False):
                raise CommandError(BGSAVE_IN_PROGRESS)
            if self.running_or_queued(JobKind.REWRITE):
                if not schedule:
                    raise CommandError(BGSAVE_BLOCKED)
                if not self.running_or_queued(JobKind.SNAPSHOT):
                    self._enqueue(JobKind.SNAPSHOT, self._snapshot_shards(), scheduled=True, reason="requested")
                return "scheduled"
            self._enqueue(JobKind.SNAPSHOT, self._snapshot_shards(), scheduled=False, reason="requested")
        self.poll(may_commit=may_commit)
        return "started"

    def request_bgrewriteaof(self, *, may_commit: bool = True) -> str:
        """BGREWRITEAOF: "started" or "scheduled", or CommandError with Redis's text."""
        with self._condition:
            if self.running_or_queued(JobKind.REWRITE, scheduled=False):
                raise CommandError(REWRITE_IN_PROGRESS)
            if self.running_or_queued(JobKind.SNAPSHOT):
                if not self.running_or_queued(JobKind.REWRITE):
                    self._enqueue(JobKind.REWRITE, self._log_shards(), scheduled=True, reason="requested")
                return "scheduled"
            self._enqueue(JobKind.REWRITE, self._log_shards(), scheduled=False, reason="requested")
        self.poll(may_commit=may_commit)
        return "started"

    def _snapshot_shards(self) -> list[int]:
        return [shard.index for shard in self._runner.shards if shard.file_system is not None]

    def _log_shards(self) -> list[int]:
        return [shard.index for shard in self._runner.shards if shard.writer is not None]

    def _enqueue(self, kind: JobKind, indexes: list[int], *, scheduled: bool, reason: str) -> None:
        pass_id = next(self._pass_ids)
        self._queue.extend(JobRequest(kind, index, pass_id, scheduled, reason) for index in indexes)

    def running_or_queued(self, kind: JobKind, *, scheduled: bool | None = None, shard: int | None = None) -> bool:
        requests = list(self._queue) + ([self._active.request] if self._active is not None else [])
        return any(request.kind is kind and (scheduled is None or request.scheduled == scheduled)
                   and (shard is None or request.shard_index == shard) for request in requests)

    # -- driving ----------------------------------------------------------------------------

    def poll(self, *, may_commit: bool = True) -> None:
        """Drive the jobs: finish a job whose worker is done (commit or abort, on the owner),
        start the next one, evaluate save points and auto-rewrite. In `inline` mode, one step.
        A second caller while one drives returns at once. `may_commit=False`: a running job
        is left alone (its owner has an fsync of the live log in flight); only a start.
        """
        with self._condition:
            if self._driving or self._runner.closed:
                return
            self._driving = True
        try:
            if may_commit or self._active is None:
                self._drive()
        finally:
            with self._condition:
                self._driving = False
                self._condition.notify_all()

    def _drive(self) -> None:
        active = self._active
        if active is not None:
            if not self._steps.advance(active):
                return
            with self._condition:
                self._active = None
            if self._worker == "inline":
                return  # the commit was this poll's step
        if not self._queue:
            self._queue_triggered_jobs()
        self._start_next()

    def _start_next(self) -> None:
        with self._condition:
            if not self._queue or self._active is not None:
                return
            request = self._queue.popleft()
            for queued in self._queue:
                if queued.pass_id == request.pass_id:
                    queued.scheduled = False  # its pass has started
            request.scheduled = False
        active = self._steps.freeze(request)
        if active is None:
            return
        with self._condition:
            self._active = active
        self._steps.launch(active)

    def _queue_triggered_jobs(self) -> None:
        """Save points, then (if none is due) auto-rewrite; only when nothing runs or waits."""
        config = self._runner.config
        now_ms = self._clock.now_ms()
        with self._condition:
            if self._active is not None or self._queue:
                return
            due = [
                shard.index for shard in self._runner.shards
                if config.save_points and shard.file_system is not None
                and save_points.due_save_point(
                    config.save_points, shard.changes_since_save, now_ms - self.records[shard.index].last_save_ms,
                    not self.records[shard.index].last_bgsave_ok,
                    now_ms - self.records[shard.index].last_bgsave_attempt_ms,
                ) is not None
            ]
            if due:
                self._enqueue(JobKind.SNAPSHOT, due, scheduled=False, reason="save-point")
                return
            grown = [shard.index for shard in self._runner.shards if shard.failure is None and shard.rewrite_due(config)]
            if grown:
                self._enqueue(JobKind.REWRITE, grown, scheduled=False, reason="auto")

    def commit_ready(self) -> bool:
        """A job's off-the-lock work is over: the next `poll()` ends it (commit or abort); an
        inline job always has a step to run."""
        active = self._active
        return active is not None and (active.worker is None or active.worker.done)

    def busy(self) -> bool:
        """A job runs or waits (an owner evaluates nothing else meanwhile)."""
        return self._active is not None or bool(self._queue)

    # -- waiting and cancelling -------------------------------------------------------------

    def wait(self, shard_index: int | None = None, *, queued_too: bool = True) -> None:
        """Return when no job runs (on `shard_index`, or anywhere) and, with `queued_too`,
        none waits; drives the jobs meanwhile (the worker's progress, then its commit)."""
        while True:
            with self._condition:
                if self._runner.closed or not self._busy(shard_index, queued_too):
                    return
                if self._driving:
                    self._condition.wait()
                    continue
                active = self._active
            if active is not None and active.worker is not None:
                active.worker.wait()
            self.poll()

    def _busy(self, shard_index: int | None, queued_too: bool) -> bool:
        active = self._active
        if active is not None and (shard_index is None or active.request.shard_index == shard_index):
            return True
        return queued_too and any(shard_index is None or request.shard_index == shard_index for request in self._queue)

    def cancel_all(self) -> None:
        """Drop the queue and abort the running job (at shutdown): its temps are removed."""
        with self._condition:
            self._queue.clear()
            while self._driving:
                self._condition.wait()
            active, self._active = self._active, None
            self._driving = True
        try:
            if active is None:
                return
            active.cancelled = True
            if active.worker is not None:
                cancel = getattr(active.worker, "cancel", None)
                if cancel is not None:
                    cancel()  # a forked child is killed
                active.worker.wait()
            self._steps.abort(active, JobCancelledError("cancelled at shutdown"))
        finally:
            with self._condition:
                self._driving = False
                self._condition.notify_all()

    # -- figures ----------------------------------------------------------------------------

    def note_synchronous_save(self, shard_index: int) -> None:
        """A SAVE of the shard succeeded: it counts as the last save (Redis's `lastsave`)."""
        self.records[shard_index].last_save_ms = self._clock.now_ms()

    def info(self, shard_index: int) -> ShardPersistenceInfo:
        with self._condition:
            active = self._active if self._active is not None and self._active.request.shard_index == shard_index \
                else None
            queued = [(request.kind, request.scheduled) for request in self._queue if request.shard_index == shard_index]
        running = None
        if active is not None:
            running = (active.request.kind, active.job.phase.value,
                       (self._clock.monotonic_ms() - active.started_ms) // 1000)
        return shard_figures(self._runner.shards[shard_index], self.records[shard_index], running, queued)
