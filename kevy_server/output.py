"""The sending half of the event loop: a client's replies, from its turn to the socket.

Mixed into `EventLoop` (`loop.py`), whose state it uses: `clients`, `poller`,
`turn_clients`, `holding`, `durability`, `server`. Per client, output moves through three
stages (`client.py`): the current turn's chunks, turns held behind an fsync barrier, and
bytes the socket did not take yet (sent when epoll says it is writable). Replies leave in
request order: held turns and unsent bytes always go first.

Backpressure: a client whose unsent replies pass `PAUSE_READING_BYTES` is not read until they
fall below half of it, so a client that pipelines without reading cannot make the server
buffer without bound. Closing: a client marked `closing` (QUIT, a protocol error, shutdown)
is closed once everything owed to it is sent; `close_client` forgets it everywhere.
"""

from __future__ import annotations

import logging
import select
import time

from .client import Client
from .replies import error_bytes

__all__ = ["PAUSE_READING_BYTES", "Output", "monotonic_ms"]

log = logging.getLogger("kevy_server")

PAUSE_READING_BYTES = 16 * 1024 * 1024
_IN = select.EPOLLIN
_OUT = select.EPOLLOUT


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class Output:
    """Sending, holding, closing and draining clients (see the module docstring)."""

    output_bytes = 0  # INFO's total_net_output_bytes / total_writes_processed
    writes = 0

    def is_open(self, client: Client) -> bool:
        """`client` is still connected (a closed client's descriptor number may be reused)."""
        return self.clients.get(client.fd) is client

    def emit(self, client: Client, data: bytes) -> None:
        """Queue bytes for `client` in this turn (a reply, a pushed message)."""
        if not client.output:
            self.turn_clients.append(client)
        client.output.append(data)

    @staticmethod
    def _encode_error(chunks: list[bytes], index: int, message: str) -> None:
        chunks[index] = error_bytes(message)

    def _flush_turn(self, client: Client, barrier: int) -> None:
        chunks = client.output
        if not chunks:
            return
        client.output = []
        if not self.is_open(client):
            return
        if client.held:
            barrier = max(barrier, client.held[-1][0])
        if barrier > self.durability.completed:
            client.held.append((barrier, chunks))
            self.holding[client] = None
            return
        self._send(client, chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def _absorb_syncs(self) -> None:
        durability = self.durability
        if not durability.absorb_completions(self._encode_error):
            return
        completed = durability.completed
        for client in list(self.holding):
            held = client.held
            ready = []
            while held and held[0][0] <= completed:
                ready.extend(held.popleft()[1])
            if not held:
                del self.holding[client]
            if ready and self.is_open(client):
                self._send(client, b"".join(ready))

    def _send(self, client: Client, data: bytes) -> None:
        if client.unsent:
            client.unsent += data
            self._check_backpressure(client)
            return
        try:
            sent = client.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.close_client(client, "write error")
            return
        self.output_bytes += sent
        self.writes += 1
        if sent < len(data):
            client.unsent = bytearray(memoryview(data)[sent:])
            self._update_events(client)
            self._check_backpressure(client)
        elif client.closing:
            self._close_if_done(client)

    def _send_unsent(self, client: Client) -> None:
        try:
            sent = client.sock.send(client.unsent)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close_client(client, "write error")
            return
        self.output_bytes += sent
        self.writes += 1
        del client.unsent[:sent]
        if not client.unsent:
            client.unsent = b""
            self._update_events(client)
            if client.closing:
                self._close_if_done(client)
        elif client.reading_paused and len(client.unsent) < PAUSE_READING_BYTES // 2:
            client.reading_paused = False
            self._update_events(client)

    def _check_backpressure(self, client: Client) -> None:
        if not client.reading_paused and len(client.unsent) > PAUSE_READING_BYTES:
            client.reading_paused = True
            self._update_events(client)

    def _update_events(self, client: Client) -> None:
        events = 0
        if not client.read_closed and not client.reading_paused and not client.closing:
            events |= _IN
        if client.unsent:
            events |= _OUT
        if events != client.registered_events and self.is_open(client):
            self.poller.modify(client.fd, events)
            client.registered_events = events

    def _stop_reading(self, client: Client) -> None:
        client.reading_paused = True
        self._update_events(client)

    def _close_if_done(self, client: Client) -> None:
        if client.closing and not client.unsent and not client.held and not client.output:
            self.close_client(client, client.close_reason or "closed")

    def close_client(self, client: Client, reason: str) -> None:
        if not self.is_open(client):
            return
        del self.clients[client.fd]
        client.closing = True  # a request loop still running for it stops there
        self.server.forget_client(client)
        self.holding.pop(client, None)
        try:
            self.poller.unregister(client.fd)
        except (OSError, ValueError):
            pass
        try:
            client.sock.close()
        except OSError:
            pass
        log.debug("client %s closed: %s", client.address, reason)

    def drain(self, deadline_ms: int) -> None:
        """Stop reading, make every reply durable and sent (until `deadline_ms`), then close."""
        for client in list(self.clients.values()):
            client.closing = True
            client.backlog.clear()
            self._update_events(client)
        self.end_turn()
        self.quiesce()
        for client in list(self.clients.values()):
            self._close_if_done(client)
        while self.clients and monotonic_ms() < deadline_ms:
            events = self.poller.poll(max(0.0, (deadline_ms - monotonic_ms()) / 1000))
            for fd, mask in events:
                client = self.clients.get(fd)
                if client is not None and mask & _OUT:
                    self._send_unsent(client)
                elif client is not None:
                    self._end_of_stream(client)
        for client in list(self.clients.values()):
            log.warning("client %s did not take its replies within the drain timeout", client.address)
            self.close_client(client, "drain timeout")
