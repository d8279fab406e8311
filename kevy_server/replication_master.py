"""kevy as a replication master: Redis replicas (`redis-server --replicaof`) follow it.

What it models: Redis 7.0's master side of PSYNC2, on the event loop's thread.

The stream. Every write the store applies is propagated as the records kevy logs for it
(`specs/commands.md`: deterministic effects -- SPOP as SREM, a served BLPOP as its LPOP,
TTLs as PEXPIREAT, expiry as DEL), in the order the loop applied them (the store's change
observer calls `propagate`). A command logged as several records, and an EXEC's records,
travel wrapped in MULTI / EXEC, as Redis propagates them. The stream starts with `SELECT 0`
(again after every full resync, as Redis forces it with `slaveseldb = -1`, and `SELECT n` before
the first write of another database); `PING` every
`repl-ping-replica-period` seconds. Its bytes are numbered: `offset` is
`master_repl_offset`, and the last `repl-backlog-size` of them stay in the backlog
(`replication_backlog.py`) once the first replica attached.

A replica's life (`ReplicaLink.state`, Redis's names):
1. `PSYNC <replid> <offset>`: when `replid` is ours (or our previous one, up to the offset
   where it ended) and the backlog still holds `offset`: `+CONTINUE <replid>`, then the
   backlog from there, and the link is `online`;
2. otherwise (`PSYNC ? -1`, or history we no longer hold): `+FULLRESYNC <replid> <offset>`,
   the store is frozen at exactly that offset (`replication_snapshot.py`: BGSAVE's
   copy-on-write views) and the RDB is encoded on a worker and streamed (`send_bulk`) --
   as `$EOF:<mark>` ... `<mark>` to a replica that announced `capa eof`, else as one
   `$<length>` bulk once it is complete (SYNC, the pre-PSYNC protocol, too, without the
   +FULLRESYNC line). The stream written meanwhile waits in the link and follows the RDB;
   then the link is `online` and receives the stream as it is produced (after an EOF-marked
   RDB, from the replica's first ACK on: it looks for the mark at the end of a read).
3. The replica sends `REPLCONF ACK <offset>` every second: its offset and lag for INFO and
   ROLE, and what WAIT counts (`REPLCONF GETACK *` asks for an ACK at once); the ACK times
   decide which replicas are good for min-replicas-to-write (`replication_quorum.py`).
Replies to a replica leave with the turn's other replies: under `appendfsync always` the
stream reaches replicas only after the fsync that made its records durable, so a replica
never holds a write a master crash could take back.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from kevy_persist.store.owned import encode_frame

from .replication_backlog import Backlog
from .replication_quorum import WriteQuorum
from .replication_snapshot import SnapshotStream

__all__ = ["ReplicaLink", "ReplicationMaster"]

log = logging.getLogger("kevy_server")

GETACK = [b"REPLCONF", b"GETACK", b"*"]
# A syncing replica takes RDB chunks while less than this is waiting for its socket.
SEND_AHEAD_BYTES = 4 * 1024 * 1024
WAIT_BGSAVE, SEND_BULK, ONLINE = "wait_bgsave", "send_bulk", "online"
# The RDB went out with an EOF mark: the stream waits for the replica's first ACK, since the
# replica finds the mark only at the end of what it reads (Redis's repl_put_online_on_ack).
ONLINE_ON_ACK = "online_on_ack"


class ReplicaLink:
    """One replica connection, as the master sees it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.state = WAIT_BGSAVE
        self.listening_port = 0
        self.ip_address: str | None = None
        self.capabilities: set[bytes] = set()
        self.ack_offset = 0
        self.ack_monotonic_ms = 0
        self.snapshot: SnapshotStream | None = None
        self.eof_mark: bytes | None = None
        self.held_chunks: list[bytes] = []  # a length-prefixed RDB waits until it is complete
        self.pending = bytearray()  # the stream produced while the RDB is on its way
        self.preamble_sent = False

    def adopt(self, settings: dict[str, Any]) -> None:
        """What the replica said with REPLCONF (before or after PSYNC)."""
        self.listening_port = settings.get("listening_port", self.listening_port)
        self.ip_address = settings.get("ip_address", self.ip_address)
        self.capabilities |= settings.get("capabilities", set())

    @property
    def host(self) -> str:
        if self.ip_address:
            return self.ip_address
        address = self.client.address
        return address.rsplit(":", 1)[0].strip("[]")


