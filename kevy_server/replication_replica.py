"""kevy as a replica of a Redis master (`REPLICAOF host port`, `--replicaof`).

What it models: the replica side of Redis 7.0's PSYNC2, as one non-blocking connection of
the event loop (its descriptor is registered with the loop's poller; nothing here blocks but
the RDB load). The phases and the moves between them are the table below; anything else is a
bug and raises.

| phase        | ROLE's word  | waits for                                   | then                 |
|--------------|--------------|---------------------------------------------|----------------------|
| CONNECT      | connect      | the next second's retry                     | CONNECTING           |
| CONNECTING   | connecting   | the socket to become writable               | RECEIVE_PONG         |
| RECEIVE_PONG | handshake    | +PONG (NOAUTH / NOPERM are fine, as Redis)  | RECEIVE_AUTH / PORT  |
| RECEIVE_AUTH | handshake    | AUTH [masteruser] masterauth's reply        | RECEIVE_PORT         |
| RECEIVE_PORT | handshake    | REPLCONF listening-port's reply             | RECEIVE_CAPA         |
| RECEIVE_CAPA | handshake    | REPLCONF capa eof capa psync2's reply       | RECEIVE_PSYNC        |
| RECEIVE_PSYNC| handshake    | +FULLRESYNC id offset / +CONTINUE [id]      | TRANSFER / CONNECTED |
| TRANSFER     | sync         | the RDB (`$len` bulk, or `$EOF:mark`...mark) | CONNECTED            |
| CONNECTED    | connected    | the command stream                          | (stays)              |
Any failure (a refused connect, an error reply to PSYNC, a closed or silent link for
`repl-timeout`) goes back to CONNECT and the next second tries again, with
`PSYNC <master replid> <offset + 1>` once a sync succeeded, so a dropped link resumes.
With `masterauth` set (`--masterauth`, CONFIG SET; `masteruser` for an ACL user), the
handshake sends `AUTH [masteruser] masterauth` after the PING, as Redis does; an error reply
("Unable to AUTH to MASTER") drops the link, and each retry uses the settings of that moment.

A full sync replaces the dataset: the RDB is decoded by kevy's importer
(`formats.rdb_decode`), loaded into every shard (`store.dataset_replace`) and saved at once
(a snapshot and a fresh log per shard), so the files never hold a mix. The stream's commands
then run through the store (`replication_stream.py`). `offset` counts the stream's bytes as
the master numbers them; `REPLCONF ACK <offset>` goes up every second and at once for
`REPLCONF GETACK`.
"""

from __future__ import annotations

import enum
import logging
import select
import socket
from typing import Any

from kevy_persist import KevyError
from kevy_persist.formats.rdb_decode import decode_rdb
from kevy_persist.store.owned import encode_frame

from .replication_load import replace_every_database
from .replication_stream import StreamApplier

__all__ = ["LinkPhase", "ReplicaOfMaster"]

log = logging.getLogger("kevy_server")

REPL_TIMEOUT_MS = 60_000
ACK_PERIOD_MS = 1000
RETRY_PERIOD_MS = 1000
READ_SIZE_BYTES = 256 * 1024


class LinkPhase(enum.Enum):
    NONE = "none"
    CONNECT = "connect"
    CONNECTING = "connecting"
    RECEIVE_PONG = "handshake"
    RECEIVE_AUTH = "handshake-auth"
    RECEIVE_PORT = "handshake-port"
    RECEIVE_CAPA = "handshake-capa"
    RECEIVE_PSYNC = "handshake-psync"
    TRANSFER = "sync"
    CONNECTED = "connected"


