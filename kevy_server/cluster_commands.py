"""CLUSTER, ASKING, READONLY, READWRITE: the read-only surface of the single-node cluster.

In cluster mode (`server.cluster` is a `ClusterTopology`, one shard process of a
`kevy-server --cluster`) these answer with Redis 7.0's reply shapes, in RESP2 and RESP3:
- CLUSTER SLOTS: `[[start, end, [host, port, id, {}]], ...]`, one range per shard;
- CLUSTER SHARDS: per shard a map of `slots` `[start, end]` and `nodes` `[{id, port, ip,
  endpoint, role, replication-offset, health}]`;
- CLUSTER NODES: one line per shard, `id host:port@port flags - 0 0 epoch connected
  start-end` (the answering shard flagged `myself`; no cluster bus, so the bus port is the
  data port, as kevy advertises), lines ending in `\\n`; a verbatim string in RESP3;
- CLUSTER INFO: Redis's fields, state ok, every slot assigned; CLUSTER MYID;
- CLUSTER KEYSLOT key; COUNTKEYSINSLOT / GETKEYSINSLOT slot [count]: this shard's keys
  (Redis answers from the node's own keyspace too), with Redis's argument errors;
- no CLUSTER HELP: Redis's text lists the subcommands that change a cluster (ADDSLOTS,
  MEET, SETSLOT...), which a static single-node cluster does not have;
- ASKING, READONLY, READWRITE: OK (no migration, no replicas: nothing changes).
Without cluster mode every one answers Redis's "This instance has cluster support disabled"
(after the subcommand and arity checks, in Redis's order).
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.numbers import parse_int
from kevy_persist.commands.replies import OK
from kevy_persist.layout.routing import SLOT_COUNT, key_slot

from .cluster_topology import ClusterTopology, node_id
from .replies import ReplyMap, Verbatim
from .verbs import SUBCOMMANDS, subcommand_arity, subcommands, unknown_subcommand, verb

__all__ = ["DISABLED", "cluster_info_text"]

DISABLED = ErrorReply("ERR This instance has cluster support disabled")
NOT_AN_INTEGER = ErrorReply("ERR value is not an integer or out of range")
INVALID_SLOT = ErrorReply("ERR Invalid slot")
INVALID_SLOT_OR_COUNT = ErrorReply("ERR Invalid slot or number of keys")


def _ranges(topology: ClusterTopology) -> list[tuple[int, int, int, int]]:
    """(shard, port, first slot, last slot) of every node, in slot order."""
    result = []
    for index in range(topology.shard_count):
        slots = topology.slots(index)
        result.append((index, topology.port(index), slots.start, slots.stop - 1))
    return result


def _slots(topology: ClusterTopology, client: Any, argv: list[bytes]) -> Any:
    host = topology.host.encode()
    return [[first, last, [host, port, node_id(index).encode(), ReplyMap()]]
            for index, port, first, last in _ranges(topology)]


def _shards(topology: ClusterTopology, client: Any, argv: list[bytes]) -> Any:
    host = topology.host.encode()
    return [ReplyMap([b"slots", [first, last], b"nodes", [ReplyMap([
        b"id", node_id(index).encode(), b"port", port, b"ip", host, b"endpoint", host,
        b"role", b"master", b"replication-offset", 0, b"health", b"online",
    ])]]) for index, port, first, last in _ranges(topology)]


def _nodes(topology: ClusterTopology, client: Any, argv: list[bytes]) -> Any:
    lines = []
    for index, port, first, last in _ranges(topology):
        flags = "myself,master" if index == topology.shard_index else "master"
        lines.append(f"{node_id(index)} {topology.host}:{port}@{port} {flags} - 0 0 {index + 1} connected "
                     f"{first}-{last}\n")
    return Verbatim("".join(lines).encode())


def cluster_info_text(topology: ClusterTopology) -> str:
    fields = [
        ("cluster_state", "ok"), ("cluster_slots_assigned", SLOT_COUNT), ("cluster_slots_ok", SLOT_COUNT),
        ("cluster_slots_pfail", 0), ("cluster_slots_fail", 0), ("cluster_known_nodes", topology.shard_count),
        ("cluster_size", topology.shard_count), ("cluster_current_epoch", topology.shard_count),
        ("cluster_my_epoch", topology.shard_index + 1), ("cluster_stats_messages_sent", 0),
        ("cluster_stats_messages_received", 0), ("total_cluster_links_buffer_limit_exceeded", 0),
    ]
    return "".join(f"{name}:{value}\r\n" for name, value in fields)


def _info(topology: ClusterTopology, client: Any, argv: list[bytes]) -> Any:
    return Verbatim(cluster_info_text(topology).encode())


def _myid(topology: ClusterTopology, client: Any, argv: list[bytes]) -> Any:
    return node_id(topology.shard_index).encode()


def _keyslot(topology: ClusterTopology, client: Any, argv: list[bytes]) -> Any:
    return key_slot(argv[2])


def _keys_in_slot(server: Any, slot: int) -> Any:
    """This process's keys of `slot` (O(keys of the shard), as Redis's is O(keys of the slot))."""
    return (key for key in server.owned.shards[0].keyspace.keys() if key_slot(key) == slot)


def _countkeysinslot(topology: ClusterTopology, client: Any, argv: list[bytes], server: Any = None) -> Any:
    slot = parse_int(argv[2])
    if slot is None:
        return NOT_AN_INTEGER
    if not 0 <= slot < SLOT_COUNT:
        return INVALID_SLOT
    return sum(1 for _ in _keys_in_slot(server, slot))


def _getkeysinslot(topology: ClusterTopology, client: Any, argv: list[bytes], server: Any = None) -> Any:
    slot, count = parse_int(argv[2]), parse_int(argv[3])
    if slot is None or count is None:
        return NOT_AN_INTEGER
    if not 0 <= slot < SLOT_COUNT or count < 0:
        return INVALID_SLOT_OR_COUNT
    found = []
    for key in _keys_in_slot(server, slot):
        if len(found) >= count:
            break
        found.append(key)
    return found


def _run(handler: Any) -> Any:
    return lambda server, client, argv: handler(server.cluster, client, argv)


def _run_on_keys(handler: Any) -> Any:
    return lambda server, client, argv: handler(server.cluster, client, argv, server)


CLUSTER_SUBCOMMANDS = subcommands("cluster", {
    b"SLOTS": (2, _run(_slots)),
    b"SHARDS": (2, _run(_shards)),
    b"NODES": (2, _run(_nodes)),
    b"INFO": (2, _run(_info)),
    b"MYID": (2, _run(_myid)),
    b"KEYSLOT": (3, _run(_keyslot)),
    b"COUNTKEYSINSLOT": (3, _run_on_keys(_countkeysinslot)),
    b"GETKEYSINSLOT": (4, _run_on_keys(_getkeysinslot)),
})
assert SUBCOMMANDS["cluster"] is CLUSTER_SUBCOMMANDS


@verb("CLUSTER", -2)
def cluster_command(server: Any, client: Any, argv: list[bytes]) -> Any:
    entry = CLUSTER_SUBCOMMANDS.get(argv[1].upper())
    if entry is None:
        return unknown_subcommand(argv)
    arity, run = entry
    error = subcommand_arity(argv, arity)
    if error is not None:
        return error
    if server.cluster is None:
        return DISABLED
    return run(server, client, argv)


def _accepted(server: Any, client: Any, argv: list[bytes]) -> Any:
    """ASKING / READONLY / READWRITE: nothing migrates and there are no replicas to read from."""
    return OK if server.cluster is not None else DISABLED


verb("ASKING", 1, "fast")(_accepted)
verb("READONLY", 1, "fast")(_accepted)
verb("READWRITE", 1, "fast")(_accepted)
