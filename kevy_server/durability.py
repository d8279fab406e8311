"""Group commit for the event loop: fsyncs on a helper thread, replies held until they land.

The loop writes each shard's records of a turn with one write (`OwnedShards.write_pending`).
Under `appendfsync always` the turn's replies may leave only once an fsync covers those
records; `SyncWorker` runs that fsync on its own thread, so the loop keeps reading and
running commands while the disk works, and wakes the loop when it is done.

Barriers. Every sync request carries a sequence number (1, 2, ...). A turn that wrote under
`always` requests the next number and its output is held behind it; a turn that wrote
nothing while a requested sync is still unfinished is held behind that one too (its reads may
have seen the records that sync covers: a reply never shows data a crash could take back).
Requests that queue up while a sync runs are served by one fsync per shard (group commit
across turns). `completed` only grows; held output with a barrier <= `completed` may be sent.

Failures. An fsync that fails leaves its shard refusing writes (the shard records it); the
replies of the writes it should have covered are replaced by that MISCONF error before they
are released (`patches`), so nothing is acknowledged that was not made durable.

`SyncWorker` touches only `OwnedShards.sync` (which the shard allows concurrently with
appends); everything else here runs on the loop's thread.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from collections.abc import Callable

from kevy_persist import KevyError

__all__ = ["Durability", "LoggedSlot", "SyncWorker", "slot_shards"]

log = logging.getLogger("kevy_server")

# A reply whose command logged records: (the chunk list it sits in, its index there, and the
# range of the turn's logged-shard list its command appended), kept as plain positions so
# the hot path builds one small tuple per write and the shards are looked up only on failure.
LoggedSlot = tuple[list[bytes], int, int, int]


def slot_shards(slot: LoggedSlot, logged: list[int]) -> set[int]:
    return set(logged[slot[2] : slot[3]])


class SyncWorker:
    """A daemon thread that fsyncs the shards it is asked to and reports each round."""

    def __init__(self, sync: Callable[[int], int], notify: socket.socket) -> None:
        self._sync = sync
        self._notify = notify
        self._condition = threading.Condition()
        self._requests: list[tuple[int, frozenset[int]]] = []
        self._completed: deque[tuple[int, dict[int, str]]] = deque()
        self._busy = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="kevy-fsync", daemon=True)
        self._thread.start()

    def submit(self, sequence: int, shards: frozenset[int]) -> None:
        with self._condition:
            self._requests.append((sequence, shards))
            self._condition.notify_all()

    def take_completed(self) -> list[tuple[int, dict[int, str]]]:
        """Rounds finished since the last call: (highest sequence covered, failed shards)."""
        with self._condition:
            done = list(self._completed)
            self._completed.clear()
            return done

    def wait_idle(self) -> None:
        """Block until every submitted request has been synced (SAVE, shutdown)."""
        with self._condition:
            while self._requests or self._busy:
                self._condition.wait()

    def stop(self) -> None:
        self.wait_idle()
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._requests and not self._stopping:
                    self._condition.wait()
                if self._stopping and not self._requests:
                    return
                requests, self._requests = self._requests, []
                self._busy = True
            sequence = max(number for number, _ in requests)
            shards = frozenset().union(*(wanted for _, wanted in requests))
            failures: dict[int, str] = {}
            for index in sorted(shards):
                try:
                    self._sync(index)
                except KevyError as error:
                    failures[index] = str(error)
                except Exception as error:  # noqa: BLE001 -- a bug here must not strand the loop's held replies
                    log.exception("fsync of shard %d failed unexpectedly", index)
                    failures[index] = f"MISCONF shard {index} refuses writes: fsync failed: {error}"
            with self._condition:
                self._completed.append((sequence, failures))
                self._busy = False
                self._condition.notify_all()
            try:
                self._notify.send(b"s")
            except OSError:
                pass  # the loop is gone: nobody waits for this round any more


class Durability:
    """The loop's side: sequence numbers, the replies to patch when an fsync fails."""

    def __init__(self, worker: SyncWorker, on_failed_shard: Callable[[int, str], None]) -> None:
        self.worker = worker
        self._on_failed_shard = on_failed_shard
        self.requested = 0
        self.completed = 0
        # sequence -> (slots of replies whose records that sync must cover, their turn's
        # logged-shard list)
        self._slots: dict[int, tuple[list[LoggedSlot], list[int]]] = {}
        self.sync_rounds = 0

    @property
    def pending(self) -> bool:
        return self.requested > self.completed

    def request(self, shards: frozenset[int], slots: list[LoggedSlot], logged: list[int]) -> int:
        """Ask for an fsync of `shards` covering the turn just written; its barrier."""
        self.requested += 1
        if slots:
            self._slots[self.requested] = (slots, logged)
        self.worker.submit(self.requested, shards)
        return self.requested

    def barrier_for_reads(self) -> int:
        """The barrier for a turn that wrote nothing: the last unfinished sync, or 0."""
        return self.requested if self.requested > self.completed else 0

    def absorb_completions(self, encode_error: Callable[[list[bytes], int, str], None]) -> bool:
        """Take finished rounds; patch the replies of failed shards. True if any finished."""
        rounds = self.worker.take_completed()
        for sequence, failures in rounds:
            self.sync_rounds += 1
            for shard, reason in failures.items():
                self._on_failed_shard(shard, reason)
            covered = [number for number in self._slots if number <= sequence]
            for number in covered:
                slots, logged = self._slots.pop(number)
                if failures:
                    for slot in slots:
                        failed = [failures[shard] for shard in sorted(slot_shards(slot, logged)) if shard in failures]
                        if failed:
                            encode_error(slot[0], slot[1], failed[0])
            self.completed = max(self.completed, sequence)
        return bool(rounds)

    def wait_all(self, encode_error: Callable[[list[bytes], int, str], None]) -> None:
        """Block until every requested sync finished (before SAVE, rewrite, shutdown)."""
        self.worker.wait_idle()
        self.absorb_completions(encode_error)
        assert self.completed == self.requested
