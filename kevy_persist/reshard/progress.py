"""A progress bar for large re-shards (and RDB exports and imports), drawn only on a terminal.

`TerminalProgress` is a `reshard.ProgressCallback`: called with (bytes of source files
processed, total bytes). It draws one line, redrawn in place with `\\r`, at most once per
percent, and only when the stream is a terminal and the job is large enough to be worth
watching (`threshold_bytes`, 16 MiB of source files by default). Output to a file or a pipe
stays clean: the one summary line is logged by `reshard.reconcile_layout` instead. `label`
names the job on the line ("re-sharding" by default).
"""

from __future__ import annotations

import sys
from typing import TextIO

DEFAULT_THRESHOLD_BYTES = 16 << 20
BAR_WIDTH = 30


class TerminalProgress:
    def __init__(
        self, stream: TextIO, *, threshold_bytes: int = DEFAULT_THRESHOLD_BYTES, label: str = "re-sharding"
    ) -> None:
        self.stream = stream
        self.threshold_bytes = threshold_bytes
        self.label = label
        self.enabled = _is_terminal(stream)
        self.last_percent = -1
        self.drawn = False

    @classmethod
    def for_stderr(cls, label: str = "re-sharding") -> TerminalProgress:
        return cls(sys.stderr, label=label)

    def __call__(self, done_bytes: int, total_bytes: int) -> None:
        if not self.enabled or total_bytes < self.threshold_bytes:
            return
        percent = min(100, done_bytes * 100 // total_bytes)
        if percent == self.last_percent:
            return
        self.last_percent = percent
        filled = BAR_WIDTH * percent // 100
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] {percent:3d}% {done_bytes >> 20}/{total_bytes >> 20} MiB"
        )
        if percent == 100:
            self.stream.write("\n")
        self.stream.flush()
        self.drawn = True


def render_bar(done_bytes: int, total_bytes: int) -> str:
    """The bar's text for a position (what a terminal shows), for tests and logs."""
    percent = min(100, done_bytes * 100 // max(total_bytes, 1))
    filled = BAR_WIDTH * percent // 100
    return f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {percent:3d}%"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
