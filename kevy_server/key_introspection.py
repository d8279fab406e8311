"""OBJECT and MEMORY: what a key is made of, and what the process uses.

OBJECT ENCODING answers the encoding Redis 7.0 would pick for the value, from Redis's
default thresholds (the ones `CONFIG GET *listpack* *intset*` shows, which kevy-server
reports and does not let change):
- string: `int` for a decimal that fits a signed 64-bit integer (no sign other than `-`, no
  leading zero, at most 20 characters), `embstr` up to 44 bytes, `raw` above -- and `raw` for
  a HyperLogLog, as Redis creates those;
- list: `quicklist` (Redis 7.0 has no other list encoding);
- set: `intset` for at most 512 members that are all integers, else `hashtable`;
- hash: `listpack` for at most 512 fields whose fields and values are at most 64 bytes, else
  `hashtable`; sorted set: `listpack` for at most 128 members of at most 64 bytes, else
  `skiplist`; stream: `stream`.
Redis converts one way only (a hash that once grew past the limit stays `hashtable` when it
shrinks) and keeps `raw` for a short string built by APPEND or SETRANGE; kevy stores no such
history, so it answers what Redis answers for the same value after a restart (DEBUG RELOAD).

OBJECT REFCOUNT: 2147483647 for the integers 0..9999 Redis shares, else 1. OBJECT FREQ:
Redis's error (no LFU policy: kevy never evicts). OBJECT IDLETIME: refused with a stated
reason -- kevy keeps no per-key access time: a table of them would cost every key a dict
slot (42 bytes per key measured for a million keys, a third more memory for small ones). OBJECT HELP: Redis's text.

MEMORY USAGE key [SAMPLES n]: kevy's own footprint of the key in bytes -- the key object,
its slot in the keyspace, the value's containers and, for collections, the mean size of
`n` sampled elements (default 5, 0 = all) times their count, as Redis samples. The figures
are Python's (`sys.getsizeof`), not Redis's: a value costs more here, and MEMORY USAGE says
how much. MEMORY STATS / DOCTOR report the process's measured figures; MALLOC-STATS answers
what Redis answers on a libc allocator; PURGE returns freed heap pages to the system
(`malloc_trim`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import re
import sys
from collections import deque
from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.replies import OK, Double
from kevy_persist.data.stream import Stream
from kevy_persist.data.zset import ZSet

from . import command_data
from .info_sections import human_bytes, memory_figures
from .replies import ReplyMap, Verbatim
from .verbs import dispatch_subcommand, subcommands, verb

__all__ = ["encoding_of", "memory_usage"]

EMBSTR_MAX_BYTES = 44
SET_MAX_INTSET_ENTRIES = 512
HASH_MAX_LISTPACK_ENTRIES = 512
HASH_MAX_LISTPACK_VALUE = 64
ZSET_MAX_LISTPACK_ENTRIES = 128
ZSET_MAX_LISTPACK_VALUE = 64
SHARED_INTEGERS = 10_000
SHARED_REFCOUNT = 2147483647
ENCODING_PARAMETERS = {
    "hash-max-listpack-entries": str(HASH_MAX_LISTPACK_ENTRIES),
    "hash-max-listpack-value": str(HASH_MAX_LISTPACK_VALUE),
    "hash-max-ziplist-entries": str(HASH_MAX_LISTPACK_ENTRIES),
    "hash-max-ziplist-value": str(HASH_MAX_LISTPACK_VALUE),
    "zset-max-listpack-entries": str(ZSET_MAX_LISTPACK_ENTRIES),
    "zset-max-listpack-value": str(ZSET_MAX_LISTPACK_VALUE),
    "zset-max-ziplist-entries": str(ZSET_MAX_LISTPACK_ENTRIES),
    "zset-max-ziplist-value": str(ZSET_MAX_LISTPACK_VALUE),
    "set-max-intset-entries": str(SET_MAX_INTSET_ENTRIES),
    "list-max-listpack-size": "-2",
    "list-max-ziplist-size": "-2",
    "list-compress-depth": "0",
}
_LONG = re.compile(rb"-?[1-9][0-9]*|0")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SLOT_BYTES = 32  # a dict entry (hash, key, value pointers) and its share of the index
FREQ_REFUSAL = ErrorReply(
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when "
    "switching between policies at runtime LRU and LFU data will take some time to adjust."
)
IDLETIME_REFUSAL = ErrorReply(
    "ERR kevy does not track when a key was last accessed (no LRU/LFU eviction), so OBJECT IDLETIME cannot be answered"
)


def _as_long(value: bytes) -> int | None:
    """Redis's string2ll on `value`: the integer, or None."""
    if len(value) > 20 or not _LONG.fullmatch(value):
        return None
    number = int(value)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def encoding_of(value: Any) -> str:
    kind = type(value)
    if kind is bytes:
        if value.startswith(b"HYLL"):
            return "raw"
        if _as_long(value) is not None:
            return "int"
        return "embstr" if len(value) <= EMBSTR_MAX_BYTES else "raw"
    if kind is deque:
        return "quicklist"
    if kind is set:
        small = len(value) <= SET_MAX_INTSET_ENTRIES
        return "intset" if small and all(_as_long(member) is not None for member in value) else "hashtable"
    if kind is dict:
        if len(value) > HASH_MAX_LISTPACK_ENTRIES:
            return "hashtable"
        limit = HASH_MAX_LISTPACK_VALUE
        fits = all(len(field) <= limit and len(item) <= limit for field, item in value.items())
        return "listpack" if fits else "hashtable"
    if kind is ZSet:
        if len(value) > ZSET_MAX_LISTPACK_ENTRIES:
            return "skiplist"
        fits = all(len(member) <= ZSET_MAX_LISTPACK_VALUE for member, _ in value.items())
        return "listpack" if fits else "skiplist"
    if kind is Stream:
        return "stream"
    raise AssertionError(f"not a native value: {kind!r}")


