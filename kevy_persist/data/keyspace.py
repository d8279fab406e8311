"""The keyspace: keys to native values, absolute deadlines, and copy-on-write views.

What it models: one Redis database. `_values` maps each key to its native value (string
`bytes`, hash `dict`, list `deque`, set `set`, zset `ZSet`, stream `Stream`); the value's Python
type *is* its kind, so there is no per-key wrapper and `iter_entries` runs at C speed.
`_deadlines` maps the keys that have a TTL to an absolute unix-ms deadline. A collection is
never stored empty, except a stream: an empty stream is a value of its own in Redis (it keeps
its ID clock and its consumer groups).

Expiry. A key whose deadline is <= now is dead. Reads and writes that look a key up reap it
lazily (`lookup`); `active_expire_step` samples deadlines with a deterministic cursor. Every
key removed by expiry is queued (`take_expired_keys`) so the log can record a DEL for it, as
Redis propagates DEL on expiry: a log replayed later (with expiry switched off, like Redis's
loading mode) then sees the same history. Replay looks keys up with `NEVER_EXPIRES_MS`.

Copy-on-write views. `freeze_view()` copies the two top-level dicts (one C-level copy, about
50 ms per million keys, and thread-safe to iterate afterwards while the live side is written)
and shares every value object. Strings are immutable; a collection is copied by the live side
the first time it is mutated after a freeze (`lookup_for_write`), so the view keeps the
frozen object. That per-write cost is proportional to the keys touched. Mutating commands must
get collections through `lookup_for_write`; that is the one rule this module relies on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import compress, repeat
from operator import is_not, itemgetter
from typing import Any

from kevy_persist.data.stream import Stream
from kevy_persist.data.zset import ZSet
from kevy_persist.formats.records import ValueKind

# Passed as now_ms while replaying a log: no deadline is ever <= this, so nothing expires.
NEVER_EXPIRES_MS = -(2**63)

KIND_BY_TYPE: dict[type, ValueKind] = {
    bytes: ValueKind.STRING,
    dict: ValueKind.HASH,
    deque: ValueKind.LIST,
    set: ValueKind.SET,
    ZSet: ValueKind.ZSET,
    Stream: ValueKind.STREAM,
}

Entry = tuple[bytes, ValueKind, Any, "int | None"]

_STRING_KIND = ValueKind.STRING
_MAY_BE_EMPTY = (bytes, Stream)
_ENTRY_KEY = itemgetter(0)
_ENTRY_KIND = itemgetter(1)
_ENTRY_VALUE = itemgetter(2)
_ENTRY_DEADLINE = itemgetter(3)


def copy_value(value: Any) -> Any:
    """An independent copy of a native value (strings are immutable and shared)."""
    if type(value) is bytes:
        return value
    return value.copy()


def native_from_snapshot(kind: ValueKind, value: Any) -> Any:
    """Convert a snapshot decoder's value to the native representation."""
    if kind == ValueKind.STRING:
        assert isinstance(value, bytes)
        return value
    if kind == ValueKind.HASH:
        return dict(value)
    if kind == ValueKind.LIST:
        return deque(value)
    if kind == ValueKind.SET:
        return set(value)
    if kind == ValueKind.ZSET:
        return ZSet.from_pairs(value)
    if kind == ValueKind.STREAM:
        return Stream.from_payload(value)
    raise AssertionError(f"unknown value kind {kind!r}")


