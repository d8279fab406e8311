"""The cluster-mode main port: plain (non-cluster) clients served by relaying to shard processes.

In cluster mode every shard lives in its own process, behind its own port; a client that does
not speak Redis Cluster (no MOVED handling) still connects to the main port. The supervisor
serves that port with this relay: it parses each request, picks the shard process that owns
its keys, forwards the request there over a connection of that client's own (one per shard it
touches, opened on first use, on the shard process's unix socket: with TCP over loopback
the cluster spent 73 CPU µs per relayed GET/SET, with the unix sockets 55-57, measured by
`bench/bench_cluster.py --only relay`), and copies the reply back byte for byte. Keyless commands go
to shard 0; a few whole-keyspace commands go to every shard and their replies are combined
(DBSIZE sums; KEYS concatenates; FLUSHALL, FLUSHDB, SAVE, BGSAVE, BGREWRITEAOF answer the
first error, else shard 0's reply); SHUTDOWN stops the whole cluster.

Order: a client's replies leave in the order of its requests. Requests to one shard are
pipelined; a request for another shard (or a local reply) waits until every earlier reply
has come back (`ReplyScanner` finds where each ends; RESP3 pushes pass through at once).

Connection state follows the client: HELLO, AUTH, SELECT, CLIENT SETNAME / SETINFO, RESET
go to every open shard connection and are replayed on the ones opened later. A transaction
runs on one shard: the shard of its WATCH, else of its first command with keys (MULTI and
the keyless commands before it are answered here, +OK and +QUEUED, then sent ahead of that
command); a command inside it whose keys live elsewhere gets MOVED there and EXEC aborts,
as in Redis Cluster. In RESP2, SUBSCRIBE and its family and MONITOR pin the client to shard
0 for good (its stream becomes a plain relay). Keys on several shards in one command answer
CROSSSLOT (on one shard, keys of several slots too: the shard process checks it).

What it costs is measured in `bench/bench_cluster.py` (the main port against the shard
ports); the relay is one more process hop and a Python parse per request.
"""

from __future__ import annotations

import logging
import selectors
import socket
from collections import deque
from typing import Any

from kevy_persist.commands.key_positions import command_keys
from kevy_persist.formats.resp import encode_command
from kevy_persist.layout.routing import key_slot, slot_to_shard

from .frame_scan import RequestProtocolError
from .reply_frames import ReplyScanner
from .request_parser import RequestParser
from .verbs import VERBS

__all__ = ["MainPortRelay"]

log = logging.getLogger("kevy_server")

CROSSSLOT_REPLY = b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
CLUSTERDOWN_REPLY = b"-CLUSTERDOWN The cluster is down\r\n"
REPLY_REFUSED = b"-ERR CLIENT REPLY OFF/SKIP is not available on the cluster's main port\r\n"
_SESSION = frozenset({b"HELLO", b"AUTH", b"SELECT", b"RESET"})
_CLIENT_SESSION = frozenset({b"SETNAME", b"SETINFO"})
_PUBSUB = frozenset({b"SUBSCRIBE", b"PSUBSCRIBE", b"SSUBSCRIBE", b"UNSUBSCRIBE", b"PUNSUBSCRIBE",
                     b"SUNSUBSCRIBE"})
_FIRST_REPLY = frozenset({b"FLUSHALL", b"FLUSHDB", b"SAVE", b"BGSAVE", b"BGREWRITEAOF"})
_FAN_OUT = _FIRST_REPLY | {b"DBSIZE", b"KEYS"}
_RECV_BYTES = 256 * 1024


def request_keys(argv: list[bytes]) -> list[bytes]:
    """The key arguments of a request, as the shard process's cluster check finds them."""
    found = VERBS.get(argv[0].upper())
    return found.key_arguments(argv) if found is not None else command_keys(argv)


def combine(name: bytes, replies: list[bytes]) -> bytes:
    """One reply for a command every shard answered (`replies` in shard order)."""
    errors = [reply for reply in replies if reply[:1] == b"-"]
    if errors:
        return errors[0]
    if name == b"DBSIZE":
        return b":%d\r\n" % sum(int(reply[1:-2]) for reply in replies)
    if name == b"KEYS":
        count, bodies = 0, []
        for reply in replies:
            header_end = reply.index(b"\r\n")
            count += int(reply[1:header_end])
            bodies.append(reply[header_end + 2:])
        return b"*%d\r\n" % count + b"".join(bodies)
    return replies[0]


