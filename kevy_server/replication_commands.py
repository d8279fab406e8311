"""The replication verbs and figures: SYNC, PSYNC, REPLCONF, REPLICAOF / SLAVEOF, ROLE, WAIT,
INFO replication -- Redis 7.0's replies and error texts, over `replication_master.py` (this
server's replicas) and `replication_replica.py` (the master this server follows).

- PSYNC replid offset / SYNC: the caller becomes a replica (`ReplicationMaster.attach`); no
  reply of the usual kind: the +FULLRESYNC / +CONTINUE line and the stream follow. On a
  replica whose link to its own master is down: `NOMASTERLINK`.
- REPLCONF listening-port / ip-address / capa / rdb-only / rdb-filter-only: +OK; ACK (from a
  replica) and GETACK answer nothing; an unknown option: `Unrecognized REPLCONF option`.
- REPLICAOF host port: follow that master (`+OK`, or `+OK Already connected to specified
  master`); REPLICAOF NO ONE: promote. SLAVEOF is the same verb.
- ROLE: `[master, offset, [[ip, port, ack offset]...]]` (online replicas), or
  `[slave, host, port, state, offset]`.
- WAIT numreplicas timeout: how many replicas acknowledged the stream up to now; waits (at
  most `timeout` ms, 0 = forever) for `numreplicas` of them, asking each for an ACK.
INFO replication's fields are `replication_info.py`'s.
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.replies import OK, SimpleString

from .connection_commands import parse_integer
from .loop import NO_REPLY
from .replication_master import ONLINE
from .verbs import verb

__all__ = ["psync", "replconf", "role", "sync", "wait"]

NOT_AN_INTEGER = ErrorReply("ERR value is not an integer or out of range")
NOMASTERLINK = ErrorReply("NOMASTERLINK Can't SYNC while not connected with my master")
WAIT_ON_REPLICA = ErrorReply(
    "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is "
    "configured to be writable (which is not the default) writes to replicas are just local and are not "
    "propagated."
)


@verb("PSYNC", -3, "admin no-multi")
def psync(server: Any, client: Any, argv: list[bytes]) -> Any:
    if client.replica_link is not None:
        return NO_REPLY  # already a replica: Redis ignores it
    if server.upstream.active and not server.upstream.link_up:
        return NOMASTERLINK
    offset = parse_integer(argv[2])
    server.master.attach(client, argv[1], offset if offset is not None else -1)
    return NO_REPLY


@verb("SYNC", 1, "admin no-multi")
def sync(server: Any, client: Any, argv: list[bytes]) -> Any:
    if client.replica_link is not None:
        return NO_REPLY
    if server.upstream.active and not server.upstream.link_up:
        return NOMASTERLINK
    server.master.attach(client, None, None)
    return NO_REPLY


@verb("REPLCONF", -1, "admin")
def replconf(server: Any, client: Any, argv: list[bytes]) -> Any:
    if len(argv) % 2 == 0:
        return ErrorReply("ERR syntax error")
    link = server.master.links.get(client)
    pending: dict[str, Any] = {}
    for index in range(1, len(argv), 2):
        option, value = argv[index].lower(), argv[index + 1]
        if option == b"listening-port":
            port = parse_integer(value)
            if port is None:
                return NOT_AN_INTEGER
            pending["listening_port"] = port
        elif option == b"ip-address":
            pending["ip_address"] = value.decode("utf-8", "replace")
        elif option == b"capa":
            pending.setdefault("capabilities", set()).add(value.lower())
        elif option == b"ack":
            offset = parse_integer(value)
            if link is not None and offset is not None:
                server.master.acknowledge(client, offset)
            return NO_REPLY
        elif option == b"getack":
            return NO_REPLY  # only a master asks this (of a replica link: `replication_replica`)
        elif option in (b"rdb-only", b"rdb-filter-only"):
            if option == b"rdb-only" and value not in (b"0", b"1"):
                return ErrorReply("ERR syntax error")
        else:
            return ErrorReply(f"ERR Unrecognized REPLCONF option: {argv[index].decode('utf-8', 'replace')}")
    # Until PSYNC the settings wait on the client; the link takes them when it is made.
    settings = client.replconf if client.replconf is not None else {}
    client.replconf = settings
    settings.update({key: value for key, value in pending.items() if key != "capabilities"})
    settings.setdefault("capabilities", set()).update(pending.get("capabilities", ()))
    if link is not None:
        link.adopt(settings)
    return OK


def _replicaof(server: Any, client: Any, argv: list[bytes]) -> Any:
    if server.config.cluster:
        return ErrorReply("ERR REPLICAOF not allowed in cluster mode.")
    if argv[1].lower() == b"no" and argv[2].lower() == b"one":
        server.upstream.stop_following()
        return OK
    if client.replica_link is not None:
        return ErrorReply("ERR Command is not valid when client is a replica.")
    port = parse_integer(argv[2])
    if port is None:
        return NOT_AN_INTEGER
    host = argv[1].decode("utf-8", "replace")
    upstream = server.upstream
    if upstream.active and upstream.host == host and upstream.port == port:
        return SimpleString("OK Already connected to specified master")
    for link in list(server.master.links.values()):
        server.loop.close_client(link.client, "the master follows another master")
    upstream.follow(host, port)
    return OK


verb("REPLICAOF", 3, "admin no-script stale")(_replicaof)
verb("SLAVEOF", 3, "admin no-script stale")(_replicaof)


@verb("ROLE", 1, "fast")
def role(server: Any, client: Any, argv: list[bytes]) -> Any:
    upstream = server.upstream
    if upstream.active:
        return [b"slave", upstream.host.encode(), upstream.port, upstream.role_state.encode(), upstream.offset]
    master = server.master
    replicas = [
        [link.host.encode(), b"%d" % link.listening_port, b"%d" % link.ack_offset]
        for link in master.links.values() if link.state == ONLINE
    ]
    return [b"master", master.offset, replicas]


@verb("WAIT", 3, "")
def wait(server: Any, client: Any, argv: list[bytes]) -> Any:
    replicas = parse_integer(argv[1])
    timeout_ms = parse_integer(argv[2])
    if replicas is None or timeout_ms is None:
        return NOT_AN_INTEGER
    if timeout_ms < 0:
        return ErrorReply("ERR timeout is negative")
    if server.upstream.active:
        return WAIT_ON_REPLICA
    master = server.master
    if server.dispatcher.in_exec:
        return master.acknowledged(master.offset)
    deadline_ms = None if timeout_ms == 0 else server.loop.now_ms + timeout_ms
    count = master.wait(client, replicas, deadline_ms)
    return NO_REPLY if count is None else count