_P = LinkPhase
TRANSITIONS: dict[LinkPhase, frozenset[LinkPhase]] = {
    _P.NONE: frozenset({_P.CONNECT}),
    _P.CONNECT: frozenset({_P.CONNECTING, _P.NONE}),
    _P.CONNECTING: frozenset({_P.RECEIVE_PONG, _P.CONNECT, _P.NONE}),
    _P.RECEIVE_PONG: frozenset({_P.RECEIVE_AUTH, _P.RECEIVE_PORT, _P.CONNECT, _P.NONE}),
    _P.RECEIVE_AUTH: frozenset({_P.RECEIVE_PORT, _P.CONNECT, _P.NONE}),
    _P.RECEIVE_PORT: frozenset({_P.RECEIVE_CAPA, _P.CONNECT, _P.NONE}),
    _P.RECEIVE_CAPA: frozenset({_P.RECEIVE_PSYNC, _P.CONNECT, _P.NONE}),
    _P.RECEIVE_PSYNC: frozenset({_P.TRANSFER, _P.CONNECTED, _P.CONNECT, _P.NONE}),
    _P.TRANSFER: frozenset({_P.CONNECTED, _P.CONNECT, _P.NONE}),
    _P.CONNECTED: frozenset({_P.CONNECT, _P.NONE}),
}
_HANDSHAKE = frozenset({_P.RECEIVE_PONG, _P.RECEIVE_AUTH, _P.RECEIVE_PORT, _P.RECEIVE_CAPA, _P.RECEIVE_PSYNC})