class Backend:
    """One client's connection to one shard process."""

    def __init__(self, shard: int, sock: socket.socket) -> None:
        self.shard = shard
        self.sock = sock
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.scanner = ReplyScanner()
        self.discard = 0  # replies to drop: the session replayed on opening, a deferred MULTI's
        self.events = 0


class RelayClient:
    def __init__(self, sock: socket.socket, max_request_bytes: int) -> None:
        self.sock = sock
        self.parser = RequestParser(max_request_bytes)
        self.outbox = bytearray()
        self.events = 0
        self.backends: dict[int, Backend] = {}
        self.session: list[bytes] = []  # frames replayed on each new backend
        # (kind, target, frame): what to do once every earlier reply has left (`_pump`)
        self.waiting: deque[tuple[str, Any, bytes | None]] = deque()
        self.inflight = 0
        self.inflight_shard: int | None = None
        self.fan_out: tuple[bytes, dict[int, bytes], list[int]] | None = None
        self.resp3 = False
        self.pinned = False
        self.multi: list[bytes] | None = None  # a deferred MULTI (+ the keyless commands queued after it)
        self.multi_shard: int | None = None
        self.in_multi = False
        self.watch_shard: int | None = None
        self.closing = False


class MainPortRelay:
    """The relay's side of the supervisor's loop: each registered socket's data is its handler."""

    def __init__(self, selector: selectors.BaseSelector, shard_count: int, paths: list[str],
                 max_request_bytes: int, on_shutdown: Any) -> None:
        self.selector = selector
        self.shard_count = shard_count
        self.paths = paths  # each shard process's unix socket for the relay
        self.max_request_bytes = max_request_bytes
        self.on_shutdown = on_shutdown
        self.clients: set[RelayClient] = set()
        self._unsent_clients: set[RelayClient] = set()
        self._unsent_backends: set[Backend] = set()

    # -- sockets ----------------------------------------------------------------------------

    def add_client(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = RelayClient(sock, self.max_request_bytes)
        self.clients.add(client)
        client.events = selectors.EVENT_READ
        self.selector.register(sock, client.events, lambda mask: self._client_event(client, mask))

    def _client_event(self, client: RelayClient, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush_client(client)
        if not mask & selectors.EVENT_READ or client not in self.clients:
            return
        data = _receive(client.sock)
        if data is None:
            return
        if not data:
            self.close(client)
            return
        if client.pinned:
            self._send(client, client.backends[0], data)
            return
        try:
            requests = client.parser.feed(data)
        except RequestProtocolError as error:
            requests = error.commands
            client.closing = True
            client.waiting.append(("local", b"-" + error.message.encode() + b"\r\n", None))
        for argv in requests:
            self._classify(client, argv)
        self._pump(client)

    def _backend_event(self, client: RelayClient, backend: Backend, mask: int) -> None:
        if client not in self.clients:
            return
        if mask & selectors.EVENT_WRITE:
            self._flush_backend(backend)
        if not mask & selectors.EVENT_READ:
            return
        data = _receive(backend.sock)
        if data is None:
            return
        if not data:
            log.warning("shard %d closed a main-port client's connection; closing the client", backend.shard)
            self.close(client)
            return
        if client.pinned:
            self._reply(client, data)
            return
        self._take_replies(client, backend, data)
        self._pump(client)

    def _take_replies(self, client: RelayClient, backend: Backend, data: bytes) -> None:
        inbox = backend.inbox
        inbox += data
        start = 0
        for end, is_push in backend.scanner.scan(inbox):
            frame = bytes(inbox[start:end])
            start = end
            if is_push:
                self._reply(client, frame)
            elif backend.discard:
                backend.discard -= 1
            elif client.fan_out is not None:
                client.fan_out[1][backend.shard] = frame
                client.inflight -= 1
                if client.inflight == 0:
                    self._finish_fan_out(client)
            else:
                if client.inflight:  # not after a RESP3 SUBSCRIBE's error: pushes only were expected
                    client.inflight -= 1
                self._reply(client, frame)
        if start:
            del inbox[:start]
            backend.scanner.rebase(start)

    def close(self, client: RelayClient) -> None:
        if client not in self.clients:
            return
        self.clients.discard(client)
        for sock in [client.sock] + [backend.sock for backend in client.backends.values()]:
            try:
                self.selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()

    def close_all(self) -> None:
        for client in list(self.clients):
            self.close(client)

    # -- routing ----------------------------------------------------------------------------

    def _classify(self, client: RelayClient, argv: list[bytes]) -> None:
        name = argv[0].upper()
        frame = encode_command(argv)
        waiting = client.waiting
        if client.in_multi:
            self._in_transaction(client, name, argv, frame)
            return
        if name == b"MULTI":
            client.in_multi = True
            if client.watch_shard is not None:
                client.multi_shard = client.watch_shard
                waiting.append(("one", client.watch_shard, frame))
            else:
                client.multi = [frame]
                waiting.append(("local", b"+OK\r\n", None))
            return
        sub = argv[1].upper() if name == b"CLIENT" and len(argv) > 1 else b""
        if name in _SESSION or sub in _CLIENT_SESSION:
            waiting.append(("session", name, frame))
        elif sub == b"REPLY":
            waiting.append(("local", REPLY_REFUSED, None))
        elif name == b"MONITOR" or (name in _PUBSUB and not client.resp3):
            waiting.append(("pin", 0, frame))
        elif name in _PUBSUB:
            waiting.append(("push-only", 0, frame))
        elif name in _FAN_OUT:
            waiting.append(("all", name, frame))
        elif name == b"SHUTDOWN":
            waiting.append(("shutdown", None, None))
        else:
            shard = self._shard_of(request_keys(argv))
            if shard is None:
                waiting.append(("local", CROSSSLOT_REPLY, None))
                return
            if name == b"WATCH":
                client.watch_shard = shard
            elif name == b"UNWATCH":
                shard, client.watch_shard = client.watch_shard or 0, None
            waiting.append(("one", shard, frame))

    def _in_transaction(self, client: RelayClient, name: bytes, argv: list[bytes], frame: bytes) -> None:
        ends = name in (b"EXEC", b"DISCARD")
        if client.multi_shard is None:
            assert client.multi is not None
            keys = [] if ends else request_keys(argv)
            if not keys and not ends:
                client.multi.append(frame)
                client.waiting.append(("local", b"+QUEUED\r\n", None))
                return
            shard = self._shard_of(keys) if keys else (client.watch_shard or 0)
            client.multi_shard = 0 if shard is None else shard  # several shards: MOVED there aborts EXEC
            client.waiting.append(("deferred", client.multi_shard, b"".join(client.multi)))
            client.waiting.append(("discard", client.multi_shard, b"%d" % len(client.multi)))
            client.multi = None
        client.waiting.append(("one", client.multi_shard, frame))
        if ends:
            client.in_multi, client.multi_shard, client.watch_shard = False, None, None

    def _shard_of(self, keys: list[bytes]) -> int | None:
        """The shard owning every key (0 for none), None when they live on several shards."""
        if not keys:
            return 0
        shards = {slot_to_shard(key_slot(key), self.shard_count) for key in keys}
        return shards.pop() if len(shards) == 1 else None

    # -- sending in order ---------------------------------------------------------------------

    def _pump(self, client: RelayClient) -> None:
        """Start every waiting request that may start now (see the module docstring)."""
        waiting = client.waiting
        while waiting and client in self.clients:
            kind, target, frame = waiting[0]
            if client.pinned:  # a plain relay to shard 0 from now on
                waiting.popleft()
                if frame is None:
                    self._reply(client, target if kind == "local" else b"")
                elif kind != "discard":
                    self._send(client, client.backends[0], frame)
                continue
            if kind == "one" and client.fan_out is None and (client.inflight == 0 or client.inflight_shard == target):
                waiting.popleft()
                backend = self._backend(client, target)
                if backend is None:
                    self._reply(client, CLUSTERDOWN_REPLY)
                    continue
                client.inflight += 1
                client.inflight_shard = target
                self._send(client, backend, frame)
                continue
            if client.inflight:
                return
            waiting.popleft()
            self._start(client, kind, target, frame)
        if client.closing and not waiting and not client.inflight:
            self._flush_client(client)
            self.close(client)  # (a reply the socket did not take at once is lost with it)

    def _start(self, client: RelayClient, kind: str, target: Any, frame: bytes | None) -> None:
        if kind == "local":
            self._reply(client, target)
            return
        if kind == "shutdown":
            self.on_shutdown()
            return
        assert frame is not None
        if kind == "discard":
            backend = client.backends.get(target)
            if backend is not None:
                backend.discard += int(frame)
        elif kind in ("session", "all"):
            shards = (sorted(client.backends) or [0]) if kind == "session" else list(range(self.shard_count))
            backends = [self._backend(client, shard) for shard in shards]
            if any(backend is None for backend in backends):
                self._reply(client, CLUSTERDOWN_REPLY)
                return
            if kind == "session":  # replayed on every shard connection opened from now on
                if target == b"RESET":
                    client.session.clear()
                client.session.append(frame)
            client.fan_out = (target, {}, shards)
            client.inflight = len(shards)
            for backend in backends:
                assert backend is not None
                self._send(client, backend, frame)
        else:  # deferred, pin, push-only: no reply of their own to wait for
            backend = self._backend(client, target)
            if backend is None:
                self._reply(client, CLUSTERDOWN_REPLY)
                return
            client.pinned = kind == "pin"
            self._send(client, backend, frame)

    def _finish_fan_out(self, client: RelayClient) -> None:
        assert client.fan_out is not None
        name, replies, shards = client.fan_out
        client.fan_out = None
        ordered = [replies[shard] for shard in shards]
        if name == b"HELLO" and ordered[0][:1] != b"-":
            client.resp3 = ordered[0][:1] == b"%"
        elif name == b"RESET":
            client.resp3 = False
        self._reply(client, combine(name, ordered))

    def _backend(self, client: RelayClient, shard: int) -> Backend | None:
        found = client.backends.get(shard)
        if found is not None:
            return found
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(1.0)
            sock.connect(self.paths[shard])
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        backend = Backend(shard, sock)
        client.backends[shard] = backend
        backend.events = selectors.EVENT_READ
        self.selector.register(sock, backend.events, lambda mask: self._backend_event(client, backend, mask))
        if client.session:
            backend.discard += len(client.session)
            self._send(client, backend, b"".join(client.session))
        return backend

    # -- output -------------------------------------------------------------------------------

    def _reply(self, client: RelayClient, data: bytes) -> None:
        client.outbox += data
        self._unsent_clients.add(client)

    def _send(self, client: RelayClient, backend: Backend, data: bytes) -> None:
        backend.outbox += data
        self._unsent_backends.add(backend)

    def flush(self) -> None:
        """Send what this round of events produced: one send per socket, not one per reply
        (the supervisor calls it after each batch of events)."""
        while self._unsent_backends or self._unsent_clients:
            backends, self._unsent_backends = self._unsent_backends, set()
            for backend in backends:
                self._flush_backend(backend)
            clients, self._unsent_clients = self._unsent_clients, set()
            for client in clients:
                self._flush_client(client)

    def _flush_client(self, client: RelayClient) -> None:
        if client in self.clients:
            client.events = self._flush(client.sock, client.outbox, client.events)

    def _flush_backend(self, backend: Backend) -> None:
        if backend.sock.fileno() >= 0:  # not closed with its client meanwhile
            backend.events = self._flush(backend.sock, backend.outbox, backend.events)

    def _flush(self, sock: socket.socket, buffer: bytearray, events: int) -> int:
        """Send what the socket takes now; watch it for writing while bytes remain."""
        while buffer:
            try:
                sent = sock.send(buffer)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                buffer.clear()
                break
            del buffer[:sent]
        wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if buffer else 0)
        if wanted != events:
            key = self.selector.get_key(sock)
            self.selector.modify(sock, wanted, key.data)
        return wanted


def _receive(sock: socket.socket) -> bytes | None:
    """What the peer sent (b"": it closed, or the connection broke), None when nothing is ready."""
    try:
        return sock.recv(_RECV_BYTES)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""
