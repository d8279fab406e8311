"""One client connection: read requests, answer them in order, one write per read.

The loop: `recv` up to 64 KiB, parse every request it completes (`RequestParser`), run each
through the `Session`, and send all their replies in a single `sendall`, so a pipelined batch
costs one system call each way. Replies are RESP2 (`encode_resp2`).

Guarantees:
- Replies go out in request order, one per request (none for SHUTDOWN, whose answer is the
  closed connection).
- A protocol error answers the requests that preceded it in the batch, then the error
  (`-ERR Protocol error: ...`), then closes the connection, as Redis does.
- QUIT answers OK and closes; so does a session the server is draining (`stop_reading`
  makes the next read see end-of-stream, after the batch in hand is answered).
- Nothing raised here escapes the connection's thread: the socket is closed and the server
  told (`on_close`) on every path.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from kevy_persist.commands.replies import encode_resp2

from .request_parser import RequestParser, RequestProtocolError
from .session import NO_REPLY, Session

log = logging.getLogger("kevy_server")

READ_SIZE_BYTES = 64 * 1024


class Connection:
    """A client socket and its session; `run` is the body of the connection's thread."""

    def __init__(
        self,
        sock: socket.socket,
        session: Session,
        max_request_bytes: int,
        on_close: Callable[[Connection], None],
    ) -> None:
        self.sock = sock
        self.session = session
        self._parser = RequestParser(max_request_bytes)
        self._on_close = on_close

    def run(self) -> None:
        try:
            self._serve()
        except Exception:  # a bug in one connection must not reach the accept loop
            log.exception("connection %s failed", self.session.address)
        finally:
            try:
                self.sock.close()
            finally:
                self._on_close(self)

    def _serve(self) -> None:
        sock = self.sock
        session = self.session
        handle = session.handle
        feed = self._parser.feed
        while not session.closing:
            try:
                data = sock.recv(READ_SIZE_BYTES)
            except OSError:
                return
            if not data:
                return
            error: str | None = None
            try:
                requests = feed(data)
            except RequestProtocolError as protocol_error:
                requests, error = protocol_error.commands, protocol_error.message
            replies = []
            for argv in requests:
                reply = handle(argv)
                if reply is not NO_REPLY:
                    replies.append(encode_resp2(reply))
                if session.closing:
                    break
            if requests:
                session.touch()
            if error is not None and not session.closing:
                replies.append(b"-%s\r\n" % error.encode())
                session.closing = True
            if replies:
                try:
                    sock.sendall(b"".join(replies))
                except OSError:
                    return

    def stop_reading(self) -> None:
        """Make the next read see end-of-stream (a drain); replies can still be sent."""
        try:
            self.sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass  # already closed by the client or by us

    def force_close(self) -> None:
        """Close both directions now (a drain that ran out of time)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
