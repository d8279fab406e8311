"""The injected clock: wall time in unix milliseconds and a monotonic reading.

The core never calls `time` itself; the simulator and the tests drive `ManualClock`.
"""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock unix time in milliseconds (TTL deadlines are absolute in it)."""

    def monotonic_ms(self) -> int:
        """A never-decreasing reading for intervals (everysec, expiry pacing)."""


class SystemClock:
    """The real clock. `time` is imported lazily so the core's modules stay pure."""

    def __init__(self) -> None:
        import time  # noqa: PLC0415 -- the single sanctioned use of `time` in the core

        self._time = time

    def now_ms(self) -> int:
        return self._time.time_ns() // 1_000_000

    def monotonic_ms(self) -> int:
        return self._time.monotonic_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to (deterministic tests and simulation)."""

    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self._now_ms = now_ms
        self._monotonic_ms = 0

    def now_ms(self) -> int:
        return self._now_ms

    def monotonic_ms(self) -> int:
        return self._monotonic_ms

    def advance(self, milliseconds: int) -> None:
        assert milliseconds >= 0, "a clock never moves backwards"
        self._now_ms += milliseconds
        self._monotonic_ms += milliseconds
