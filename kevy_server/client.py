"""One client connection's state, owned by the event loop (no locks: one thread touches it).

What a client holds:
- the socket and its request parser; `backlog`, the requests read but not yet run (a
  blocked client runs nothing until it is served or times out, as in Redis);
- its session: id, name, library name/version, protocol (2 or 3), authentication, the
  MULTI queue, watched keys, pub/sub subscriptions, the blocking operation it waits on;
- its output, in three stages: `output`, the replies of the current turn (a list of encoded
  chunks); `held`, turns whose replies wait for an fsync (`appendfsync always`), oldest
  first, each as `(barrier, chunks)`; `unsent`, bytes the socket did not take yet.

Replies leave in request order: a turn's chunks go behind every held turn of the client,
and `unsent` is always older than anything held.
"""

from __future__ import annotations

import socket
from collections import deque
from typing import Any

from .replies import encoder_for
from .request_parser import RequestParser

__all__ = ["Client"]


class Client:
    __slots__ = (
        "sock", "fd", "parser", "address", "local_address", "client_id", "name", "library_name",
        "library_version", "protocol", "encode", "authenticated", "queued", "transaction_failed",
        "watched", "watch_dirty", "channels", "patterns", "shard_channels", "blocked", "backlog",
        "output", "held", "unsent", "output_bytes", "closing", "read_closed", "close_reason",
        "created_monotonic_ms", "last_interaction_monotonic_ms", "last_command", "commands_processed",
        "soft_limit_since_ms", "reading_paused", "gated", "registered_events", "unauthenticated_buffer",
        "monitoring", "reply_off", "skip_replies", "tracking", "user", "no_evict", "read_peak_bytes",
        "database",
        "replica_link", "replconf",
    )

    # True while CLIENT PAUSE holds commands back: every client then takes the checked path.
    all_gated = False

    def __init__(
        self, sock: socket.socket, client_id: int, address: str, local_address: str,
        max_request_bytes: int, authenticated: bool, now_ms: int,
    ) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.parser = RequestParser(max_request_bytes)
        self.address = address
        self.local_address = local_address
        self.client_id = client_id
        self.name: bytes | None = None
        self.library_name = b""
        self.library_version = b""
        self.protocol = 2
        self.encode = encoder_for(2)
        self.authenticated = authenticated
        # Before AUTH, requests are split one by one under Redis's small limits (10
        # arguments, 16 KiB bulks); the bytes not yet split wait here (None once authenticated).
        self.unauthenticated_buffer: bytearray | None = None if authenticated else bytearray()
        self.queued: list[list[bytes]] | None = None  # None: not inside MULTI
        self.transaction_failed = False
        self.watched: dict[bytes, bool] = {}  # key -> it was already expired when watched
        self.watch_dirty = False
        self.channels: dict[bytes, None] = {}  # ordered sets
        self.patterns: dict[bytes, None] = {}
        self.shard_channels: dict[bytes, None] = {}
        self.blocked: Any = None  # a blocking.Waiter while blocked
        self.backlog: deque[list[bytes]] = deque()
        self.output: list[bytes] = []
        self.held: deque[tuple[int, list[bytes]]] = deque()
        self.unsent = b""
        self.output_bytes = 0  # bytes held or unsent (the output buffer limits look at it)
        self.closing = False  # close once the output is sent (QUIT, protocol error, SHUTDOWN)
        self.read_closed = False  # the peer sent end-of-stream
        self.close_reason = ""
        self.created_monotonic_ms = now_ms
        self.last_interaction_monotonic_ms = now_ms
        self.last_command: Any = b"NULL"  # the last request's argv (CLIENT LIST's cmd)
        self.commands_processed = 0
        self.soft_limit_since_ms: int | None = None
        self.reading_paused = False
        self.registered_events = 0
        self.monitoring = False  # MONITOR: sees every command, may not touch the keyspace
        self.reply_off = False  # CLIENT REPLY OFF
        self.skip_replies = 0  # CLIENT REPLY SKIP: replies still to drop
        self.tracking: Any = None  # a tracking.TrackingState while CLIENT TRACKING is on
        self.user: Any = None  # the ACL user (acl.User) once authenticated, or the default
        self.no_evict = False  # CLIENT NO-EVICT (kevy evicts nothing; shown by CLIENT LIST)
        self.read_peak_bytes = 0  # the largest recv so far (CLIENT LIST's rbp)
        self.database = 0  # SELECT's database (CLIENT LIST's db); commands run there
        self.replica_link: Any = None  # a replication_master.ReplicaLink once it sent PSYNC / SYNC
        self.replconf: dict[str, Any] | None = None  # what REPLCONF said (listening-port, capa...)
        self.gated = not authenticated  # any reason a request cannot take the fast path
        self.update_gate()

    # -- state that decides the request path ---------------------------------------------------

    def update_gate(self) -> None:
        """Recompute `gated`: True when a request must pass the slow checks (AUTH, MULTI,
        subscribed mode under RESP2, MONITOR, CLIENT REPLY, CLIENT TRACKING, an ACL user
        with limits, CLIENT PAUSE, a database other than 0: the dispatcher selects it).
        The loop's fast path tests this one flag."""
        user = self.user
        self.gated = (
            not self.authenticated
            or self.queued is not None
            or (self.protocol == 2 and self.in_pubsub_mode())
            or self.monitoring
            or self.reply_off
            or self.skip_replies > 0
            or self.tracking is not None
            or (user is not None and not user.unrestricted)
            or Client.all_gated
            or self.database != 0
        )

    def set_protocol(self, protocol: int) -> None:
        self.protocol = protocol
        self.encode = encoder_for(protocol)
        self.update_gate()

    def subscription_count(self) -> int:
        """Channels and patterns (what SUBSCRIBE and PSUBSCRIBE replies count)."""
        return len(self.channels) + len(self.patterns)

    def in_pubsub_mode(self) -> bool:
        return bool(self.channels or self.patterns or self.shard_channels)

    @property
    def idle_ms_reference(self) -> int:
        return self.last_interaction_monotonic_ms

    def flags(self) -> str:
        """CLIENT LIST's `flags`, in Redis's order: O (monitor), P (subscribed), x (in MULTI),
        b (blocked), t (tracking), R (tracking with a broken redirect), B (broadcast
        tracking), d (dirty CAS), c (close after the reply), e (no-evict); N when none."""
        letters = ""
        if self.replica_link is not None:
            letters += "S"
        if self.monitoring:
            letters += "O"
        if self.in_pubsub_mode():
            letters += "P"
        if self.queued is not None:
            letters += "x"
        if self.blocked is not None:
            letters += "b"
        tracking = self.tracking
        if tracking is not None:
            letters += "t"
            if tracking.redirect_broken:
                letters += "R"
            if tracking.broadcast:
                letters += "B"
        if self.watch_dirty:
            letters += "d"
        if self.closing:
            letters += "c"
        if self.no_evict:
            letters += "e"
        return letters or "N"

    def __repr__(self) -> str:
        return f"Client(id={self.client_id}, addr={self.address})"
