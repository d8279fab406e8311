"""Probes for `bench_bgsave.py`: a writer loop with per-request latencies, and a memory sampler.

- `WriterLoop`: one thread issuing SETs back to back through a `set(key, value)` callable
  (the embedded store, or a raw-socket Redis client) over existing keys, recording each
  call's wall latency; `window()` gives the throughput and latency percentiles of a span.
- `MemorySampler`: every `interval_seconds`, the proportional set size (PSS, from
  `/proc/<pid>/smaps_rollup`) of a process and all its children (a forked child shares its
  parent's pages: PSS counts a shared page once in the total, where RSS would count it twice);
  keeps the peak. Linux only.

- `tree_cpu_seconds`: a process's user + system CPU plus that of its children it has reaped
  (`/proc/<pid>/stat` utime, stime, cutime, cstime): Redis's BGSAVE child counts once done.

Measurement plumbing only; nothing here is timed itself.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import attrs


@attrs.frozen
class Window:
    seconds: float
    operations: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def operations_per_second(self) -> float:
        return self.operations / self.seconds if self.seconds > 0 else 0.0


class WriterLoop:
    """SETs back to back on a thread; `mark()` starts a window, `window()` closes it."""

    def __init__(self, set_key: Callable[[bytes, bytes], object], key_count: int) -> None:
        self._set = set_key
        self._key_count = key_count
        self._stop = threading.Event()
        self._latencies: list[float] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="bench-writer", daemon=True)
        self._window_started = 0.0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        value = b"w" * 64
        number = 0
        clock = time.perf_counter
        while not self._stop.is_set():
            key = b"key:%012d" % ((number * 7919) % self._key_count)
            started = clock()
            self._set(key, value)
            latency = clock() - started
            with self._lock:
                self._latencies.append(latency)
            number += 1

    def mark(self) -> None:
        with self._lock:
            self._latencies = []
        self._window_started = time.perf_counter()

    def window(self) -> Window:
        seconds = time.perf_counter() - self._window_started
        with self._lock:
            latencies = sorted(self._latencies)
            self._latencies = []
        if not latencies:
            return Window(seconds, 0, 0.0, 0.0, 0.0)
        return Window(seconds, len(latencies), latencies[len(latencies) // 2] * 1e3,
                      latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3, latencies[-1] * 1e3)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as children:
                found += [int(child) for child in children.read().split()]
    except OSError:
        pass
    return found


def pss_bytes(pid: int) -> int:
    """The PSS of `pid` and its descendants, in bytes (0 for a process that is gone)."""
    total = 0
    for process in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{process}/smaps_rollup", encoding="ascii") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


class MemorySampler:
    """The peak PSS of a process tree, sampled on a thread until `stop()`."""

    def __init__(self, pid: int, interval_seconds: float = 0.05) -> None:
        self._pid = pid
        self._interval = interval_seconds
        self._stop = threading.Event()
        self.peak_bytes = 0
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)

    def start(self) -> MemorySampler:
        self.peak_bytes = pss_bytes(self._pid)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak_bytes = max(self.peak_bytes, pss_bytes(self._pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_bytes


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of `pid`, in seconds (10 ms ticks)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return sum(int(field) for field in fields[11:15]) / os.sysconf("SC_CLK_TCK")
