"""The single-node cluster a `kevy-server --cluster` presents: who owns which slot, and where.

Cluster mode (the Rust kevy 1.23's `--cluster`, `specs/cluster.md`) serves each shard of a
data dir routed by slots from its own process, advertised as one master node of a Redis
Cluster: shard `i` of `n` owns the contiguous slots `[ceil(i*16384/n), ceil((i+1)*16384/n))`
(`layout.routing.slot_range_for_shard`, the inverse of `slot * n >> 14`) and listens at
`port_base + i` (default `port + 1 + i`). Node ids are kevy's: shard `i` is the 40-hex
`i + 1` (stable across restarts, never the all-zero "unknown node").

`ClusterTopology.redirect(keys)` is the check Redis Cluster makes before running a command
(`getNodeByQuery`): keys of different slots answer `CROSSSLOT` (even when one node owns both
slots, as in Redis), a slot another shard owns answers `MOVED <slot> <host>:<port>`.

Pure: no I/O; the CLUSTER replies are built from this in `cluster_commands.py`.
"""

from __future__ import annotations

import binascii

import attrs

from kevy_persist.commands import COMMAND_TABLE, ErrorReply
from kevy_persist.layout.routing import (
    SLOT_COUNT,
    key_slot,
    slot_range_for_shard,
    slot_to_shard,
)

__all__ = ["CROSSSLOT", "ClusterTopology", "advertised_host", "node_id"]

CROSSSLOT = ErrorReply("CROSSSLOT Keys in request don't hash to the same slot")
_SLOT_MASK = SLOT_COUNT - 1


def node_id(index: int) -> str:
    """kevy's node id of shard `index`: `index + 1` in 40 hex digits."""
    assert index >= 0
    return f"{index + 1:040x}"


def advertised_host(bind: str) -> str:
    """The address clients are sent to: the bind address, loopback for a wildcard (a `0.0.0.0`
    in a MOVED reply would strand the client), as kevy does."""
    return "127.0.0.1" if bind in ("0.0.0.0", "", "::") else bind


@attrs.frozen
class ClusterTopology:
    """Shard `shard_index` of `shard_count`, serving at `port_base + shard_index` on `host`."""

    shard_count: int
    shard_index: int
    host: str
    port_base: int
    # slot -> owning shard, precomputed: one list index per key on the request path.
    _owners: tuple[int, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        assert 0 <= self.shard_index < self.shard_count
        owners = tuple(slot_to_shard(slot, self.shard_count) for slot in range(16384))
        object.__setattr__(self, "_owners", owners)

    def port(self, index: int) -> int:
        return self.port_base + index

    def slots(self, index: int) -> range:
        return slot_range_for_shard(index, self.shard_count)

    @property
    def my_slots(self) -> range:
        return self.slots(self.shard_index)

    def owner(self, slot: int) -> int:
        return self._owners[slot]

    def moved(self, slot: int) -> ErrorReply:
        target = self._owners[slot]
        return ErrorReply(f"MOVED {slot} {self.host}:{self.port(target)}")

    def single_key_names(self) -> frozenset[bytes]:
        """Names (lower and upper case) of the commands whose only key is argv[1] whenever
        there is an argv[1] (GET, SET, INCR, LPUSH, HSET, ZADD...): for those the check is one
        slot of one key, without the key-position lookup (`redirect_single`)."""
        names = set()
        for name, spec in COMMAND_TABLE.items():
            if spec.single_key:
                names.add(name)
                names.add(name.upper())
        return frozenset(names)

    def redirect_single(self, key: bytes) -> ErrorReply | None:
        """`redirect([key])`, inlined for the request path of every keyed command."""
        if b"{" in key:
            slot = key_slot(key)
        else:  # no hash tag: the whole key is hashed (`routing.hashtag`)
            slot = binascii.crc_hqx(key, 0) & _SLOT_MASK
        if self._owners[slot] != self.shard_index:
            return self.moved(slot)
        return None

    def redirect(self, keys: list[bytes]) -> ErrorReply | None:
        """None when this shard serves every key (or there is none); else the error to answer."""
        if not keys:
            return None
        slot = key_slot(keys[0])
        for key in keys[1:]:
            if key_slot(key) != slot:
                return CROSSSLOT
        if self._owners[slot] != self.shard_index:
            return self.moved(slot)
        return None