def _sampled_bytes(elements: Any, count: int, samples: int, size_of: Any) -> int:
    if not count:
        return 0
    taken = list(elements if samples == 0 else itertools.islice(elements, samples))
    if not taken:
        return 0
    return sum(size_of(element) for element in taken) * count // len(taken)


def memory_usage(key: bytes, value: Any, has_deadline: bool, samples: int) -> int:
    """Bytes `key` and its value take in this process (see the module docstring)."""
    size = sys.getsizeof(key) + _SLOT_BYTES
    if has_deadline:
        size += _SLOT_BYTES + sys.getsizeof(1 << 40)
    getsize = sys.getsizeof
    kind = type(value)
    if kind is bytes:
        return size + getsize(value)
    if kind is dict:
        return size + getsize(value) + _sampled_bytes(
            value.items(), len(value), samples, lambda pair: getsize(pair[0]) + getsize(pair[1]))
    if kind is deque or kind is set:
        return size + getsize(value) + _sampled_bytes(
            iter(value), len(value), samples, lambda item: getsize(item) + 8)
    if kind is ZSet:
        # Each member: its bytes, a float, a dict slot and a (score, member) entry in the order.
        return size + 64 + _sampled_bytes(
            value.items(), len(value), samples,
            lambda pair: getsize(pair[0]) + getsize(pair[1]) + _SLOT_BYTES + 64 + 8)
    if kind is Stream:
        return size + getsize(value) + _sampled_bytes(
            value.entries.items(), len(value.entries), samples,
            lambda entry: getsize(entry[0]) + getsize(entry[1]) + sum(getsize(field) for field in entry[1]) + 8)
    raise AssertionError(f"not a native value: {kind!r}")


def _live(server: Any, key: bytes) -> tuple[Any, bool] | None:
    owned = server.owned
    keyspace = owned.shards[owned.shard_for_key(key)].keyspace
    value = keyspace.peek(key)
    if value is None or keyspace.is_expired(key, owned.context.now_ms):
        return None
    return value, keyspace.deadline_of(key) is not None


# -- OBJECT -------------------------------------------------------------------------------------


def _object_encoding(server: Any, client: Any, argv: list[bytes]) -> Any:
    found = _live(server, argv[2])
    return None if found is None else encoding_of(found[0]).encode()


def _object_refcount(server: Any, client: Any, argv: list[bytes]) -> Any:
    found = _live(server, argv[2])
    if found is None:
        return None
    value = found[0]
    if type(value) is bytes:
        number = _as_long(value)
        if number is not None and 0 <= number < SHARED_INTEGERS:
            return SHARED_REFCOUNT
    return 1


def _object_freq(server: Any, client: Any, argv: list[bytes]) -> Any:
    return None if _live(server, argv[2]) is None else FREQ_REFUSAL


def _object_idletime(server: Any, client: Any, argv: list[bytes]) -> Any:
    return None if _live(server, argv[2]) is None else IDLETIME_REFUSAL


def _object_help(server: Any, client: Any, argv: list[bytes]) -> Any:
    return command_data.help_reply("object")