class ReplicaOfMaster:
    """The link to the master this server follows (phase NONE: it follows none)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.phase = LinkPhase.NONE
        self.host: str | None = None
        self.port = 0
        self.master_replid: str | None = None  # known once a sync succeeded
        self.offset = -1  # the master's stream offset this replica has applied
        self.sync_in_progress = False
        self.masterauth: str | None = server.config.masterauth  # CONFIG SET may change these
        self.masteruser: str | None = server.config.masteruser
        self.down_since_ms: int | None = None
        self.last_io_ms = 0
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._outgoing = bytearray()
        self._applier: StreamApplier | None = None
        self._transfer: dict[str, Any] = {}
        self._last_ack_ms = 0
        self._last_attempt_ms = -RETRY_PERIOD_MS

    @property
    def active(self) -> bool:
        """This server is a replica (read-only to clients)."""
        return self.phase is not LinkPhase.NONE

    @property
    def link_up(self) -> bool:
        return self.phase is LinkPhase.CONNECTED

    @property
    def role_state(self) -> str:
        return "handshake" if self.phase in _HANDSHAKE else self.phase.value

    def _move(self, phase: LinkPhase) -> None:
        if phase not in TRANSITIONS[self.phase]:
            raise AssertionError(f"replication link cannot move from {self.phase.name} to {phase.name}")
        self.phase = phase

    # -- commands -------------------------------------------------------------------------------

    def follow(self, host: str, port: int) -> None:
        """REPLICAOF host port: drop any link, follow this master from the next attempt."""
        same = self.active and host == self.host and port == self.port
        if same:
            return
        self._drop_link()  # leaves CONNECT (a link was up or being made) or NONE
        if self.phase is LinkPhase.NONE:
            self._move(LinkPhase.CONNECT)
        self.host, self.port = host, port
        self.master_replid, self.offset = None, -1
        self.down_since_ms = self.server.loop.now_ms
        self._last_attempt_ms = -RETRY_PERIOD_MS
        self.server.dispatcher.set_read_only(True)
        self._connect()

    def stop_following(self) -> None:
        """REPLICAOF NO ONE: become a master, keeping the data (and the master's history)."""
        if not self.active:
            return
        self._drop_link()
        self._move(LinkPhase.NONE)
        self.server.dispatcher.set_read_only(False)
        self.server.master.promoted(self.master_replid, self.offset)
        self.server.master.quorum.refresh()  # a master again: min-replicas-to-write applies
        self.host, self.port = None, 0

    def close(self) -> None:
        """The server stops: close the link (the server stays a replica in its settings)."""
        self._drop_link()

    # -- the connection -------------------------------------------------------------------------

    def _connect(self) -> None:
        assert self.host is not None
        self._last_attempt_ms = self.server.loop.now_ms
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        error = sock.connect_ex((self.host, self.port))
        if error not in (0, 115, 36):  # EINPROGRESS (Linux), EINPROGRESS (BSD)
            sock.close()
            log.warning("replication: connecting to %s:%d failed (errno %d)", self.host, self.port, error)
            return
        self._sock = sock
        self._buffer = bytearray()
        self._outgoing = bytearray()
        self.last_io_ms = self.server.loop.now_ms
        self._move(LinkPhase.CONNECTING)
        self.server.loop.watch_descriptor(sock.fileno(), select.EPOLLOUT | select.EPOLLIN, self._on_event)

    def _drop_link(self, reason: str | None = None) -> None:
        if reason is not None:
            log.warning("replication link to %s:%d lost: %s", self.host, self.port, reason)
        if self._sock is not None:
            self.server.loop.unwatch_descriptor(self._sock.fileno())
            self._sock.close()
            self._sock = None
        self._transfer = {}
        self._applier = None
        self.sync_in_progress = False
        if self.phase not in (LinkPhase.NONE, LinkPhase.CONNECT):
            self._move(LinkPhase.CONNECT)
            self.down_since_ms = self.server.loop.now_ms

    def _send(self, argv: list[bytes]) -> None:
        self._outgoing += encode_frame(argv)
        self._flush()

    def _flush(self) -> None:
        if self._sock is None or not self._outgoing:
            return
        try:
            sent = self._sock.send(self._outgoing)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as error:
            self._drop_link(f"write error: {error}")
            return
        del self._outgoing[:sent]
        events = select.EPOLLIN | (select.EPOLLOUT if self._outgoing else 0)
        self.server.loop.watch_descriptor(self._sock.fileno(), events, self._on_event)

    def _on_event(self, mask: int) -> None:
        if self.phase is LinkPhase.CONNECTING:
            assert self._sock is not None
            error = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                self._drop_link(f"connect failed (errno {error})")
                return
            self._move(LinkPhase.RECEIVE_PONG)
            self._send([b"PING"])
            return
        if mask & select.EPOLLOUT:
            self._flush()
        if mask & ~select.EPOLLOUT and self._sock is not None:
            self._read()

    def _read(self) -> None:
        assert self._sock is not None
        try:
            data = self._sock.recv(READ_SIZE_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self._drop_link(f"read error: {error}")
            return
        if not data:
            self._drop_link("the master closed the connection")
            return
        self.last_io_ms = self.server.loop.now_ms
        if self.phase is LinkPhase.CONNECTED:
            self._stream(data)
            return
        self._buffer += data
        while self._sock is not None and self.phase in _HANDSHAKE | {LinkPhase.TRANSFER}:
            if not (self._transfer_step() if self.phase is LinkPhase.TRANSFER else self._handshake_step()):
                return

    # -- handshake ------------------------------------------------------------------------------

    def _line(self) -> bytes | None:
        while self._buffer[:1] == b"\n":  # the master's keepalive newlines
            del self._buffer[:1]
        end = self._buffer.find(b"\r\n")
        if end < 0:
            return None
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    def _handshake_step(self) -> bool:
        line = self._line()
        if line is None:
            return False
        phase = self.phase
        if phase is LinkPhase.RECEIVE_PONG:
            if line.startswith(b"-") and not line.startswith((b"-NOAUTH", b"-NOPERM", b"-ERR operation not permitted")):
                self._drop_link(f"error reply to PING: {line.decode('utf-8', 'replace')}")
                return False
            if self.masterauth is not None:
                self._move(LinkPhase.RECEIVE_AUTH)
                user = [self.masteruser.encode()] if self.masteruser is not None else []
                self._send([b"AUTH", *user, self.masterauth.encode()])
                return True
            self._move(LinkPhase.RECEIVE_PORT)
            self._send([b"REPLCONF", b"listening-port", b"%d" % self.server.port])
        elif phase is LinkPhase.RECEIVE_AUTH:
            if line.startswith(b"-"):
                self._drop_link(f"Unable to AUTH to MASTER: {line[1:].decode('utf-8', 'replace')}")
                return False
            self._move(LinkPhase.RECEIVE_PORT)
            self._send([b"REPLCONF", b"listening-port", b"%d" % self.server.port])
        elif phase is LinkPhase.RECEIVE_PORT:
            self._move(LinkPhase.RECEIVE_CAPA)  # an error here is not fatal (Redis goes on too)
            self._send([b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
        elif phase is LinkPhase.RECEIVE_CAPA:
            self._move(LinkPhase.RECEIVE_PSYNC)
            if self.master_replid is not None:
                self._send([b"PSYNC", self.master_replid.encode(), b"%d" % (self.offset + 1)])
            else:
                self._send([b"PSYNC", b"?", b"-1"])
        else:
            return self._psync_reply(line)
        return True

    def _psync_reply(self, line: bytes) -> bool:
        if line.startswith(b"+FULLRESYNC"):
            parts = line.split()
            self.master_replid = parts[1].decode("ascii", "replace")
            self._transfer = {"offset": int(parts[2]), "size": None, "mark": None}
            self._move(LinkPhase.TRANSFER)
            self.sync_in_progress = True
            return True
        if line.startswith(b"+CONTINUE"):
            parts = line.split()
            if len(parts) > 1:
                self.master_replid = parts[1].decode("ascii", "replace")
            self._online()
            rest = bytes(self._buffer)
            self._buffer = bytearray()
            if rest:
                self._stream(rest)
            log.info("replication: partial resync with %s:%d from offset %d", self.host, self.port, self.offset + 1)
            return False
        self._drop_link(f"PSYNC answered {line.decode('utf-8', 'replace')}")
        return False

    # -- the RDB transfer -----------------------------------------------------------------------

    def _transfer_step(self) -> bool:
        transfer = self._transfer
        if transfer["size"] is None and transfer["mark"] is None:
            line = self._line()
            if line is None:
                return False
            if line.startswith(b"$EOF:"):
                transfer["mark"] = line[5:]
            elif line.startswith(b"$") and line[1:].isdigit():
                transfer["size"] = int(line[1:])
            else:
                self._drop_link(f"unexpected reply before the RDB: {line[:64]!r}")
                return False
        mark, size = transfer["mark"], transfer["size"]
        if mark is not None:
            at = self._buffer.find(mark, max(0, len(self._buffer) - READ_SIZE_BYTES - len(mark)))
            if at < 0 or at + len(mark) != len(self._buffer):
                return False
            payload, rest = bytes(self._buffer[:at]), b""
        else:
            if len(self._buffer) < size:
                return False
            payload, rest = bytes(self._buffer[:size]), bytes(self._buffer[size:])
        self._buffer = bytearray()
        self._load(payload, transfer["offset"])
        if rest and self.phase is LinkPhase.CONNECTED:
            self._stream(rest)
        return False

    def _load(self, payload: bytes, offset: int) -> None:
        try:
            decoded = decode_rdb(payload, f"<rdb from {self.host}:{self.port}>")
        except KevyError as error:
            self._drop_link(f"the master's RDB does not load: {error}")
            return
        server = self.server
        server.loop.quiesce()
        loaded, skipped = replace_every_database(server.owned, decoded.databases)
        server.tracking.flushed(server.loop.turns)
        try:
            server.save()
        except KevyError as error:
            # The files still hold the old dataset: applying the stream over it would log a
            # mix, so the link drops and the next attempt syncs (and saves) again.
            self._drop_link(f"saving the loaded dataset failed: {error}")
            return
        log.info("replication: loaded %d keys from %s:%d (%d reserved keys skipped)", loaded, self.host, self.port,
                 skipped)
        self.offset = offset
        self._online()

    def _online(self) -> None:
        self._move(LinkPhase.CONNECTED)
        self.sync_in_progress = False
        self.down_since_ms = None
        self._applier = StreamApplier(self.server, self._send_ack, self._advance)
        self._send_ack()

    # -- the command stream ---------------------------------------------------------------------

    def _stream(self, data: bytes) -> None:
        assert self._applier is not None
        error = self._applier.feed(data)
        if error is not None:
            self._drop_link(error)

    def _advance(self, size: int) -> bool:
        """One command of `size` stream bytes was applied; False once the link is gone."""
        self.offset += size
        return self._sock is not None

    def _send_ack(self) -> None:
        self._last_ack_ms = self.server.loop.now_ms
        self._send([b"REPLCONF", b"ACK", b"%d" % self.offset])

    # -- housekeeping ---------------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        if not self.active:
            return
        if self.phase is LinkPhase.CONNECT:
            if now_ms - self._last_attempt_ms >= RETRY_PERIOD_MS:
                self._connect()
            return
        if now_ms - self.last_io_ms > REPL_TIMEOUT_MS:
            self._drop_link("timeout: no data from the master")
            return
        if self.phase is LinkPhase.CONNECTED and now_ms - self._last_ack_ms >= ACK_PERIOD_MS:
            self._send_ack()

