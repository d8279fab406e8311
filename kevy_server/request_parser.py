"""Client requests from a byte stream: RESP multibulk frames and inline commands (pure, no I/O).

`RequestParser.feed(data)` returns every request completed by `data` (each an argv, a
non-empty `list[bytes]`) and keeps the incomplete tail for the next call. Multibulk frames are
parsed by `hiredis.Reader` (C speed on the common path); a line that does not start with `*`
at a request boundary is an inline command (`PING\r\n`), as in Redis, and the two may be mixed
in one stream.

Guarantees:
- Requests come out in stream order, each exactly once, whatever the split of the stream into
  `feed` calls (the property tests feed every split).
- An argument count above 1,048,576 (`invalid multibulk length`) or a bulk length above
  `max_request_bytes` or 512 MiB (`invalid bulk length`) is refused as soon as its header has
  arrived, before any payload, and before hiredis sees the count (it reserves memory for it).
  A request whose bytes add up beyond `max_request_bytes` is refused once the unfinished bytes
  pass min(`max_request_bytes`, 1 MiB); an inline line above 64 KiB is refused. Memory held
  for unfinished requests is therefore bounded by about max(`max_request_bytes`, 1 MiB) plus
  one read (twice that counting hiredis's own copy).
- Other malformations (a non-bulk element, a nested array) are refused when hiredis reaches
  them, at the latest when the frame completes.
- A malformed stream raises `RequestProtocolError` whose `commands` are the requests that were
  complete before the damage (Redis answers those, then the error, then closes); the parser
  must not be fed again after that.
- Empty frames (`*0`, `*-1`) and empty inline lines are skipped, as Redis does.

Leniency kept from hiredis: the two bytes after a bulk payload are not checked to be CRLF, and a
`+simple` element is accepted as an argument.
"""

from __future__ import annotations

import re

import hiredis

from .inline import InlineError, split_inline

MAX_ARGUMENT_COUNT = 1024 * 1024
MAX_BULK_BYTES = 512 * 1024 * 1024
MAX_INLINE_BYTES = 64 * 1024
# "*" or "$", then at most 20 characters of a 64-bit number, then CRLF.
_MAX_HEADER_BYTES = 23

# Checking every header in Python would cost more than hiredis's whole parse, so headers
# are checked precisely only when one may break a limit: a count of seven digits or more
# (the limit, 1048576, has seven), a bulk length with as many digits as the largest allowed,
# or once the bytes held for unfinished requests pass this size.
_SCAN_THRESHOLD_BYTES = 1024 * 1024

_ASTERISK = ord("*")
_DOLLAR = ord("$")
_NEWLINE = b"\n"


