"""Two of the figures behind INFO stats: the store's metric events counted, and the ops rate.

`MetricCounts` counts the store's metric events by name (`StoreConfig.metrics`: saves,
rewrites, expiries -- `expired_keys` adds the keys each expiry reaped --, fsync and write
errors). The store calls it from whichever thread did the work (a background job's worker,
the opening thread), so the counts are kept under a lock. CONFIG RESETSTAT clears them but
for the save and rewrite counts, which INFO persistence still reads.

`OpsRate` keeps (monotonic ms, commands processed) for the last 16 ticks: INFO's
`instantaneous_ops_per_sec` is the rate over that window (0 until two samples exist).
The other counters (connections, refusals, output-limit disconnections) are plain fields of
the server, read and written only on the loop.
"""

from __future__ import annotations

import threading
from collections import deque

from kevy_persist.store.config import MetricEvent

__all__ = ["MetricCounts", "OpsRate"]

KEPT_AT_RESET = ("save", "rewrite")


class MetricCounts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def record(self, event: MetricEvent) -> None:
        with self._lock:
            self._counts[event.name] = self._counts.get(event.name, 0) + 1
            if event.name == "expired":
                keys = int(event.fields.get("keys", 0))
                self._counts["expired_keys"] = self._counts.get("expired_keys", 0) + keys

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts = {name: count for name, count in self._counts.items() if name in KEPT_AT_RESET}


class OpsRate:
    """(monotonic ms, commands processed) every tick: INFO's instantaneous_ops_per_sec."""

    def __init__(self) -> None:
        self._samples: deque[tuple[int, int]] = deque(maxlen=16)

    def sample(self, now_ms: int, commands_processed: int) -> None:
        self._samples.append((now_ms, commands_processed))

    def per_second(self) -> int:
        samples = self._samples
        if len(samples) < 2:
            return 0
        (first_ms, first), (last_ms, last) = samples[0], samples[-1]
        return (last - first) * 1000 // max(1, last_ms - first_ms)

    def clear(self) -> None:
        self._samples.clear()
