"""One background job from its freeze to its end: where each step runs, and how the end is recorded.

What it models (the steps of the engine's job protocol, `engine/background_job.py`; which
job runs when is `background.py`'s):
- `freeze`: on the caller that starts the job, under the shard's lock; with the `"fork"`
  worker the child is forked there, so its memory is the keyspace at the freeze;
- serialize, install the snapshot, copy the tee: on the worker -- a paced daemon thread
  (`"thread"`; it yields the GIL between chunks and can be cancelled between them), a forked
  child for the serialize then a thread for the rest (`"fork"`), or, with `"inline"`, one
  step per `advance` on the driver (deterministic tests, the crash simulator);
- `advance` on the driver ends the job once its worker is done: the tee written since the
  worker's last copy is copied off the lock, then the commit runs under the shard's lock and
  the group commit's exclusive section (no fsync of the live log in flight); a failure or a
  cancellation aborts instead, leaving the live files as they were (or, after the log's
  rename, the shard refusing writes);
- the replaced log is closed off the lock (its blocks are freed on a thread of its own).

Guarantees: every job that started ends in exactly one `job_committed` or `job_failed`
metric and one update of its shard's `JobRecord` (the figures INFO persistence shows).
"""

from __future__ import annotations

from typing import Any

import attrs

from kevy_persist.disk.clock import Clock
from kevy_persist.engine.background_job import BackgroundJob, JobCancelledError, free_in_chunks
from kevy_persist.engine.background_protocol import JobKind, Phase
from kevy_persist.errors import KevyError
from kevy_persist.store.persistence_info import JobRecord
from kevy_persist.store.runtime import DutyCyclePacer, WorkerThread, precise_seconds
from kevy_persist.store.shard_runner import ShardRunner, emit

__all__ = ["ActiveJob", "JobRequest", "JobSteps"]

# The tee is copied again while a copy took more than this many bytes: what is left for the
# commit (on the owner, under the lock) is then small.
COPY_AGAIN_BYTES = 64 * 1024
MAX_COPY_ROUNDS = 8
# The pacing of the thread worker charges one chunk at most this much CPU (see `_pacer`).
MAX_CHUNK_CPU_SECONDS = 0.02


@attrs.define
class JobRequest:
    kind: JobKind
    shard_index: int
    pass_id: int  # the requests made together (one BGSAVE of every shard) share it
    scheduled: bool  # waiting for another kind of job to end (BGSAVE SCHEDULE, ...)
    reason: str  # "requested" | "save-point" | "auto"


@attrs.define
class ActiveJob:
    request: JobRequest
    job: BackgroundJob
    worker: Any  # WorkerThread | ForkedChild | None (inline)
    started_ms: int
    freeze_hold_seconds: float
    cancelled: bool = False
    pace: Any = None  # the thread worker's between-chunks callback (None: no pacing)
    serialize_seconds: float = 0.0  # the worker's wall time for serialize (thread worker)


