"""Progress of a large re-shard (and of RDB exports and imports): a bar on a terminal
(`kevy-persist reshard`, `export-rdb`, `import-rdb`), log lines for an opening store or
server (`LoggedProgress`).

`TerminalProgress` is a `reshard.ProgressCallback`: called with (bytes of source files
processed, total bytes). It draws one line, redrawn in place with `\\r`, at most once per
percent, and only when the stream is a terminal and the job is large enough to be worth
watching (`threshold_bytes`, 16 MiB of source files by default). Output to a file or a pipe
stays clean: the one summary line is logged by `reshard.reconcile_layout` instead. `label`
names the job on the line ("re-sharding" by default).

`LoggedProgress` is the same callback for a process whose output is a log (the server
re-sharding at start): one INFO line per 10 percent once the sources reach
`threshold_bytes` (1 MiB by default), so an operator watching the log sees the start-up
advance rather than a silent pause; the start and summary lines come from the re-shard.
"""

from __future__ import annotations

import logging
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


LOGGER = logging.getLogger("kevy_persist.reshard")
LOGGED_THRESHOLD_BYTES = 1 << 20
LOGGED_STEP_PERCENT = 10


class LoggedProgress:
    def __init__(self, logger: logging.Logger = LOGGER, *, threshold_bytes: int = LOGGED_THRESHOLD_BYTES) -> None:
        self.logger = logger
        self.threshold_bytes = threshold_bytes
        self.last_step = -1
        self.lines = 0

    def __call__(self, done_bytes: int, total_bytes: int) -> None:
        if total_bytes < self.threshold_bytes:
            return
        step = min(100, done_bytes * 100 // total_bytes) // LOGGED_STEP_PERCENT
        if step <= self.last_step:
            return
        self.last_step = step
        self.lines += 1
        self.logger.info("re-sharding: %d%% (%.1f of %.1f MiB of source files)",
                         step * LOGGED_STEP_PERCENT, done_bytes / (1 << 20), total_bytes / (1 << 20))
