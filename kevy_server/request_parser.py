"""Client requests from a byte stream: RESP multibulk frames and inline commands (pure, no I/O).

`RequestParser.feed(data)` returns every request completed by `data` (each an argv, a
non-empty `list[bytes]`) and keeps the incomplete tail for the next call. Multibulk frames are
parsed by `hiredis.Reader` (C speed on the common path); a line that does not start with `*`
at a request boundary is an inline command (`PING\r\n`), as in Redis, and the two may be mixed
in one stream.

Guarantees:
- Requests come out in stream order, each exactly once, whatever the split of the stream into
  `feed` calls (the property tests feed random splits), also when an inline line begins with
  a byte hiredis would read as a reply type (`+`, `$`, `=`...).
- Cost: a read that ends on a request boundary is parsed by hiredis alone; one that ends
  inside a request also has its frames' headers walked once in Python (`FrameScanner`).
- An argument count above 1,048,576 (`invalid multibulk length`) or a bulk length above
  `max_request_bytes` or 512 MiB (`invalid bulk length`) is refused as soon as its header has
  arrived, before any payload, and before hiredis sees the count (it reserves memory for it).
  A request whose bytes add up beyond `max_request_bytes` is refused as soon as that many
  have arrived; an inline line above 64 KiB is refused. Memory held for an unfinished request
  is therefore bounded by `max_request_bytes` plus one read (twice that counting hiredis's
  own copy).
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

from .frame_scan import MAX_BULK_BYTES, MAX_HEADER_BYTES, FrameScanner, RequestProtocolError
from .inline import InlineError, split_inline

__all__ = ["MAX_INLINE_BYTES", "RequestParser", "RequestProtocolError"]

MAX_INLINE_BYTES = 64 * 1024

# Checking every header in Python would cost more than hiredis's whole parse, so headers are
# checked before hiredis sees them only when one may break a limit: a count of seven digits
# or more (the limit, 1048576, has seven), or a bulk length with as many digits as the
# largest allowed. Frames are walked in Python only when a read ends inside one.

_ASTERISK = ord("*")
_NEWLINE = b"\n"
# A multibulk count of seven digits or more: hiredis would reserve a list that large as soon
# as it reads the header, so such a read takes the general path, which checks it first. Bulk
# lengths need no such check on the fast path: within a read that ends on a boundary every
# bulk was followed by its payload, and an unfinished frame is checked when the read ends.
_COUNT_HEADER = re.compile(rb"\*[0-9]{7}")
_EMPTY = b""


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
        self._scanner = FrameScanner(max_bulk_bytes)
        self._suspicious_header = re.compile(rb"\*[0-9]{7}|\$[0-9]{%d}" % len(str(max_bulk_bytes)))
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

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for requests not complete yet (CLIENT LIST's `qbuf`)."""
        return len(self._pending) + len(self._inline)

    def feed(self, data: bytes) -> list[list[bytes]]:
        """Every request that `data` completes, in order; raises `RequestProtocolError`."""
        if (
            self._in_run
            or self._in_inline
            or data[:1] != b"*"
            or len(data) > self.max_request_bytes
            or _COUNT_HEADER.search(data) is not None
        ):
            return self._feed_general(data, [])
        # The common case: a read that starts on a request boundary with a multibulk frame
        # and holds no count that could break a limit. hiredis parses it alone; only when it
        # ends inside a frame, or hiredis refuses something, is the run handed to the general
        # path (with exactly the state that path would have built itself).
        reader = self._reader
        reader.feed(data)
        commands: list[list[bytes]] = []
        returned = 0
        join = _EMPTY.join
        while True:
            try:
                frame = reader.gets()
            except hiredis.ProtocolError:
                return self._refused_at_boundary(data, returned, commands)
            if frame is False:
                break
            if frame.__class__ is not list:
                if frame is not None:  # *-1 is a null request, skipped; anything else is refused
                    return self._refused_at_boundary(data, returned, commands)
                frame = []
            try:
                # Every argument must be a bulk string: the join (in C) refuses anything else
                # hiredis can hand out (an integer, nil, a nested array, an error).
                join(frame)
            except TypeError:
                return self._refused_at_boundary(data, returned, commands)
            returned += 1
            if frame:
                commands.append(frame)
            if not reader.has_data():
                return commands  # on a request boundary again: nothing to remember
        # The read ends inside a frame (hiredis's has_data cannot tell before a frame
        # completes: only a completed frame proves a boundary).
        self._enter_run(data, returned)
        try:
            rest = self._locate_unfinished()
            if rest is None and self._suspicious_header.search(self._pending) is not None:
                # The unfinished frame may declare a bulk beyond the limit: refuse it now,
                # before its payload arrives, as the general path does.
                FrameScanner(self._scanner.max_bulk_bytes).scan(self._pending)
        except RequestProtocolError as error:
            error.commands = commands
            raise
        if rest is not None:
            return self._feed_general(rest, commands)
        return commands

    def _refused_at_boundary(self, data: bytes, returned: int, commands: list[list[bytes]]) -> list[list[bytes]]:
        """hiredis refused bytes of a read that began on a boundary: inline data, or an error."""
        self._enter_run(data, returned)
        try:
            rest = self._recover()
        except RequestProtocolError as error:
            error.commands = commands
            raise
        return self._feed_general(rest, commands)

    def _enter_run(self, data: bytes, returned: int) -> None:
        """Become the general path's state after hiredis was fed `data` at a boundary."""
        assert not self._pending and not self._in_run
        self._pending += data
        self._returned = returned
        self._in_run = True

    def _feed_general(self, data: bytes, commands: list[list[bytes]]) -> list[list[bytes]]:
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
        search_start = max(0, len(self._pending) - MAX_HEADER_BYTES)  # a header may span feeds
        self._pending += memoryview(data)[offset:]
        if self._suspicious_header.search(self._pending, search_start) is not None:
            # hiredis reserves a list of the declared size when it reads a multibulk header,
            # and waits for any bulk length: check the headers (a payload may hold such bytes
            # too, so this is a scan from the first unfinished frame) before it sees them.
            FrameScanner(self._scanner.max_bulk_bytes).scan(self._pending)
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
        rest = self._locate_unfinished()
        if rest is not None:
            return rest
        if len(self._pending) > self.max_request_bytes:
            raise RequestProtocolError("ERR Protocol error: request exceeds max-request-bytes")
        return None

    def _check_frame_size(self, frame: list[bytes]) -> None:
        if sum(map(len, frame)) + 6 * len(frame) > self.max_request_bytes:
            raise RequestProtocolError("ERR Protocol error: request exceeds max-request-bytes")

    def _locate_unfinished(self) -> bytes | None:
        """Find where the bytes hiredis waits on start; drop the frames before them.

        Returns the bytes from there on when they are not a multibulk frame: an inline line
        starting with a byte hiredis reads as a reply type (`+x\n`, `$3\r\n`, `=0\r\n`)
        would make it wait forever. The scanner resumes where it stopped, so a stream that
        never ends on a request boundary has each header scanned once.
        """
        scanner = self._scanner
        self._returned -= scanner.scan(self._pending, frame_limit=self._returned)
        position = scanner.position
        if scanner.remaining_arguments == 0 and position < len(self._pending) and self._pending[position] != _ASTERISK:
            assert self._returned == 0, "inline data can only follow the frames hiredis returned"
            rest = bytes(self._pending[position:])
            self._start_run(fresh_reader=True)
            return rest
        if scanner.frame_start > 0:
            del self._pending[: scanner.frame_start]
            scanner.rebase(scanner.frame_start)
        return None

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