class RequestProtocolError(Exception):
    """The stream broke the protocol; `message` is the reply text, `commands` came before."""

    def __init__(self, message: str, commands: list[list[bytes]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.commands = commands if commands is not None else []


class _FrameScanner:
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
        line_end = buffer.find(b"\r\n", self.position + 1, self.position + _MAX_HEADER_BYTES)
        if line_end < 0:
            if len(buffer) - self.position >= _MAX_HEADER_BYTES:
                raise RequestProtocolError(f"ERR Protocol error: too big {'mbulk' if kind == 'multibulk' else 'bulk'} count string")
            return None
        text = bytes(buffer[self.position + 1 : line_end])
        digits = text[1:] if text[:1] == b"-" else text
        if not digits.isdigit():  # int() would also take " 7", "+7" and "1_0"
            raise RequestProtocolError(f"ERR Protocol error: invalid {kind} length")
        self.position = line_end + 2
        return int(text)


class RequestParser:
    """Incremental request parser for one connection; see the module docstring."""

    def __init__(self, max_request_bytes: int = MAX_BULK_BYTES) -> None:
        assert max_request_bytes > 0
        self.max_request_bytes = max_request_bytes
        self._inline = bytearray()
        self._in_inline = False
        self._reader = hiredis.Reader()
        self._pending = bytearray()
        max_bulk_bytes = min(MAX_BULK_BYTES, max_request_bytes)
        self._scanner = _FrameScanner(max_bulk_bytes)
        self._suspicious_header = re.compile(rb"\*[0-9]{7}|\$[0-9]{%d}" % len(str(max_bulk_bytes)))
        self._scan_threshold_bytes = min(max_request_bytes, _SCAN_THRESHOLD_BYTES)
        self._start_run(fresh_reader=False)

    def _start_run(self, fresh_reader: bool) -> None:
        """Forget the run; `_pending` will hold every byte fed to the reader from now on.

        The reader is reused at a request boundary; after it refused bytes it is replaced
        (hiredis keeps no usable state after a protocol error).
        """
        if fresh_reader:
            self._reader = hiredis.Reader()
        self._pending.clear()
        self._returned = 0  # frames hiredis returned since `_pending` starts
        self._scanner.reset()
        self._in_run = False

    def feed(self, data: bytes) -> list[list[bytes]]:
        """Every request that `data` completes, in order; raises `RequestProtocolError`."""
        commands: list[list[bytes]] = []
        offset = 0
        try:
            while offset < len(data):
                if not self._in_run and not self._in_inline:
                    if data[offset] == _ASTERISK:
                        self._in_run = True
                    else:
                        self._in_inline = True
                if self._in_inline:
                    offset = self._feed_inline(data, offset, commands)
                    continue
                leftover = self._feed_multibulk(data, offset, commands)
                if leftover is None:
                    break
                data, offset = leftover, 0
        except RequestProtocolError as error:
            error.commands = commands
            raise
        return commands

    def _feed_inline(self, data: bytes, offset: int, commands: list[list[bytes]]) -> int:
        newline = data.find(_NEWLINE, offset)
        if newline < 0:
            self._inline += data[offset:]
            if len(self._inline) > MAX_INLINE_BYTES:
                raise RequestProtocolError("ERR Protocol error: too big inline request")
            return len(data)
        line = bytes(self._inline) + data[offset:newline]
        self._inline.clear()
        self._in_inline = False
        if len(line) > MAX_INLINE_BYTES:
            raise RequestProtocolError("ERR Protocol error: too big inline request")
        try:
            argv = split_inline(line)
        except InlineError as error:
            raise RequestProtocolError(f"ERR Protocol error: {error}") from None
        if argv:
            commands.append(argv)
        return newline + 1

    def _feed_multibulk(self, data: bytes, offset: int, commands: list[list[bytes]]) -> bytes | None:
        """Feed the rest of `data` to hiredis; None, or the bytes left for inline parsing."""
        reader = self._reader
        search_start = max(0, len(self._pending) - _MAX_HEADER_BYTES)  # a header may span feeds
        self._pending += memoryview(data)[offset:]
        if self._suspicious_header.search(self._pending, search_start) is not None:
            # hiredis reserves a list of the declared size when it reads a multibulk header,
            # and waits for any bulk length: check the headers (a payload may hold such bytes
            # too, so this is a scan from the first unfinished frame) before it sees them.
            _FrameScanner(self._scanner.max_bulk_bytes).scan(self._pending)
        reader.feed(data, offset, len(data) - offset)
        while True:
            try:
                frame = reader.gets()
            except hiredis.ProtocolError:
                return self._recover()
            if frame is False:
                break
            if frame.__class__ is not list:
                if frame is None:  # *-1: a null request, skipped
                    frame = []
                else:
                    return self._recover()
            for argument in frame:
                if argument.__class__ is not bytes:
                    return self._recover()
            self._returned += 1
            if frame:
                if len(self._pending) > self.max_request_bytes:
                    self._check_frame_size(frame)
                commands.append(frame)
            if not reader.has_data():
                self._start_run(fresh_reader=False)  # the stream is at a request boundary
                return None
        self._check_incomplete_frame()
        return None

    def _check_frame_size(self, frame: list[bytes]) -> None:
        if sum(map(len, frame)) + 6 * len(frame) > self.max_request_bytes:
            raise RequestProtocolError("ERR Protocol error: request exceeds max-request-bytes")

    def _check_incomplete_frame(self) -> None:
        """Past the threshold: check the unfinished frame's size, and drop the bytes before it.

        The scanner resumes where it stopped, so each header is scanned at most once.
        """
        if len(self._pending) <= self._scan_threshold_bytes:
            return
        scanner = self._scanner
        completed = scanner.scan(self._pending)
        assert completed <= self._returned, "the scanner saw a frame hiredis did not return"
        self._returned -= completed
        if scanner.frame_start > 0:
            del self._pending[: scanner.frame_start]
            scanner.rebase(scanner.frame_start)
        if len(self._pending) > self.max_request_bytes:
            raise RequestProtocolError("ERR Protocol error: request exceeds max-request-bytes")

    def _recover(self) -> bytes:
        """hiredis refused the bytes after `_returned` frames: inline data, or a real error.

        Returns the bytes from the refused point on, for the caller to parse as a new run.
        """
        scanner = self._scanner
        skipped = scanner.scan(self._pending, frame_limit=self._returned)
        if skipped != self._returned:
            raise RequestProtocolError("ERR Protocol error: unbalanced multibulk frames")
        position = scanner.position
        if position < len(self._pending) and self._pending[position] != _ASTERISK:
            rest = bytes(self._pending[position:])
            self._start_run(fresh_reader=True)
            return rest
        scanner.scan(self._pending, frame_limit=1)  # raises on the header hiredis refused
        raise RequestProtocolError("ERR Protocol error: malformed multibulk request")
