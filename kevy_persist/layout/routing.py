"""Which shard owns a key: KevyHash routing and Redis-cluster slot routing.

A data dir records one of two routings in `shards.meta` (see `meta.py`); every key of a
shard's files must route to that shard under it, or the key is stranded. The rules, the
same as the Rust kevy 1.23 server (`shard_of` / `slot_to_shard` in its `reduce.rs`):

- `Routing.KEVYHASH` (the default): the *whole* key -- hashtags play no part -- is hashed
  with KevyHash (`kevyhash.py`); shard = `h & (n - 1)` when n is a power of two, else
  `h % n` (the two agree for powers of two; n == 1 is always shard 0).
- `Routing.SLOTS` (cluster mode): slot = `crc16_xmodem(hashtag(key)) & 16383`, and shard
  `i` owns the contiguous slot range `[ceil(i * 16384 / n), ceil((i + 1) * 16384 / n))`,
  for which `slot * n >> 14` is the exact inverse.

`Router` is built once per (shard count, routing) and exposes `shard_for_key` as a bound
fast path, because a re-shard routes every key of the store (1M keys is the benchmark).

Pure: no I/O, no state beyond the immutable router.
"""

from __future__ import annotations

import binascii
import enum
from collections.abc import Callable, Iterable

from kevy_persist.layout.kevyhash import kevy_hash

SLOT_COUNT = 16384
_SLOT_MASK = SLOT_COUNT - 1
_SLOT_BITS = 14
assert 1 << _SLOT_BITS == SLOT_COUNT

# Upper bound on a shard count this implementation accepts anywhere (routing, layouts read
# from disk). kevy runs one shard per core; a forged `shards.meta` or a file named
# `dump-999999999.rdb` must not send a re-shard into a billion-step loop.
MAX_SHARD_COUNT = 4096

_CRC16_POLYNOMIAL = 0x1021


class Routing(enum.Enum):
    """Key -> shard scheme; the value is the tag written in `shards.meta`."""

    KEVYHASH = "kevyhash"
    SLOTS = "slots"


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ _CRC16_POLYNOMIAL) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
        table.append(crc)
    return tuple(table)


_CRC16_TABLE = _crc16_table()


def crc16_xmodem_reference(data: bytes) -> int:
    """CRC-16/XMODEM (poly 0x1021, init 0, no reflection, no final xor), table-driven.

    The readable reference; `crc16_xmodem` computes the same value in C.
    """
    crc = 0
    table = _CRC16_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def crc16_xmodem(data: bytes) -> int:
    """CRC-16/XMODEM of `data`; `crc16_xmodem(b"123456789") == 0x31C3`.

    `binascii.crc_hqx` is CRC-CCITT with the same polynomial, MSB first, no final xor; with
    an initial value of 0 it *is* XMODEM (tested against the table-driven reference).
    """
    return binascii.crc_hqx(data, 0)


def hashtag(key: bytes) -> bytes:
    """The part of `key` Redis Cluster hashes.

    The bytes strictly between the first `{` and the first `}` after it, when there is at
    least one; otherwise the whole key (`foo{}{bar}` hashes whole, `foo{{bar}}zap` hashes
    `{bar`, `foo{bar}{zap}` hashes `bar`).
    """
    open_index = key.find(b"{")
    if open_index < 0:
        return key
    close_index = key.find(b"}", open_index + 1)
    if close_index <= open_index + 1:
        # No `}` after the `{` (find gave -1), or `{}` with nothing between.
        return key
    return key[open_index + 1 : close_index]


def key_slot(key: bytes) -> int:
    """Redis Cluster hash slot of `key`, in 0..16383."""
    return binascii.crc_hqx(hashtag(key), 0) & _SLOT_MASK


def _check_shard_count(shard_count: int) -> None:
    if not isinstance(shard_count, int) or isinstance(shard_count, bool):
        raise TypeError(f"shard count must be an int, not {type(shard_count).__name__}")
    if not 1 <= shard_count <= MAX_SHARD_COUNT:
        raise ValueError(f"shard count {shard_count} is outside 1..{MAX_SHARD_COUNT}")


def slot_to_shard(slot: int, shard_count: int) -> int:
    """The shard owning cluster `slot` under the contiguous even split."""
    assert 0 <= slot < SLOT_COUNT
    return (slot * shard_count) >> _SLOT_BITS


def slot_range_for_shard(index: int, shard_count: int) -> range:
    """The slots shard `index` owns: `[ceil(index*16384/n), ceil((index+1)*16384/n))`.

    Exactly the slots `s` with `slot_to_shard(s, n) == index`; the ranges of 0..n-1 are
    contiguous and partition 0..16383.
    """
    _check_shard_count(shard_count)
    if not 0 <= index < shard_count:
        raise ValueError(f"shard index {index} is outside 0..{shard_count - 1}")
    # ceil(a / b) == -((-a) // b) for positive b.
    first = -((-index * SLOT_COUNT) // shard_count)
    end = -((-(index + 1) * SLOT_COUNT) // shard_count)
    return range(first, end)


class Router:
    """Routes keys for one (shard count, routing); build once, call `shard_for_key` often.

    `shard_for_key` is an attribute bound at construction to the cheapest function for the
    case (constant 0 for one shard, a mask for powers of two, a modulo otherwise), so the
    hot loop pays one call and no branching on the configuration.
    """

    __slots__ = ("shard_count", "routing", "shard_for_key")

    def __init__(self, shard_count: int, routing: Routing) -> None:
        _check_shard_count(shard_count)
        if not isinstance(routing, Routing):
            raise TypeError(f"routing must be a Routing, not {routing!r}")
        self.shard_count = shard_count
        self.routing = routing
        self.shard_for_key: Callable[[bytes], int] = _build_router(shard_count, routing)

    def shard_indexes(self, keys: Iterable[bytes]) -> list[int]:
        """The shard index of every key, in order (the re-shard bulk path)."""
        return list(map(self.shard_for_key, keys))

    def __repr__(self) -> str:
        return f"Router(shard_count={self.shard_count}, routing={self.routing})"


def _build_router(shard_count: int, routing: Routing) -> Callable[[bytes], int]:
    if shard_count == 1:
        # kevy short-circuits n == 1 to shard 0 for both routings.
        return lambda key: 0
    if routing is Routing.SLOTS:
        crc = binascii.crc_hqx

        def shard_by_slot(key: bytes) -> int:
            open_index = key.find(b"{")
            if open_index >= 0:
                close_index = key.find(b"}", open_index + 1)
                if close_index > open_index + 1:
                    key = key[open_index + 1 : close_index]
            return ((crc(key, 0) & _SLOT_MASK) * shard_count) >> _SLOT_BITS

        return shard_by_slot
    if shard_count & (shard_count - 1) == 0:
        mask = shard_count - 1
        return lambda key: kevy_hash(key) & mask
    return lambda key: kevy_hash(key) % shard_count


_ROUTER_CACHE: dict[tuple[int, Routing], Router] = {}


def router_for(shard_count: int, routing: Routing) -> Router:
    """The (cached, immutable) `Router` for this configuration."""
    cache_key = (shard_count, routing)
    router = _ROUTER_CACHE.get(cache_key)
    if router is None:
        router = Router(shard_count, routing)
        _ROUTER_CACHE[cache_key] = router
    return router


def shard_for_key(key: bytes, shard_count: int, routing: Routing) -> int:
    """The shard index (0..shard_count-1) owning `key` under `routing`."""
    return router_for(shard_count, routing).shard_for_key(key)
