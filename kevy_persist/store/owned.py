"""Single-owner access to a store's shards: no locks, one log write per shard per batch.

`Store` is thread-safe: every command takes its shard's lock and appends its own log record.
An event loop that is the only user of the shards (kevy-server) needs neither: it runs many
commands, then writes each shard's records of that batch in one `write` before any reply of
the batch leaves, then (under `always`) has one fsync cover them all. `OwnedShards` is that
path. `single_owner(store)` (in `store.py`) hands a store's shards to it.

The write discipline, per shard:
1. `execute` applies a command to the keyspace and encodes its log records (the DELs of keys
   that expiry reaped, then the command's own; several records are bracketed so a crash
   cannot keep half of them) into the shard's pending buffer -- nothing is written yet;
2. `write_pending` writes each non-empty buffer with one `write` (the caller sends no reply of
   the batch before this);
3. `sync` (safe to run on another thread while the owner keeps appending, as the shard's
   contract allows for `sync_log`) makes the log durable up to the offset it returns.
A buffer that cannot be written puts its shard in the refusing state (MISCONF) and
`write_pending` reports which shards failed, so the caller answers that batch's writes on
them with the error instead of acknowledging them.

Lifecycle calls (save, rewrite, shutdown, appendfsync) still go through the `Store`, from the
owner's thread, after `write_pending` and with no `sync` in flight. Background jobs too
(`Store.bgsave` / `bgrewriteaof` / `poll_background`): a job is frozen only with every buffer
written (the view must equal the log's end offset), and committed only with no `sync` in
flight (`may_commit=False` otherwise); its worker serializes while the owner keeps appending.

Databases: the owner drives every open database's shards as one flat list of *slots*:
database 0's shards first, then a block of empty in-memory stand-ins that every database
not yet written points at (a read there sees an empty database), then each database opened
since, in the order it was opened. `select(n)` picks the database the following commands
run in (`shard_for_key`, `execute_routed` and the multi-shard handlers work within it);
`bases[n]` is its first slot, so a slot never changes database and the loop's per-shard
write and fsync bookkeeping needs no change. The first write to a stand-in opens the
database (`Store.database`) and re-runs the command on its real shard.

`observer`, when set, is called after every command (and every expiry) that changed a shard,
with the shard index, the command, the keys reaped by expiry and the command's log records: what the
server needs for WATCH, blocked clients and keyspace notifications, at no cost when unset.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
from crc32c import crc32c

from kevy_persist.commands import COMMAND_TABLE, ErrorReply, unknown_command_message
from kevy_persist.commands.context import Blocking, CommandError, wrong_arity
from kevy_persist.commands.key_positions import command_keys
from kevy_persist.commands.table import lookup_spec
from kevy_persist.disk.clock import Clock
from kevy_persist.engine.log_compat import records_for_format
from kevy_persist.engine.shard import RESERVED_KEY_ERROR, Shard
from kevy_persist.engine.transaction_log import bracket
from kevy_persist.errors import KevyError, StorageIOError, WritesRefusedError
from kevy_persist.formats.aof_format import MAX_RECORD_BYTES
from kevy_persist.formats.log_markers import (
    RESERVED_KEY_PREFIX,
    transaction_begin_argv,
    transaction_commit_argv,
)
from kevy_persist.formats.resp import encode_command
from kevy_persist.store import multishard
from kevy_persist.store.runtime import GroupCommit
from kevy_persist.store.shard_runner import ShardRunner, emit

__all__ = ["CROSSSLOT", "OwnedShards", "encode_frame"]

CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot"
_DEL = b"DEL"
_RECORD_HEADER = struct.Struct("<II")
_NUL = b"\x00"
_pack_command = hiredis.pack_command
_NONE_EXPIRED: list[bytes] = []  # never appended to: `execute`'s "nothing reaped"

# name as sent (lower and upper case) -> (handler, arity, writes, single_key); other casings
# fall back. `single_key`: the command's only key is argv[1] (GET, SET, INCR, LPUSH, HSET...),
# so the reserved-key check is one `startswith` of that argument.
_DISPATCH: dict[bytes, tuple[Any, int, bool, bool]] = {}


def _entry(spec: Any) -> tuple[Any, int, bool, bool]:
    assert not spec.single_key or abs(spec.arity) >= 2, "the arity check must guarantee argv[1]"
    return spec.handler, spec.arity, spec.writes, spec.single_key


for _name, _spec in COMMAND_TABLE.items():
    _DISPATCH[_name] = _DISPATCH[_name.upper()] = _entry(_spec)

Observer = Callable[[int, Sequence[bytes], list[bytes], Sequence[list[bytes]]], None]


def encode_frame(argv: Sequence[bytes]) -> bytes:
    """The RESP multibulk frame of `argv`, encoded in C by hiredis (bytes arguments only).

    Not the request's own bytes, even when the command is logged verbatim: hiredis (like
    Redis) accepts frames that are not canonical (any two bytes after a bulk, `+simple`
    elements), and proving a frame canonical costs more in Python than this C encoding."""
    try:
        return _pack_command(tuple(argv))
    except TypeError:  # an argument that is not bytes (a bytearray from a command): the slow way
        return encode_command(argv)


UNOPENED = "the database was never written (a stand-in: the first write opens it)"


class OwnedShards:
    """The shards of one store, driven by a single thread (see the module docstring)."""

    def __init__(self, runner: ShardRunner, clock: Clock, open_database: Callable[[int], ShardRunner] | None = None,
                 database_count: int = 1) -> None:
        self.runner = runner
        count = runner.shard_count
        self.shards: list[Shard] = list(runner.shards)
        self.group_commits = list(runner.group_commits)
        self.router = runner.router
        self._clock = clock
        self.context = runner.context()  # one context, refreshed by `refresh_clock`
        self.pending = [bytearray() for _ in self.shards]
        # The selected database, its first slot, and each database's first slot.
        self.selected = 0
        self.base = 0
        self.bases = [0] + [count] * (database_count - 1)
        self.slot_databases = [0] * count  # slot -> database (stand-ins: -1)
        self.runners: dict[int, ShardRunner] = {0: runner}
        self._open_database = open_database
        if database_count > 1:
            for index in range(count):
                stand_in = Shard.in_memory(clock, index)
                stand_in.failure = UNOPENED
                self.shards.append(stand_in)
                self.group_commits.append(GroupCommit(stand_in.sync_log))
                self.pending.append(bytearray())
                self.slot_databases.append(-1)
        self.observer: Observer | None = None
        # Shard index per command that logged since the last `write_pending` (in order), so
        # the caller can tell which replies depend on which shard's write.
        self.logged_shards: list[int] = []
        self._open_blocks: dict[int, int] = {}  # shard -> records logged inside its block

    @property
    def shard_count(self) -> int:
        """Shards per database (the layout)."""
        return self.runner.shard_count

    @property
    def slot_count(self) -> int:
        """Slots of every database (housekeeping runs over all of them)."""
        return len(self.shards)

    @property
    def config(self) -> Any:
        return self.runner.config

    def refresh_clock(self) -> int:
        """Read the clock once for the commands that follow (a batch shares one `now`)."""
        now_ms = self._clock.now_ms()
        context = self.context
        context.now_ms = now_ms
        if not context.loading:
            context.lookup_now_ms = now_ms
        return now_ms

    def check_open(self) -> None:
        self.runner.check_open()

    # -- commands -----------------------------------------------------------------------------

    def execute(self, index: int, argv: list[bytes]) -> Any:
        """Run `argv` on shard `index`: its reply; the records wait in the shard's buffer."""
        entry = _DISPATCH.get(argv[0])
        if entry is None:
            spec = lookup_spec(argv[0])
            if spec is None:
                return ErrorReply(unknown_command_message(argv))
            entry = _entry(spec)
        handler, arity, writes, single_key = entry
        argc = len(argv)
        if argc != arity and (arity > 0 or argc < -arity):
            return ErrorReply(wrong_arity(argv[0]))
        shard = self.shards[index]
        if writes and shard.failure is not None:
            if shard.failure is UNOPENED:
                return self.execute(self._open_selected(index), argv)
            return ErrorReply(str(WritesRefusedError(index, shard.failure)))
        # The reserved-key check: for a single-key command (the arity check above guarantees
        # argv[1]), that key's prefix; otherwise key positions are looked at only when some
        # argument has a NUL at all, which one C-level join and search answer.
        if single_key:
            if argv[1].startswith(RESERVED_KEY_PREFIX):
                return ErrorReply(RESERVED_KEY_ERROR)
        elif _NUL in b"".join(argv) and _names_reserved_key(argv):
            return ErrorReply(RESERVED_KEY_ERROR)
        keyspace = shard.keyspace
        try:
            outcome = handler(keyspace, argv, self.context)
            reply, records = outcome.reply, outcome.log
        except CommandError as error:
            reply, records = ErrorReply(error.message), ()
        # Tested before the call: most commands reap nothing.
        expired = keyspace.take_expired_keys() if keyspace.expired_keys else _NONE_EXPIRED
        if records or expired:
            shard.changes_since_save += 1  # save points and INFO's rdb_changes_since_last_save
            writer = shard.writer
            if writer is not None:
                if not expired and len(records) == 1 and writer.format_version == 2 and not self._open_blocks:
                    # `_encode`'s common case, inline (this runs for every logged command),
                    # `encode_frame` included.
                    record = records[0]
                    try:
                        payload = _pack_command(tuple(record))
                    except TypeError:
                        payload = encode_command(record)
                    size = len(payload)
                    assert size <= MAX_RECORD_BYTES, "a record payload is at most 1 GiB"
                    self.logged_shards.append(index)
                    pending = self.pending[index]
                    pending += _RECORD_HEADER.pack(size, crc32c(payload))
                    pending += payload
                else:
                    self._encode(index, expired, records)
            if self.observer is not None:
                self.observer(index, argv, expired, records)
        return reply

    def execute_blocking(self, index: int, argv: list[bytes], blocking: Blocking) -> Any:
        """`execute` with `blocking` as the context's mode for this one command: an event
        loop that can park a client runs XREAD / XREADGROUP BLOCK with ALLOWED (nothing to
        read returns a `StreamWait`) and re-runs a parked one with RETRY."""
        context = self.context
        previous = context.blocking
        context.blocking = blocking
        try:
            return self.execute(index, argv)
        finally:
            context.blocking = previous

    def execute_routed(self, argv: list[bytes]) -> Any:
        """Route `argv` by its keys (as `Store.execute_argv` does) within the selected
        database, and run it."""
        if self.runner.shard_count == 1:
            return self.execute(self.base, argv)
        handler = multishard.HANDLERS.get(argv[0].upper())
        if handler is not None:
            return handler(self, argv)  # the handlers call `run` / `locked` below
        indexes = {self.router.shard_for_key(key) for key in command_keys(argv)}
        if len(indexes) > 1:
            return ErrorReply(CROSSSLOT)
        return self.execute(self.base + (indexes.pop() if indexes else 0), argv)

    def shard_for_key(self, key: bytes) -> int:
        """The slot of `key` in the selected database."""
        return self.base + self.router.shard_for_key(key)

    # -- databases ----------------------------------------------------------------------------

    def select(self, database: int) -> None:
        """The database the following commands run in (the caller restores 0 after)."""
        self.selected = database
        self.base = self.bases[database]

    def keyspace_of(self, database: int, key: bytes) -> Any:
        return self.shards[self.bases[database] + self.router.shard_for_key(key)].keyspace

    def database_slots(self, database: int) -> range:
        base = self.bases[database]
        return range(base, base + self.runner.shard_count)

    def is_open(self, database: int) -> bool:
        return database == 0 or self.bases[database] != self.runner.shard_count

    def open_selected(self) -> None:
        """Open the selected database if it is still a stand-in (EXEC does, before a block)."""
        if not self.is_open(self.selected):
            self._open_selected(self.base)

    def _open_selected(self, slot: int) -> int:
        """The first write to a stand-in: open the selected database; `slot`'s real slot."""
        assert self._open_database is not None and self.selected != 0
        self.attach(self.selected, self._open_database(self.selected))
        return self.base + (slot - self.runner.shard_count)

    def attach(self, database: int, runner: ShardRunner) -> None:
        """Give `database` (opened by the store) slots of its own, or refresh them (SWAPDB
        reopened its shards): its records of the turn were written (the caller quiesced)."""
        if self.is_open(database):
            for slot, shard, group_commit in zip(self.database_slots(database), runner.shards, runner.group_commits):
                assert not self.pending[slot], "a database's shards are replaced only between turns"
                self.shards[slot] = shard
                self.group_commits[slot] = group_commit
            return
        self.runners[database] = runner
        self.bases[database] = len(self.shards)
        self.shards.extend(runner.shards)
        self.group_commits.extend(runner.group_commits)
        self.pending.extend(bytearray() for _ in runner.shards)
        self.slot_databases.extend([database] * runner.shard_count)
        if self.selected == database:
            self.base = self.bases[database]

    # The two calls `multishard`'s handlers make on their runner, with shard indexes of the
    # selected database. Nothing needs locking: the owner is the only thread, so a
    # multi-shard command is as atomic as one turn of it.
    def run(self, index: int, argv: list[bytes]) -> Any:
        return self.execute(self.base + index, argv)

    def locked(self, indexes: list[int]) -> _Batch:
        return _Batch(self)

    # -- transaction brackets -----------------------------------------------------------------

    def begin_block(self, index: int) -> int:
        """Records of shard `index` from now on form one crash-atomic block (MULTI/EXEC).

        Returns the buffer position where the block starts, for `end_block`.
        """
        assert index not in self._open_blocks, "blocks do not nest"
        self._open_blocks[index] = 0
        return len(self.pending[index])

    def end_block(self, index: int, start: int) -> None:
        """Close the block: wrap its records (if more than one) in begin/commit markers."""
        record_count = self._open_blocks.pop(index)
        writer = self.shards[index].writer
        if writer is None or record_count <= 1:
            return
        buffer = self.pending[index]
        version = writer.format_version
        buffer[start:start] = self._encode_records(version, [transaction_begin_argv(version)])
        buffer += self._encode_records(version, [transaction_commit_argv(version)])

    # -- the log ------------------------------------------------------------------------------

    def _encode(self, index: int, expired: list[bytes], records: Sequence[list[bytes]]) -> None:
        self.logged_shards.append(index)
        version = self.shards[index].writer.format_version
        if not expired and len(records) == 1 and version == 2 and not self._open_blocks:
            # The common case (one record, format 2) without the general path's lists: the
            # frame is encoded in C, then its length and CRC-32C head it.
            payload = encode_frame(records[0])
            assert len(payload) <= MAX_RECORD_BYTES, "a record payload is at most 1 GiB"
            pending = self.pending[index]
            pending += _RECORD_HEADER.pack(len(payload), crc32c(payload))
            pending += payload
            return
        if expired:
            records = [[_DEL, key] for key in expired] + list(records)
        if index in self._open_blocks:
            self._open_blocks[index] += len(records)
        elif len(records) > 1:
            # A command logged as several records (SET EX = SET + PEXPIREAT) is bracketed, so
            # a crash between its records cannot keep half of it.
            records = bracket(list(records), version)
        self.pending[index] += self._encode_records(version, records)

    @staticmethod
    def _encode_records(version: int, records: Sequence[Sequence[bytes]]) -> bytes:
        if version == 1:  # kevy 1.23's spelling of what it would refuse (see log_compat)
            return b"".join([encode_frame(record) for record in records_for_format(1, records)])
        parts = []
        for record in records:
            payload = encode_frame(record)
            assert len(payload) <= MAX_RECORD_BYTES, "a record payload is at most 1 GiB"
            parts.append(_RECORD_HEADER.pack(len(payload), crc32c(payload)))
            parts.append(payload)
        return b"".join(parts)

    def has_pending(self) -> bool:
        return any(self.pending)

    def write_pending(self) -> tuple[list[int], dict[int, str]]:
        """One write per shard with pending records: (shards written, {failed shard: MISCONF}).

        A shard whose write fails refuses writes from then on (its log may end in a partial
        record, which the next open cuts as a torn tail).
        """
        written: list[int] = []
        failed: dict[int, str] = {}
        self.logged_shards.clear()
        for index, buffer in enumerate(self.pending):
            if not buffer:
                continue
            shard = self.shards[index]
            data = bytes(buffer)
            buffer.clear()
            offset_before = shard.writer.end_offset
            try:
                if shard.failure is not None:
                    raise WritesRefusedError(index, shard.failure)
                shard.writer.append_encoded(data)
            except StorageIOError as error:
                shard.record_write_failure(error)
                failed[index] = str(WritesRefusedError(index, shard.failure))
                shard.undo_refused_writes(offset_before)
                continue
            except WritesRefusedError as error:
                failed[index] = str(error)
                shard.undo_refused_writes(offset_before)
                continue
            written.append(index)
        return written, failed

    def sync(self, index: int) -> int:
        """fsync shard `index`'s log (any thread); the end offset it covers. Raises
        `WritesRefusedError` when the fsync fails (the shard then refuses writes)."""
        return self.shards[index].sync_log()

    def after_failed_sync(self, index: int) -> None:
        """On the owner's thread, after `sync` failed for shard `index` under `always`: the
        writes it should have covered are refused, so they are undone in memory too."""
        self.shards[index].undo_refused_writes(None)

    def sync_due(self, index: int) -> bool:
        """`everysec`: the log is dirty and a second has passed since its last fsync."""
        return self.shards[index].sync_due()

    def dirty(self, index: int) -> bool:
        return self.shards[index].dirty

    # -- housekeeping -------------------------------------------------------------------------

    def expire_step(self, index: int) -> int:
        """Active expiry on one shard: reap sampled dead keys, buffer their DELs."""
        shard = self.shards[index]
        keyspace = shard.keyspace
        keyspace.active_expire_step(self.context.now_ms, self.config.expiry_samples_per_tick)
        expired = keyspace.take_expired_keys()
        if not expired:
            return 0
        shard.changes_since_save += len(expired)
        if shard.writer is not None and shard.failure is None:
            self._encode(index, expired, ())
        if self.observer is not None:
            self.observer(index, (), expired, ())
        emit(self.config, "expired", index, {"keys": len(expired)})
        return len(expired)

    def rewrite_due(self, index: int) -> bool:
        return self.shards[index].rewrite_due(self.config)

    def rewrite(self, index: int) -> None:
        """Rewrite one shard's log now (the caller wrote its pending records and has no sync
        in flight); its group commit starts a new generation, as `Store` does."""
        shard = self.shards[index]
        started_ms = self._clock.monotonic_ms()
        writer_before = shard.writer
        group_commit = self.group_commits[index]
        try:
            shard.rewrite_log()
        except KevyError as error:
            if shard.writer is not writer_before:
                group_commit.fail(error)
            raise
        group_commit.reset(shard.synced_offset)
        emit(self.config, "rewrite", index, {
            "reason": "auto", "keys": len(shard.keyspace), "log_bytes": shard.log_size_bytes,
            "elapsed_ms": self._clock.monotonic_ms() - started_ms,
        })


class _Batch:
    """What `multishard`'s handlers hold while they run parts on several shards."""

    def __init__(self, owner: OwnedShards) -> None:
        self._owner = owner
        self._replies: list[Any] = []

    def __enter__(self) -> _Batch:
        self._owner.check_open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def execute(self, index: int, argv: list[bytes]) -> Any:
        reply = self._owner.execute(self._owner.base + index, argv)
        self._replies.append(reply)
        return reply

    def await_durable(self) -> list[Any]:
        return self._replies  # durability is the caller's: replies wait for the batch's fsync


def _names_reserved_key(argv: list[bytes]) -> bool:
    return any(key.startswith(RESERVED_KEY_PREFIX) for key in command_keys(argv))
