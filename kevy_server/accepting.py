"""The accepting half of the event loop: the listener, admission, and the EMFILE back-off.

In cluster mode a shard process also accepts on a unix socket (`listen_local`), the relay's.
Mixed into `EventLoop` (`loop.py`), whose state it uses: `poller`, `clients`, `server`,
`now_ms`, `add_timer`. Each readable event accepts up to `ACCEPTS_PER_TURN` connections;
the server decides admission (`maxclients`, protected mode) and the refused get one error
line before the close. Out of descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM), the listener
leaves the poller for `ACCEPT_BACKOFF_MS` -- it stays readable while the backlog is full, so
without the pause the loop would spin on it -- with one warning per 10 s.
"""

from __future__ import annotations

import errno
import logging
import select
import socket
from typing import Any

__all__ = ["ACCEPT_BACKOFF_MS", "Accepting", "TICK_INTERVAL_MS"]

log = logging.getLogger("kevy_server")

TICK_INTERVAL_MS = 100
ACCEPTS_PER_TURN = 256
ACCEPT_BACKOFF_MS = 100
LISTEN_BACKLOG = 511
_IN = select.EPOLLIN
_FD_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class Accepting:
    """The listener's side of the loop (see the module docstring)."""

    def listen(self, bind: str, port: int) -> int:
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((bind, port))
            listener.listen(LISTEN_BACKLOG)
        except OSError:
            listener.close()
            raise
        listener.setblocking(False)
        self.listener = listener
        self._listener_fd = listener.fileno()
        self.poller.register(listener.fileno(), _IN)
        self.add_timer(TICK_INTERVAL_MS, self._tick)
        return listener.getsockname()[1]

    def listen_local(self, path: str) -> None:
        """Also accept on the unix socket `path` (cluster mode: the main-port relay's way in,
        cheaper per request than TCP over loopback)."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            listener.listen(LISTEN_BACKLOG)
        except OSError:
            listener.close()
            raise
        listener.setblocking(False)
        self.local_listener = listener
        self._local_listener_fd = listener.fileno()
        self.poller.register(listener.fileno(), _IN)

    def _accept(self, listener: socket.socket | None = None) -> None:
        listener = listener or self.listener
        assert listener is not None
        for _ in range(ACCEPTS_PER_TURN):
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno in _FD_EXHAUSTED:
                    self._pause_accepting(error)
                else:
                    log.warning("accept failed: %s", error)
                return
            self._admit(sock, address)

    def _pause_accepting(self, error: OSError) -> None:
        """Out of file descriptors: stop accepting for a moment instead of spinning on the
        listener (it stays readable while the backlog is full)."""
        if self.now_ms - self._last_accept_warning_ms >= 10_000:
            log.warning("accept failed (%s): not accepting for %d ms at a time until descriptors free up",
                        error.strerror, ACCEPT_BACKOFF_MS)
            self._last_accept_warning_ms = self.now_ms
        if self.listener is not None and not self._listener_paused:
            self.poller.unregister(self.listener.fileno())
            self._listener_paused = True
            self.add_timer(ACCEPT_BACKOFF_MS, self._resume_accepting)

    def _resume_accepting(self) -> None:
        if self.listener is not None and self._listener_paused:
            self.poller.register(self.listener.fileno(), _IN)
            self._listener_paused = False

    def _admit(self, sock: socket.socket, address: Any) -> None:
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        refusal = self.server.admission_refusal(sock, address, len(self.clients))
        if refusal is not None:
            try:
                sock.send(refusal)
            except OSError:
                pass
            sock.close()
            return
        client = self.server.new_client(sock, address, self.now_ms)
        self.clients[client.fd] = client
        self.poller.register(client.fd, _IN)
        client.registered_events = _IN

    def close_listener(self) -> None:
        if self.local_listener is not None:
            try:
                self.poller.unregister(self.local_listener.fileno())
            except (OSError, ValueError):
                pass
            self.local_listener.close()
            self.local_listener = None
            self._local_listener_fd = -1
        if self.listener is not None:
            if not self._listener_paused:
                try:
                    self.poller.unregister(self.listener.fileno())
                except (OSError, ValueError):
                    pass
            self.listener.close()
            self.listener = None
            self._listener_fd = -1
