"""The reading half of the event loop: a client's bytes, from the socket to its requests.

Mixed into `EventLoop` (`loop.py`), whose state it uses: `clients`, `now_ms`, `input_bytes`,
`reads`, and `run_requests`, `emit`, `close_client`, `_stop_reading`, `_close_if_done`. One
`recv` per readable client per turn; the parser splits every request the bytes complete,
and they run at once unless the client is blocked or has a backlog, where they queue in
order. Before AUTH, requests are split one at a time under Redis's small limits
(`unauthenticated.py`), so an AUTH early in a pipeline lifts them for the rest. A protocol
error answers with Redis's text after the requests read before it, then closes the client
once everything owed to it is sent.
"""

from __future__ import annotations

from .client import Client
from .replies import error_bytes
from .request_parser import RequestProtocolError
from .unauthenticated import UnauthenticatedRequestError, split_unauthenticated

__all__ = ["READ_SIZE_BYTES", "Reading"]

READ_SIZE_BYTES = 64 * 1024


class Reading:
    """The reading side of the loop (see the module docstring)."""

    def _read(self, client: Client) -> None:
        try:
            data = client.sock.recv(READ_SIZE_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close_client(client, "read error")
            return
        if not data:
            self._end_of_stream(client)
            return
        client.last_interaction_monotonic_ms = self.now_ms
        self.input_bytes += len(data)
        self.reads += 1
        if len(data) > client.read_peak_bytes:
            client.read_peak_bytes = len(data)
        if client.unauthenticated_buffer is not None:
            self._read_unauthenticated(client, data)
            return
        try:
            requests = client.parser.feed(data)
        except RequestProtocolError as protocol_error:
            self._take_requests(client, protocol_error.commands, protocol_error.message)
            return
        if client.blocked is None and not client.backlog:
            if requests:
                self.run_requests(client, requests, 0)
        else:
            client.backlog.extend(requests)

    def _take_requests(self, client: Client, requests: list[list[bytes]], error: str | None) -> None:
        if client.blocked is not None or client.backlog:
            client.backlog.extend(requests)
            if error is not None:
                client.backlog.append(error)  # type: ignore[arg-type]
                self._stop_reading(client)
            return
        if requests:
            self.run_requests(client, requests, 0)
        if error is not None:
            if client.blocked is not None or client.backlog:
                client.backlog.append(error)  # type: ignore[arg-type]
            else:
                self._protocol_error(client, error)
            self._stop_reading(client)

    def _read_unauthenticated(self, client: Client, data: bytes) -> None:
        """Before AUTH: split requests one at a time under Redis's small limits, and run each
        before splitting the next (an AUTH early in a pipeline lifts the limits for the rest)."""
        buffer = client.unauthenticated_buffer
        assert buffer is not None
        buffer += data
        while client.unauthenticated_buffer is not None and not client.closing:
            try:
                request, consumed = split_unauthenticated(buffer)
            except UnauthenticatedRequestError as error:
                self._take_requests(client, [], error.message)
                return
            if consumed == 0:
                return
            del buffer[:consumed]
            if request:
                self._take_requests(client, [request], None)
            if client.authenticated:
                rest = bytes(buffer)
                client.unauthenticated_buffer = None
                if rest:
                    self._read_more(client, rest)
                return

    def _read_more(self, client: Client, data: bytes) -> None:
        error = None
        try:
            requests = client.parser.feed(data)
        except RequestProtocolError as protocol_error:
            requests, error = protocol_error.commands, protocol_error.message
        self._take_requests(client, requests, error)

    def _protocol_error(self, client: Client, message: str) -> None:
        self.emit(client, error_bytes(message))
        client.closing = True

    def _end_of_stream(self, client: Client) -> None:
        client.read_closed = True
        self._stop_reading(client)
        if client.blocked is not None or client.backlog:
            return  # served (or timed out) first, then closed
        client.closing = True
        self._close_if_done(client)