OBJECT_SUBCOMMANDS = subcommands("object", {
    b"ENCODING": (3, _object_encoding),
    b"REFCOUNT": (3, _object_refcount),
    b"FREQ": (3, _object_freq),
    b"IDLETIME": (3, _object_idletime),
    b"HELP": (2, _object_help),
})


@verb("OBJECT", -2, "readonly", keys=lambda argv: argv[2:3])
def object_command(server: Any, client: Any, argv: list[bytes]) -> Any:
    return dispatch_subcommand(server, client, argv, OBJECT_SUBCOMMANDS)


# -- MEMORY -------------------------------------------------------------------------------------


def _memory_usage(server: Any, client: Any, argv: list[bytes]) -> Any:
    samples = 5
    index = 3
    while index < len(argv):
        if argv[index].upper() == b"SAMPLES" and index + 1 < len(argv):
            text = argv[index + 1]
            digits = text[1:] if text[:1] == b"-" else text
            if not digits.isdigit() or len(digits) > 18:
                return ErrorReply("ERR value is not an integer or out of range")
            samples = max(int(text), 0)
            index += 2
        else:
            return ErrorReply("ERR syntax error")
    found = _live(server, argv[2])
    if found is None:
        return None
    return memory_usage(argv[2], found[0], found[1], samples)


def _memory_stats(server: Any, client: Any, argv: list[bytes]) -> Any:
    used, rss = memory_figures()
    server.memory_peak_bytes = max(server.memory_peak_bytes, used)
    keys, expires = server.store.key_counts()
    startup = server.memory_startup_bytes
    dataset = max(0, used - startup)
    clients = sum(server.output_size(other) + other.parser.buffered_bytes for other in server.sessions())
    return ReplyMap([
        b"peak.allocated", server.memory_peak_bytes, b"total.allocated", used, b"startup.allocated", startup,
        b"replication.backlog", 0, b"clients.slaves", 0, b"clients.normal", clients,
        b"aof.buffer", sum(len(buffer) for buffer in server.owned.pending),
        b"keys.count", keys, b"keys.bytes-per-key", dataset // keys if keys else 0,
        b"dataset.bytes", dataset, b"dataset.percentage", _percent(dataset, used),
        b"peak.percentage", _percent(used, server.memory_peak_bytes),
        b"fragmentation", _ratio(rss, used), b"fragmentation.bytes", rss - used,
        b"expires.count", expires,
    ])


def _percent(part: int, whole: int) -> Double:
    return Double(part * 100 / whole if whole else 0.0)


def _ratio(part: int, whole: int) -> Double:
    return Double(part / whole if whole else 0.0)


def _memory_doctor(server: Any, client: Any, argv: list[bytes]) -> Any:
    used, rss = memory_figures()
    peak = max(server.memory_peak_bytes, used)
    text = (
        f"kevy-server memory report: the process holds {human_bytes(used)} of heap (RssAnon), "
        f"{human_bytes(rss)} resident in all, {human_bytes(peak)} at its peak; it started with "
        f"{human_bytes(server.memory_startup_bytes)}. Python's allocator keeps no per-size "
        "statistics, so no fragmentation analysis is made; MEMORY USAGE <key> shows what a key costs."
    )
    return Verbatim(text.encode())


def _memory_malloc_stats(server: Any, client: Any, argv: list[bytes]) -> Any:
    return b"Stats not supported for the current allocator"


def _memory_purge(server: Any, client: Any, argv: list[bytes]) -> Any:
    libc_path = ctypes.util.find_library("c")
    if libc_path is not None:
        try:
            ctypes.CDLL(libc_path).malloc_trim(0)
        except (OSError, AttributeError):
            pass  # not glibc: nothing to trim
    return OK


def _memory_help(server: Any, client: Any, argv: list[bytes]) -> Any:
    return command_data.help_reply("memory")


MEMORY_SUBCOMMANDS = subcommands("memory", {
    b"USAGE": (-3, _memory_usage),
    b"STATS": (2, _memory_stats),
    b"DOCTOR": (2, _memory_doctor),
    b"MALLOC-STATS": (2, _memory_malloc_stats),
    b"PURGE": (2, _memory_purge),
    b"HELP": (2, _memory_help),
})


@verb("MEMORY", -2, "readonly", keys=lambda argv: argv[2:3] if len(argv) > 2 and argv[1].upper() == b"USAGE" else [])
def memory_command(server: Any, client: Any, argv: list[bytes]) -> Any:
    return dispatch_subcommand(server, client, argv, MEMORY_SUBCOMMANDS)