class Keyspace:
    """Keys to native values with absolute unix-ms deadlines (see the module docstring)."""

    def __init__(self) -> None:
        self._values: dict[bytes, Any] = {}
        self._deadlines: dict[bytes, int] = {}
        # Keys reaped by expiry and not taken yet: read-only outside this class (the request
        # path tests it before paying for the `take_expired_keys` call).
        self.expired_keys: list[bytes] = []
        # Copy-on-write bookkeeping: live views, and the keys whose collection object the
        # live side already owns (copied or created) since the newest freeze.
        self._view_count = 0
        self._owned_since_freeze: set[bytes] = set()
        # Deterministic active-expiry cursor: a frozen list of keys with deadlines.
        self._expire_cursor_keys: list[bytes] = []
        self._expire_cursor_index = 0

    # -- size and iteration ------------------------------------------------------------

    def __len__(self) -> int:
        """Number of keys, counting expired keys not yet reaped (like Redis DBSIZE)."""
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def count_live(self, now_ms: int) -> int:
        """Number of keys alive at `now_ms` (O(keys with a deadline))."""
        dead = sum(1 for deadline in self._deadlines.values() if deadline <= now_ms)
        return len(self._values) - dead

    def iter_entries(self) -> Iterator[Entry]:
        """`(key, kind, native_value, deadline_ms | None)` for every stored key."""
        values = self._values
        return zip(
            values.keys(),
            map(KIND_BY_TYPE.__getitem__, map(type, values.values())),
            values.values(),
            map(self._deadlines.get, values.keys()),
        )

    def keys(self) -> Iterable[bytes]:
        return self._values.keys()

    def deadline_items(self) -> Iterable[tuple[bytes, int]]:
        return self._deadlines.items()

    # -- loading -----------------------------------------------------------------------

    def load_entry(
        self, key: bytes, kind: ValueKind, value: Any, deadline_ms: int | None
    ) -> None:
        """Insert one snapshot record (value in the decoder's form, converted to native)."""
        if kind is _STRING_KIND and type(value) is bytes and not self._view_count:
            # Opening a shard calls this once per record: a string is already native and no
            # view can share it, so it skips the conversion and `_write_value`'s bookkeeping.
            self._values[key] = value
        else:
            self._write_value(key, native_from_snapshot(kind, value))
        if deadline_ms is None:
            if self._deadlines:
                self._deadlines.pop(key, None)
        else:
            self._deadlines[key] = deadline_ms

    @classmethod
    def from_snapshot(cls, strings: dict[bytes, bytes], records: Sequence[Entry]) -> Keyspace:
        """A fresh keyspace holding a snapshot decoded with `strings_into=strings`.

        `strings` (key -> value of the string records without TTL) becomes the value dict
        itself, taken over rather than copied: the caller must not use it afterwards. Then
        `records` (the other records, none of whose keys is in `strings`, as the decoder
        guarantees) are loaded in order.
        """
        assert set(map(type, strings.values())) <= {bytes}, "strings holds only bytes values"
        assert not any(record[0] in strings for record in records), "a key in both parts"
        keyspace = cls()
        keyspace._values = strings
        for key, kind, value, deadline_ms in records:
            keyspace.load_entry(key, kind, value, deadline_ms)
        return keyspace

    def load_entries(self, records: Sequence[Entry]) -> int:
        """Insert snapshot records in order, exactly as `load_entry` for each would; the count.

        Opening a shard puts a whole snapshot into a fresh keyspace. When this keyspace is
        empty and the records' keys are distinct (true of every snapshot saved from a
        keyspace), all values go in with one C-level `dict.update` -- strings are already
        native -- and only the records that need more (collections to convert, deadlines) are
        visited one by one, picked out at C speed too. Otherwise: `load_entry` per record.
        """
        values = self._values
        if values:
            return self._load_entries_one_by_one(records)
        assert not self._deadlines, "a deadline needs a key"
        values.update(zip(map(_ENTRY_KEY, records), map(_ENTRY_VALUE, records)))
        if len(values) != len(records):
            # A key repeats: only the in-order path gives the later record the last word.
            values.clear()
            return self._load_entries_one_by_one(records)
        not_strings = map(is_not, map(_ENTRY_KIND, records), repeat(ValueKind.STRING))
        for key, kind, value, _ in compress(records, not_strings):
            self._write_value(key, native_from_snapshot(kind, value))
        with_deadlines = map(is_not, map(_ENTRY_DEADLINE, records), repeat(None))
        deadlines = self._deadlines
        for key, _, _, deadline_ms in compress(records, with_deadlines):
            deadlines[key] = deadline_ms
        # The per-record path asserts each value is native; here one C-level pass does.
        assert set(map(type, values.values())) <= KIND_BY_TYPE.keys(), "not a native value"
        return len(records)

    def _load_entries_one_by_one(self, records: Sequence[Entry]) -> int:
        for key, kind, value, deadline_ms in records:
            self.load_entry(key, kind, value, deadline_ms)
        return len(records)

    # -- reads -------------------------------------------------------------------------

    def lookup(self, key: bytes, now_ms: int) -> Any:
        """The live value of `key`, or None; reaps the key if its deadline has passed."""
        value = self._values.get(key)
        if value is not None and self._deadlines:
            deadline = self._deadlines.get(key)
            if deadline is not None and deadline <= now_ms:
                self._expire(key)
                return None
        return value

    def get_entry(self, key: bytes, now_ms: int) -> tuple[ValueKind, Any, int | None] | None:
        """`(kind, native_value, deadline_ms)` of a live key, or None."""
        value = self.lookup(key, now_ms)
        if value is None:
            return None
        return KIND_BY_TYPE[type(value)], value, self._deadlines.get(key)

    def peek(self, key: bytes) -> Any:
        """The stored value regardless of its deadline, without reaping (for tools/tests)."""
        return self._values.get(key)

    def is_expired(self, key: bytes, now_ms: int) -> bool:
        deadline = self._deadlines.get(key)
        return deadline is not None and deadline <= now_ms

    def deadline_of(self, key: bytes) -> int | None:
        return self._deadlines.get(key)

    # -- writes ------------------------------------------------------------------------

    def lookup_for_write(self, key: bytes, now_ms: int) -> Any:
        """Like `lookup`, but the returned collection may be mutated in place."""
        # `lookup`'s body, inlined: every write command comes through here.
        value = self._values.get(key)
        if value is None:
            return None
        if self._deadlines:
            deadline = self._deadlines.get(key)
            if deadline is not None and deadline <= now_ms:
                self._expire(key)
                return None
        if self._view_count == 0 or type(value) is bytes:
            return value
        owned = self._owned_since_freeze
        if key not in owned:
            value = value.copy()
            self._values[key] = value
            owned.add(key)
        return value

    def set_value(self, key: bytes, value: Any, keep_deadline: bool = False) -> None:
        """Store a fresh value object under `key` (an empty collection is not allowed)."""
        self._write_value(key, value)
        if not keep_deadline and self._deadlines:
            self._deadlines.pop(key, None)

    def set_string(self, key: bytes, value: bytes) -> None:
        """`set_value(key, value)` for a bytes value: SET's common case in one call."""
        assert value.__class__ is bytes, f"not a string value: {type(value)!r}"
        self._values[key] = value
        if self._view_count:
            self._owned_since_freeze.discard(key)  # as `_write_value`: the view may share it
        if self._deadlines:
            self._deadlines.pop(key, None)

    def update_string(self, key: bytes, value: bytes) -> None:
        """`set_value(key, value, keep_deadline=True)` for a bytes value (INCR's write)."""
        assert value.__class__ is bytes, f"not a string value: {type(value)!r}"
        self._values[key] = value
        if self._view_count:
            self._owned_since_freeze.discard(key)  # as `_write_value`: the view may share it

    def _write_value(self, key: bytes, value: Any) -> None:
        assert type(value) in KIND_BY_TYPE, f"not a native value: {type(value)!r}"
        assert type(value) in _MAY_BE_EMPTY or len(value) > 0, "collections are never stored empty"
        # Never marked as owned, and no longer owned if it was: the object may be shared with
        # a view (RENAME moves one), so the first in-place write after a freeze copies it.
        self._values[key] = value
        if self._view_count:
            self._owned_since_freeze.discard(key)

    def delete(self, key: bytes) -> bool:
        """Remove `key` and its deadline; True when it was stored (even if expired)."""
        if self._values.pop(key, None) is None:
            return False
        if self._deadlines:
            self._deadlines.pop(key, None)
        if self._view_count:
            self._owned_since_freeze.discard(key)
        return True

    def delete_if_empty(self, key: bytes, value: Any) -> None:
        """Drop a collection that a command just emptied."""
        if not value:
            self.delete(key)

    def set_deadline(self, key: bytes, deadline_ms: int) -> None:
        assert key in self._values, "a deadline needs a key"
        self._deadlines[key] = deadline_ms

    def clear_deadline(self, key: bytes) -> bool:
        """Remove `key`'s deadline; True when it had one."""
        return self._deadlines.pop(key, None) is not None

    def clear(self) -> None:
        """Remove every key (FLUSHDB). Views keep their frozen copies."""
        self._values = {}
        self._deadlines = {}
        self._owned_since_freeze = set()
        self._expire_cursor_keys = []
        self._expire_cursor_index = 0

    # -- expiry ------------------------------------------------------------------------

    def _expire(self, key: bytes) -> None:
        self.delete(key)
        self.expired_keys.append(key)

    def take_expired_keys(self) -> list[bytes]:
        """Keys reaped by expiry since the last call; the caller logs a DEL for each."""
        keys = self.expired_keys
        if keys:
            self.expired_keys = []
        return keys

    def active_expire_step(self, now_ms: int, sample_limit: int) -> int:
        """Examine up to `sample_limit` keys with deadlines, reap the dead ones.

        The cursor walks a list of the keys that had deadlines when it last wrapped, so
        repeated steps visit every key with a deadline without any randomness.
        """
        assert sample_limit >= 0
        removed_count = 0
        deadlines = self._deadlines
        for _ in range(sample_limit):
            if self._expire_cursor_index >= len(self._expire_cursor_keys):
                self._expire_cursor_keys = list(deadlines)
                self._expire_cursor_index = 0
                if not self._expire_cursor_keys:
                    break
            key = self._expire_cursor_keys[self._expire_cursor_index]
            self._expire_cursor_index += 1
            deadline = deadlines.get(key)
            if deadline is not None and deadline <= now_ms:
                self._expire(key)
                removed_count += 1
        return removed_count

    # -- copy-on-write views -----------------------------------------------------------

    def freeze_view(self) -> KeyspaceView:
        """A read-only view of the keyspace as it is now, unaffected by later writes."""
        self._view_count += 1
        self._owned_since_freeze = set()
        return KeyspaceView(self, dict(self._values), dict(self._deadlines))

    def _release_view(self) -> None:
        assert self._view_count > 0
        self._view_count -= 1
        if self._view_count == 0:
            self._owned_since_freeze = set()


class KeyspaceView:
    """The keyspace frozen at `freeze_view()` time; safe to iterate from another thread."""

    def __init__(
        self, owner: Keyspace, values: dict[bytes, Any], deadlines: dict[bytes, int]
    ) -> None:
        self._owner: Keyspace | None = owner
        self._values = values
        self._deadlines = deadlines

    def __len__(self) -> int:
        return len(self._values)

    def iter_entries(self) -> Iterator[Entry]:
        assert self._owner is not None, "view used after release()"
        values = self._values
        return zip(
            values.keys(),
            map(KIND_BY_TYPE.__getitem__, map(type, values.values())),
            values.values(),
            map(self._deadlines.get, values.keys()),
        )

    def release(self) -> tuple[dict, dict] | None:
        """Stop protecting the frozen state; idempotent.

        Returns the frozen maps (None when already released): a caller holding the shard's
        lock keeps them and drops them after releasing it, since freeing a million entries
        takes tens of milliseconds that writers need not wait for."""
        if self._owner is None:
            return None
        self._owner._release_view()
        self._owner = None
        frozen = (self._values, self._deadlines)
        self._values = {}
        self._deadlines = {}
        return frozen

    def __enter__(self) -> KeyspaceView:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
