"""Multibulk frame headers walked without copying payloads: the precise limit checks (pure).

`RequestParser` lets hiredis parse frames and calls `FrameScanner` only where hiredis cannot
help: to check headers before hiredis sees them, and to find where the unfinished frame
starts in the bytes it holds. The scanner is resumable (each header is read at most once
across calls) and never allocates more than one header's digits.

Errors are `RequestProtocolError` with Redis's texts (`invalid multibulk length`, `invalid
bulk length`, `expected '$', got 'X'`, `too big mbulk count string`).
"""

from __future__ import annotations

MAX_ARGUMENT_COUNT = 1024 * 1024
MAX_BULK_BYTES = 512 * 1024 * 1024
# "*" or "$", then at most 20 characters of a 64-bit number, then CRLF.
MAX_HEADER_BYTES = 23

_ASTERISK = ord("*")
_DOLLAR = ord("$")


class RequestProtocolError(Exception):
    """The stream broke the protocol; `message` is the reply text, `commands` came before."""

    def __init__(self, message: str, commands: list[list[bytes]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.commands = commands if commands is not None else []


class FrameScanner:
    """Walks multibulk frames in a buffer by their headers only, never copying payloads.

    Resumable: `scan` continues from where the last call stopped, so a long request arriving
    in many reads is checked in time proportional to its headers. `frame_start` is the offset
    of the frame being scanned (== `position` between frames).
    """

    def __init__(self, max_bulk_bytes: int) -> None:
        self.max_bulk_bytes = max_bulk_bytes
        self.position = 0
        self.frame_start = 0
        self.remaining_arguments = 0  # 0: between frames

    def reset(self) -> None:
        self.position = 0
        self.frame_start = 0
        self.remaining_arguments = 0

    def rebase(self, removed: int) -> None:
        assert removed <= self.frame_start
        self.position -= removed
        self.frame_start -= removed

    def scan(self, buffer: bytearray, frame_limit: int | None = None) -> int:
        """Advance over complete frames (at most `frame_limit`); the count of frames completed.

        Stops at the end of the data, at an incomplete frame, or between frames at a byte
        that does not start a multibulk frame. Raises `RequestProtocolError` on a bad header.
        """
        completed = 0
        end = len(buffer)
        while True:
            if self.remaining_arguments == 0:
                if frame_limit is not None and completed == frame_limit:
                    return completed
                if self.position >= end or buffer[self.position] != _ASTERISK:
                    return completed
                self.frame_start = self.position
                count = self._header_number(buffer, "multibulk")
                if count is None:
                    return completed
                if count > MAX_ARGUMENT_COUNT or count < -1:
                    raise RequestProtocolError("ERR Protocol error: invalid multibulk length")
                if count <= 0:
                    completed += 1
                    continue
                self.remaining_arguments = count
            if self.position >= end:
                return completed
            if buffer[self.position] != _DOLLAR:
                found = chr(buffer[self.position])
                raise RequestProtocolError(f"ERR Protocol error: expected '$', got '{found}'")
            header_start = self.position
            length = self._header_number(buffer, "bulk")
            if length is None:
                return completed
            if length < 0 or length > self.max_bulk_bytes:
                raise RequestProtocolError("ERR Protocol error: invalid bulk length")
            if self.position + length + 2 > end:
                self.position = header_start  # re-read this header once the payload is in
                return completed
            self.position += length + 2
            self.remaining_arguments -= 1
            if self.remaining_arguments == 0:
                completed += 1
                self.frame_start = self.position

    def _header_number(self, buffer: bytearray, kind: str) -> int | None:
        """The number after the type byte at `position` (moving past its CRLF), or None."""
        line_end = buffer.find(b"\r\n", self.position + 1, self.position + MAX_HEADER_BYTES)
        if line_end < 0:
            if len(buffer) - self.position >= MAX_HEADER_BYTES:
                raise RequestProtocolError(f"ERR Protocol error: too big {'mbulk' if kind == 'multibulk' else 'bulk'} count string")
            return None
        text = bytes(buffer[self.position + 1 : line_end])
        digits = text[1:] if text[:1] == b"-" else text
        if not digits.isdigit():  # int() would also take " 7", "+7" and "1_0"
            raise RequestProtocolError(f"ERR Protocol error: invalid {kind} length")
        self.position = line_end + 2
        return int(text)