class ReplicationMaster:
    """The master side (see the module docstring); one per server, on the loop's thread."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.replid = secrets.token_hex(20)
        self.replid2 = "0" * 40
        self.second_offset = -1
        self.offset = 0
        self.backlog_size_bytes = server.config.repl_backlog_size_bytes
        self.ping_period_s = server.config.repl_ping_replica_period_s
        self.backlog: Backlog | None = None
        self.links: dict[Any, ReplicaLink] = {}
        self._selected: int | None = None  # the database the stream last SELECTed
        self._transaction: list[list[bytes]] | None = None
        self._transaction_database = 0
        self._wait_waiters: list[tuple[Any, int, int]] = []  # (client, offset, replicas wanted)
        self._last_ping_ms = 0
        self.full_syncs = 0
        self.partial_syncs_ok = 0
        self.partial_syncs_err = 0
        self.quorum = WriteQuorum(server)  # min-replicas-to-write

    @property
    def active(self) -> bool:
        """The stream is recorded (a backlog exists): the store's observer must feed it."""
        return self.backlog is not None

    @property
    def syncing(self) -> bool:
        return any(link.state != ONLINE for link in self.links.values())

    # -- the stream -----------------------------------------------------------------------------

    def propagate(self, expired: list[bytes], records: Any, database: int = 0) -> None:
        """The records of one applied command in `database` (and the DELs of keys expiry
        reaped first)."""
        argvs = [[b"DEL", key] for key in expired]
        if self._transaction is not None:
            self._transaction.extend(argvs)
            self._transaction.extend(records)
            self._transaction_database = database  # a transaction stays in one database
            return
        if len(records) > 1:
            argvs.append([b"MULTI"])
            argvs.extend(records)
            argvs.append([b"EXEC"])
        else:
            argvs.extend(records)
        self.feed(argvs, database=database)

    def begin_transaction(self) -> None:
        """EXEC starts: its records travel as one MULTI / EXEC block."""
        if self.active:
            self._transaction = []

    def end_transaction(self) -> None:
        records, self._transaction = self._transaction, None
        if records:
            self.feed([[b"MULTI"], *records, [b"EXEC"]] if len(records) > 1 else records,
                      database=self._transaction_database)

    def feed(self, argvs: list[list[bytes]], select: bool = True, database: int = 0) -> None:
        """Append to the stream; a SELECT goes first when `database` is not the one the
        stream last selected (`select=False`: a PING or REPLCONF, valid in any database)."""
        if self.backlog is None or not argvs:
            return
        parts = []
        if select and self._selected != database:
            parts.append(encode_frame([b"SELECT", b"%d" % database]))
            self._selected = database
        parts.extend(encode_frame(argv) for argv in argvs)
        data = b"".join(parts)
        self.offset += len(data)
        self.backlog.append(data)
        emit = self.server.loop.emit
        for link in self.links.values():
            if link.state == ONLINE:
                emit(link.client, data)
            else:
                link.pending += data

    # -- synchronisation ------------------------------------------------------------------------

    def attach(self, client: Any, replid: bytes | None, offset: int | None) -> None:
        """PSYNC (`replid`, `offset`) or SYNC (both None): continue or start a full resync."""
        link = self.links.get(client) or ReplicaLink(client)
        if client.replconf is not None:
            link.adopt(client.replconf)
        client.replica_link = link
        if self.backlog is None:
            self.backlog = Backlog(self.backlog_size_bytes, self.offset)
        if not self.links:
            self._last_ping_ms = self.server.loop.now_ms  # the first PING one period from now
        self.links[client] = link
        self.server.refresh_observer()
        loop = self.server.loop
        if replid is not None and offset is not None and self._can_continue(replid.decode("ascii", "replace"), offset):
            assert self.backlog is not None
            since = self.backlog.since(offset)
            assert since is not None
            reply = b"+CONTINUE %s\r\n" % self.replid.encode() if b"psync2" in link.capabilities else b"+CONTINUE\r\n"
            loop.emit(client, reply + since)
            link.state = ONLINE
            link.ack_offset = offset - 1
            link.ack_monotonic_ms = loop.now_ms  # online counts as an ACK (Redis's repl_ack_time)
            self.partial_syncs_ok += 1
            self.quorum.refresh()
            return
        if replid is not None and replid != b"?":
            self.partial_syncs_err += 1
        self.full_syncs += 1
        if replid is not None:
            loop.emit(client, b"+FULLRESYNC %s %d\r\n" % (self.replid.encode(), self.offset))
        else:
            link.capabilities.discard(b"eof")  # SYNC: the old protocol, a length-prefixed RDB
        link.ack_offset = self.offset
        self._selected = None  # the stream after this snapshot starts with a SELECT
        aux = [
            (b"redis-ver", b"7.0.15"), (b"redis-bits", b"64"),
            (b"ctime", b"%d" % (self.server.owned.context.now_ms // 1000)), (b"aof-base", b"0"),
            (b"repl-stream-db", b"0"), (b"repl-id", self.replid.encode()), (b"repl-offset", b"%d" % self.offset),
        ]
        link.snapshot = SnapshotStream.freeze(self.server.owned, aux, loop.wake)
        link.state = SEND_BULK
        if b"eof" in link.capabilities:
            link.eof_mark = secrets.token_hex(20).encode()
        self.pump()

    def _can_continue(self, replid: str, offset: int) -> bool:
        if replid != self.replid and (replid != self.replid2 or offset > self.second_offset):
            return False
        return self.backlog is not None and self.backlog.since(offset) is not None

    def pump(self) -> None:
        """Move RDB chunks to syncing replicas as their sockets drain (the loop calls this
        every turn while a replica syncs); a finished RDB puts its link online."""
        server = self.server
        emit = server.loop.emit
        for link in list(self.links.values()):
            snapshot = link.snapshot
            if snapshot is None or link.state != SEND_BULK:
                continue
            client = link.client
            if link.eof_mark is not None:
                if not link.preamble_sent:
                    emit(client, b"$EOF:%s\r\n" % link.eof_mark)
                    link.preamble_sent = True
                if server.output_size(client) < SEND_AHEAD_BYTES:
                    for chunk in snapshot.take():
                        emit(client, chunk)
            else:
                link.held_chunks.extend(snapshot.take())
            if not snapshot.finished or server.output_size(client) >= SEND_AHEAD_BYTES:
                continue
            rest = snapshot.take()
            if snapshot.error is not None:
                log.error("the RDB for replica %s failed: %s", link.host, snapshot.error)
                server.loop.close_client(client, "replication snapshot failed")
                continue
            snapshot.release()
            link.snapshot = None
            if link.eof_mark is not None:
                for chunk in rest:
                    emit(client, chunk)
                emit(client, link.eof_mark)
                link.state = ONLINE_ON_ACK
            else:
                body = b"".join(link.held_chunks + rest)
                link.held_chunks = []
                emit(client, b"$%d\r\n" % len(body) + body)
                self._put_online(link)

    def _put_online(self, link: ReplicaLink) -> None:
        link.state = ONLINE
        link.ack_monotonic_ms = self.server.loop.now_ms
        self.quorum.refresh()
        if link.pending:
            self.server.loop.emit(link.client, bytes(link.pending))
            link.pending = bytearray()
        log.info("replica %s:%d is online (full resync)", link.host, link.listening_port)

    def disconnect_all(self, reason: str) -> None:
        """Close every replica link before more of the stream leaves (the master undid writes
        it already propagated); the backlog restarts under a new id, so they resync fully."""
        if self.backlog is None:
            return
        for link in list(self.links.values()):
            log.warning("replica %s:%d disconnected: %s", link.host, link.listening_port, reason)
            self.server.loop.close_client(link.client, reason)
        self.new_history()

    def new_history(self) -> None:
        """A new replication id; nothing of the old history can be continued."""
        self.replid = secrets.token_hex(20)
        self.replid2 = "0" * 40
        self.second_offset = -1
        self._selected = None
        self._selected: int | None = None  # the database the stream last SELECTed

    def forget(self, client: Any) -> None:
        link = self.links.pop(client, None)
        if link is None:
            return
        if link.snapshot is not None:
            link.snapshot.release()
        self._wait_waiters = [waiter for waiter in self._wait_waiters if waiter[0] is not client]
        self.server.refresh_observer()
        self.quorum.refresh()

    # -- acknowledgements and WAIT ----------------------------------------------------------------

    def acknowledge(self, client: Any, offset: int) -> None:
        link = self.links.get(client)
        if link is None:
            return
        if link.state == ONLINE_ON_ACK:
            self._put_online(link)
        link.ack_offset = max(link.ack_offset, offset)
        link.ack_monotonic_ms = self.server.loop.now_ms
        self._serve_waiters()

    def good_replicas(self, max_lag_s: int) -> int:
        """Online replicas whose last ACK is at most `max_lag_s` seconds old."""
        now_ms = self.server.loop.now_ms
        return sum(1 for link in self.links.values()
                   if link.state == ONLINE and (now_ms - link.ack_monotonic_ms) // 1000 <= max_lag_s)

    def acknowledged(self, offset: int) -> int:
        return sum(1 for link in self.links.values() if link.state == ONLINE and link.ack_offset >= offset)

    def wait(self, client: Any, replicas: int, deadline_ms: int | None) -> Any:
        """WAIT: the count now if it suffices, else park the client (None)."""
        target = self.offset
        count = self.acknowledged(target)
        if count >= replicas:
            return count
        self.server.blocking.block(client, [], deadline_ms, _never, count)
        self._wait_waiters.append((client, target, replicas))
        self.feed([GETACK], select=False)
        return None

    def _serve_waiters(self) -> None:
        if not self._wait_waiters:
            return
        still = []
        for client, target, replicas in self._wait_waiters:
            waiter = client.blocked
            if waiter is None or waiter.attempt is not _never:
                continue  # timed out, unblocked or gone
            count = self.acknowledged(target)
            waiter.timeout_reply = count  # what a timeout or CLIENT UNBLOCK answers now
            if count >= replicas:
                self.server.blocking.unblock_by_id(client.client_id, False)
            else:
                still.append((client, target, replicas))
        self._wait_waiters = still

    # -- housekeeping -----------------------------------------------------------------------------

    def resize_backlog(self, size_bytes: int) -> None:
        self.backlog_size_bytes = size_bytes
        if self.backlog is not None:
            self.backlog.resize(size_bytes)

    def tick(self, now_ms: int) -> None:
        if self.quorum.enabled or self.quorum.refusal is not None:
            self.quorum.refresh()
        if self.links and now_ms - self._last_ping_ms >= self.ping_period_s * 1000:
            self._last_ping_ms = now_ms
            self.feed([[b"PING"]], select=False)
        if self.syncing:
            self.pump()

    def promoted(self, master_replid: str | None, offset: int) -> None:
        """REPLICAOF NO ONE: this server starts a history of its own. Without replicas of its
        own it continues the history of the master it followed (Redis's shiftReplicationId):
        the master's id stays valid up to `offset`, so a replica that followed the same master
        to the same point resumes here with +CONTINUE."""
        if self.backlog is None and master_replid is not None and offset >= 0:
            self.replid = master_replid
            self.offset = offset
            self.backlog = Backlog(self.backlog_size_bytes, offset)
            self.server.refresh_observer()
        self.replid2 = self.replid
        self.second_offset = self.offset + 1
        self._selected = None
        self._selected: int | None = None  # the database the stream last SELECTed


def _never(key: bytes) -> Any:
    raise AssertionError("WAIT waits on no key")