class JobSteps:
    """Runs the steps of one job at a time for `BackgroundJobs` (see the module docstring)."""

    def __init__(self, runner: ShardRunner, clock: Clock, worker: str, fork_worker: Any,
                 records: list[JobRecord]) -> None:
        self._runner = runner
        self._clock = clock
        self._worker = worker
        self._fork_worker = fork_worker
        self._records = records  # shared with `BackgroundJobs`, one per shard
        self.wakeup: Any = None  # called (on the worker's thread) when a worker has finished

    def freeze(self, request: JobRequest) -> ActiveJob | None:
        """Freeze the request's shard under its lock (a forked child starts there too); None
        when there is nothing to run (the store closed, a rewrite of a shard without a log).
        A thread worker is made, not started: `launch` starts it once the job is published."""
        index = request.shard_index
        shard = self._runner.shards[index]
        with self._runner.locks[index]:
            if self._runner.closed or (request.kind is JobKind.REWRITE and shard.writer is None):
                return None
            started = precise_seconds()
            job = BackgroundJob.freeze(shard, request.kind, copy_view=self._worker != "fork")
            worker = None
            if self._worker == "fork":
                # Still under the lock: the child's memory is the keyspace at the freeze.
                worker = self._fork_worker(lambda: job.serialize(shard.keyspace.iter_entries()))
                worker.start()
            hold = precise_seconds() - started
        active = ActiveJob(request, job, worker, self._clock.monotonic_ms(), hold)
        if self._worker == "thread":
            active.worker = WorkerThread(lambda: self._work_off_lock(active), name=f"kevy-{request.kind.value}-{index}",
                                         finished=self.wakeup)
        return active

    def launch(self, active: ActiveJob) -> None:
        """The job is published as the running one: start its thread worker, record it."""
        request, index = active.request, active.request.shard_index
        if self._worker == "thread":
            active.worker.start()
        if request.kind is JobKind.SNAPSHOT:
            self._records[index].last_bgsave_attempt_ms = self._clock.now_ms()
        emit(self._runner.config, "job_started", index, {
            "job": request.kind.value, "reason": request.reason, "keys": active.job.keys_at_freeze,
            "freeze_hold_us": round(active.freeze_hold_seconds * 1e6), "worker": self._worker,
        })

    def advance(self, active: ActiveJob) -> bool:
        """Move `active` on; True once it has ended (committed, aborted or failed)."""
        job = active.job
        if self._worker == "inline":
            return self._step_inline(active)
        if not active.worker.done:
            return False
        if active.worker.error is not None or active.cancelled:
            self.abort(active, active.worker.error or JobCancelledError("cancelled"))
            return True
        try:
            if self._worker == "fork" and job.phase is Phase.FROZEN:
                # The child wrote the temp. Installing it and copying the tee of the whole
                # save -- seconds of writes -- go to a thread, as the thread worker does them,
                # not to the driver (a server's event loop); the commit follows when it is done.
                job.adopt_serialized()
                active.pace = self._pacer(active)
                active.worker = WorkerThread(lambda: self._install_and_copy(active),
                                             name=f"kevy-{job.kind.value}-copy-{job.shard.index}", finished=self.wakeup)
                active.worker.start()
                return False
            # Log written since the worker's last copy (it may have finished a tick ago):
            # copied here, off the lock, so the commit only writes the last few.
            self._copy_tee(active)
        except KevyError as error:
            self.abort(active, error)
            return True
        self._commit(active)
        return True

    def _step_inline(self, active: ActiveJob) -> bool:
        job = active.job
        try:
            if job.phase is Phase.FROZEN:
                job.serialize()
                return False
            if job.phase is Phase.SERIALIZED and job.kind is JobKind.SNAPSHOT:
                job.install_snapshot()
                return False
            if job.has_log and job.phase is not Phase.TEE_COPIED:
                with self._runner.locks[job.shard.index]:
                    records = job.take_tee()
                job.copy_tee(records)
                return False
        except KevyError as error:
            self.abort(active, error)
            return True
        self._commit(active)
        return True

    def _work_off_lock(self, active: ActiveJob) -> None:
        """The thread worker: serialize, then copy the tee; a failure is left to the owner."""
        active.pace = self._pacer(active)
        started = precise_seconds()
        active.job.serialize(between_chunks=active.pace)
        active.serialize_seconds = precise_seconds() - started
        # The view is read no more: end the copy-on-write and free its maps here, in chunks,
        # rather than on the driver at the commit (a server's loop would stall for it).
        with self._runner.locks[active.job.shard.index]:
            frozen = active.job.release_view()
        free_in_chunks(frozen, active.pace)
        self._install_and_copy(active)

    def _pacer(self, active: ActiveJob) -> DutyCyclePacer:
        """The thread worker's `between_chunks`: cancellation, then the duty cycle (under the
        GIL this thread competes with request handling for the one interpreter)."""

        def cancelled() -> None:
            if active.cancelled:
                raise JobCancelledError("the job was cancelled")

        return DutyCyclePacer(self._runner.config.background_cpu_share, MAX_CHUNK_CPU_SECONDS, cancelled)

    def _install_and_copy(self, active: ActiveJob) -> None:
        """Off the lock: install a snapshot job's snapshot, then copy the tee in rounds until
        little is left for the commit (each take is a moment under the lock)."""
        job = active.job
        if job.kind is JobKind.SNAPSHOT:
            job.install_snapshot()
        self._copy_tee(active)

    def _copy_tee(self, active: ActiveJob) -> None:
        job = active.job
        if not job.has_log:
            return
        previous = None
        for _ in range(MAX_COPY_ROUNDS):
            with self._runner.locks[job.shard.index]:
                start, end = job.take_tee()
            if active.pace is not None:
                active.pace.restart()
            job.copy_tee((start, end), between_chunks=active.pace)
            if end - start <= COPY_AGAIN_BYTES or active.cancelled:
                return
            if previous is not None and end - start >= previous:
                # Writers outpace the paced copy: another round would only be bigger (each
                # round copies what arrived during the last), growing geometrically. The
                # commit copies the rest under the lock, bounded by this round's size.
                return
            previous = end - start

    def _commit(self, active: ActiveJob) -> None:
        job = active.job
        index = job.shard.index
        shard = job.shard
        group_commit = self._runner.group_commits[index]
        error: KevyError | None = None
        started = precise_seconds()
        with self._runner.locks[index], group_commit.exclusive():
            writer_before = shard.writer
            try:
                job.commit()
            except KevyError as failure:
                error = failure
                if shard.writer is not writer_before:
                    group_commit.fail(failure)  # the new log is live, its name may not be durable
            else:
                group_commit.reset(shard.synced_offset)
        hold = precise_seconds() - started
        self._close_retired(job)
        self._finished(active, error, commit_hold_seconds=hold)

    def abort(self, active: ActiveJob, error: BaseException) -> None:
        with self._runner.locks[active.job.shard.index]:
            active.job.abort(error)
        self._close_retired(active.job)
        self._finished(active, error, commit_hold_seconds=0.0)

    def _close_retired(self, job: BackgroundJob) -> None:
        """Off the lock: the replaced log's last close frees its blocks (tens of ms for a big
        file). With a worker that runs on a thread of its own (the close releases the
        interpreter), so the driver -- a server's event loop -- does not wait for it; inline
        (deterministic runs) here."""
        if self._worker == "inline":
            job.close_retired_files()
        else:
            WorkerThread(job.close_retired_files, name="kevy-close-retired").start()

    def _finished(self, active: ActiveJob, error: BaseException | None, *, commit_hold_seconds: float) -> None:
        job = active.job
        index = job.shard.index
        record = self._records[index]
        seconds = (self._clock.monotonic_ms() - active.started_ms) // 1000
        ok = error is None
        if job.kind is JobKind.SNAPSHOT:
            record.last_bgsave_ok, record.last_bgsave_seconds = ok, seconds
            record.bgsaves += ok
            if ok:
                record.last_save_ms = self._clock.now_ms()
        else:
            record.last_rewrite_ok, record.last_rewrite_seconds = ok, seconds
            record.rewrites += ok
        record.failures += not ok
        fields = {
            "job": job.kind.value, "reason": active.request.reason, "phase": job.phase.value,
            "keys": job.keys_at_freeze, "serialized_bytes": job.serialized_bytes,
            "tee_bytes": job.tee_bytes,
            "freeze_hold_us": round(active.freeze_hold_seconds * 1e6),
            "serialize_ms": round(active.serialize_seconds * 1e3),
            "commit_hold_us": round(commit_hold_seconds * 1e6),
            "elapsed_ms": self._clock.monotonic_ms() - active.started_ms,
            "log_bytes": job.shard.log_size_bytes,
        }
        if ok:
            emit(self._runner.config, "job_committed", index, fields)
        else:
            emit(self._runner.config, "job_failed", index, {**fields, "error": str(error)})
