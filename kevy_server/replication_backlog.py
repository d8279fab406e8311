"""The replication backlog: the last `size_bytes` of the replication stream, by offset.

What it models: Redis's `repl_backlog`. The stream's bytes are numbered from 1 (a byte's
offset is the master's `master_repl_offset` right after it was appended), and the backlog
keeps the newest `size_bytes` of them, so a replica that lost its link and asks
`PSYNC <replid> <offset>` for an offset still held resumes from there (`+CONTINUE`) instead
of taking a whole new snapshot.

Guarantees: `first_byte_offset .. end_offset` is exactly what is held (`histlen` bytes);
`since(offset)` returns the bytes from `offset` on when the backlog holds them all (an offset
of `end_offset + 1` is a replica that is up to date: no bytes), else None. Trimming keeps
the newest bytes; appends are amortised O(len) (the buffer is compacted when its dead prefix
outgrows the kept part).
"""

from __future__ import annotations

__all__ = ["Backlog"]


class Backlog:
    def __init__(self, size_bytes: int, end_offset: int) -> None:
        assert size_bytes > 0
        self.size_bytes = size_bytes
        self._buffer = bytearray()
        self._start = 0  # index in `_buffer` of the first byte held
        self.first_byte_offset = end_offset + 1
        self.end_offset = end_offset

    @property
    def histlen(self) -> int:
        return len(self._buffer) - self._start

    def append(self, data: bytes) -> None:
        self._buffer += data
        self.end_offset += len(data)
        excess = self.histlen - self.size_bytes
        if excess > 0:
            self._start += excess
            self.first_byte_offset += excess
        if self._start > self.size_bytes:
            del self._buffer[: self._start]
            self._start = 0
        assert self.end_offset - self.first_byte_offset + 1 == self.histlen

    def since(self, offset: int) -> bytes | None:
        """The bytes from stream offset `offset` on, or None when some are no longer held."""
        if offset < self.first_byte_offset or offset > self.end_offset + 1:
            return None
        index = self._start + (offset - self.first_byte_offset)
        return bytes(self._buffer[index:])

    def resize(self, size_bytes: int) -> None:
        """CONFIG SET repl-backlog-size: keep the newest `size_bytes` from now on."""
        assert size_bytes > 0
        self.size_bytes = size_bytes
        excess = self.histlen - size_bytes
        if excess > 0:
            self._start += excess
            self.first_byte_offset += excess
