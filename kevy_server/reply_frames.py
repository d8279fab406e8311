"""Where each RESP2 / RESP3 reply ends in a stream from a server, without decoding it (pure).

The cluster-mode main port relays replies from shard processes byte for byte; to keep a
client's replies in request order it must know where one reply ends and whether a frame is
an out-of-band push (RESP3 `>`: pub/sub messages, invalidations) rather than a reply.
`ReplyScanner.scan(buffer)` walks the headers of every top-level frame the buffer completes
and answers `(end offset, is_push)` for each. It is resumable: an aggregate split across
reads keeps its open counts on a stack, so a large reply arriving in many reads is walked
once; a bulk string whose payload has not arrived yet is re-read from its header.

Types: `$ = !` carry a length (-1: null), `* ~ >` a count, `% |` a count of pairs (-1 or 0:
no elements); `+ - : , _ # (` are one line. An attribute (`|`, which Redis 7.0 never sends)
would be counted as a frame of its own. Malformed input raises `ValueError`: it comes from
a shard process of the same build, so it means a bug, and the relay drops the connection.
"""

from __future__ import annotations

__all__ = ["ReplyScanner"]

_LENGTH_TYPES = frozenset(b"$=!")
_COUNT_TYPES = frozenset(b"*~>")
_PAIR_TYPES = frozenset(b"%|")
_LINE_TYPES = frozenset(b"+-:,_#(")
_PUSH = ord(">")


class ReplyScanner:
    def __init__(self) -> None:
        self.position = 0  # the next byte to walk
        self._open: list[int] = []  # elements still missing in each open aggregate, outermost first
        self._top_is_push = False

    def rebase(self, removed: int) -> None:
        """The caller dropped the first `removed` bytes (all of them walked)."""
        assert removed <= self.position
        self.position -= removed

    def scan(self, buffer: bytes | bytearray) -> list[tuple[int, bool]]:
        frames: list[tuple[int, bool]] = []
        position, size, stack = self.position, len(buffer), self._open
        while position < size:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                break
            kind = buffer[position]
            if not stack:
                self._top_is_push = kind == _PUSH
            if kind in _LINE_TYPES:
                position = line_end + 2
            elif kind in _LENGTH_TYPES:
                length = int(buffer[position + 1:line_end])
                end = line_end + 2 if length < 0 else line_end + 4 + length
                if end > size:
                    break
                position = end
            elif kind in _COUNT_TYPES or kind in _PAIR_TYPES:
                count = int(buffer[position + 1:line_end])
                position = line_end + 2
                if count > 0:
                    stack.append(count * 2 if kind in _PAIR_TYPES else count)
                    continue
            else:
                raise ValueError(f"not a RESP reply: type byte {kind!r} at offset {position}")
            # One element is complete: close every aggregate it completes.
            while stack:
                stack[-1] -= 1
                if stack[-1]:
                    break
                stack.pop()
            if not stack:
                frames.append((position, self._top_is_push))
        self.position = position
        return frames
