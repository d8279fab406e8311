"""Consumer groups of a stream: the last delivered ID, the read counter, consumers, the PEL.

What it models (Redis 7.0's streamCG / streamConsumer / streamNACK):
- `ConsumerGroup.pending` is the group's pending entries list (PEL): entry ID -> who holds
  it, when it was last delivered (unix ms) and how many times. Every pending ID is also in
  exactly one consumer's own `pending` (a sorted list of IDs); `check_invariants` asserts
  that pairing, which every mutation here keeps.
- A pending ID may name an entry the stream no longer holds (deleted while pending): such a
  tombstone row stays until acknowledged or claimed, as in Redis and kevy 1.23.
- `entries_read` is Redis's logical read counter, `INVALID_ENTRIES_READ` (-1) when unknown;
  the rules that advance or estimate it are in `stream.py`, which knows the entries.
- Consumer `seen_time_ms` is the last time the consumer was looked up by a command that
  refreshes it (XREADGROUP, XCLAIM, XAUTOCLAIM), as XINFO CONSUMERS' idle time shows.

Groups and consumers are kept in dicts and listed sorted by name, which is the order of
Redis's radix trees. No time is read here: every time comes in as an argument.
"""

from __future__ import annotations

from sortedcontainers import SortedDict, SortedList

# The snapshot format stores a delivery count as a u32; commands keep counts within it.
from kevy_persist.formats.snapshot_stream import MAXIMUM_DELIVERY_COUNT

INVALID_ENTRIES_READ = -1
__all__ = ["INVALID_ENTRIES_READ", "MAXIMUM_DELIVERY_COUNT", "Consumer", "ConsumerGroup", "PendingEntry"]


class PendingEntry:
    """One PEL row: the owning consumer's name, last delivery time, delivery count."""

    __slots__ = ("consumer", "delivery_time_ms", "delivery_count")

    def __init__(self, consumer: bytes, delivery_time_ms: int, delivery_count: int) -> None:
        self.consumer = consumer
        self.delivery_time_ms = delivery_time_ms
        self.delivery_count = delivery_count

    def as_tuple(self) -> tuple[bytes, int, int]:
        return self.consumer, self.delivery_time_ms, self.delivery_count

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PendingEntry):
            return NotImplemented
        return self.as_tuple() == other.as_tuple()

    def __repr__(self) -> str:
        return f"PendingEntry{self.as_tuple()!r}"


class Consumer:
    """A consumer of a group: its name, when it was last seen, the IDs it holds."""

    __slots__ = ("name", "seen_time_ms", "pending")

    def __init__(self, name: bytes, seen_time_ms: int) -> None:
        self.name = name
        self.seen_time_ms = seen_time_ms
        self.pending: SortedList = SortedList()

    def copy(self) -> Consumer:
        duplicate = Consumer(self.name, self.seen_time_ms)
        duplicate.pending = SortedList(self.pending)
        return duplicate


class ConsumerGroup:
    """One consumer group (see the module docstring)."""

    __slots__ = ("name", "last_delivered", "entries_read", "pending", "consumers")

    def __init__(self, name: bytes, last_delivered: int, entries_read: int) -> None:
        assert entries_read >= INVALID_ENTRIES_READ
        self.name = name
        self.last_delivered = last_delivered
        self.entries_read = entries_read
        self.pending: SortedDict = SortedDict()  # entry ID -> PendingEntry
        self.consumers: dict[bytes, Consumer] = {}

    def copy(self) -> ConsumerGroup:
        duplicate = ConsumerGroup(self.name, self.last_delivered, self.entries_read)
        duplicate.pending = SortedDict(
            (entry_id, PendingEntry(*row.as_tuple())) for entry_id, row in self.pending.items()
        )
        duplicate.consumers = {name: consumer.copy() for name, consumer in self.consumers.items()}
        return duplicate

    # -- consumers --------------------------------------------------------------------

    def sorted_consumers(self) -> list[Consumer]:
        return [self.consumers[name] for name in sorted(self.consumers)]

    def find_consumer(self, name: bytes, now_ms: int | None) -> Consumer | None:
        """The consumer, its seen time refreshed to `now_ms` unless that is None."""
        consumer = self.consumers.get(name)
        if consumer is not None and now_ms is not None:
            consumer.seen_time_ms = now_ms
        return consumer

    def create_consumer(self, name: bytes, now_ms: int) -> Consumer | None:
        """A new consumer, or None when one of that name exists (XGROUP CREATECONSUMER)."""
        if name in self.consumers:
            return None
        consumer = Consumer(name, now_ms)
        self.consumers[name] = consumer
        return consumer

    def consumer_for_delivery(self, name: bytes, now_ms: int) -> tuple[Consumer, bool]:
        """The consumer (refreshed) or a new one; whether it was created."""
        consumer = self.find_consumer(name, now_ms)
        if consumer is not None:
            return consumer, False
        consumer = Consumer(name, now_ms)
        self.consumers[name] = consumer
        return consumer, True

    def delete_consumer(self, name: bytes) -> int | None:
        """Remove a consumer and its PEL rows; how many it held (None: no such consumer)."""
        consumer = self.consumers.pop(name, None)
        if consumer is None:
            return None
        for entry_id in consumer.pending:
            del self.pending[entry_id]
        return len(consumer.pending)

    # -- the pending entries list -------------------------------------------------------

    def assign(self, entry_id: int, consumer: Consumer, delivery_time_ms: int, delivery_count: int) -> None:
        """Make `consumer` the holder of `entry_id` with this delivery time and count,
        creating the PEL row or moving it from its previous holder."""
        row = self.pending.get(entry_id)
        if row is None:
            self.pending[entry_id] = PendingEntry(consumer.name, delivery_time_ms, delivery_count)
            consumer.pending.add(entry_id)
            return
        if row.consumer != consumer.name:
            self.consumers[row.consumer].pending.remove(entry_id)
            consumer.pending.add(entry_id)
            row.consumer = consumer.name
        row.delivery_time_ms = delivery_time_ms
        row.delivery_count = delivery_count

    def acknowledge(self, entry_id: int) -> bool:
        """Drop the PEL row of `entry_id` (XACK); True when there was one."""
        row = self.pending.pop(entry_id, None)
        if row is None:
            return False
        self.consumers[row.consumer].pending.remove(entry_id)
        return True

    def load_pending(self, entry_id: int, consumer_name: bytes, delivery_time_ms: int, delivery_count: int) -> None:
        """A PEL row from a snapshot; an owner missing from the roster is added (seen at 0),
        as kevy 1.23 does."""
        consumer = self.consumers.get(consumer_name)
        if consumer is None:
            consumer = self.consumers[consumer_name] = Consumer(consumer_name, 0)
        self.assign(entry_id, consumer, delivery_time_ms, delivery_count)

    # -- comparison and checks ---------------------------------------------------------

    def state(self) -> tuple:
        """Everything but consumers' seen times, for comparisons (seen times follow the
        clock of whoever touched the consumer last; see specs/commands.md)."""
        return (
            self.name,
            self.last_delivered,
            self.entries_read,
            [(entry_id, row.as_tuple()) for entry_id, row in self.pending.items()],
            sorted((name, list(consumer.pending)) for name, consumer in self.consumers.items()),
        )

    def check_invariants(self) -> None:
        held = 0
        for name, consumer in self.consumers.items():
            assert consumer.name == name
            for entry_id in consumer.pending:
                assert self.pending[entry_id].consumer == name, "a consumer holds a row it does not own"
            held += len(consumer.pending)
        assert held == len(self.pending), "every PEL row is held by exactly one consumer"
