"""What each command cost: INFO commandstats / errorstats / latencystats, SLOWLOG, LATENCY.

The loop (`loop.run_requests`) reads the clock once after each command and hands the
command, its reply and the time since the previous reading to this module; EXEC's queued
commands are measured one by one as they run (EXEC itself, flagged `skip_slowlog` in
Redis, is counted but never slow-logged). What is kept, per command full name (`get`,
`client|list`; unknown commands are counted only as errors, as in Redis):
- `calls`, total time, `rejected_calls` (refused before running: arity, NOAUTH, ACL, a
  command not allowed in the context) and `failed_calls` (an error from running it);
- with `latency-tracking yes`, a latency histogram: buckets of 1/32 of a power of two of
  microseconds (3% wide), from which INFO latencystats prints the percentiles of
  `latency-tracking-info-percentiles` and LATENCY HISTOGRAM the power-of-two counts Redis
  prints. Tracking costs a little on every command, so kevy's default is `no` (Redis's is
  `yes`): INFO latencystats is then empty, as Redis's is with tracking off.
- errors by code (the first word of the error: ERR, WRONGTYPE, NOAUTH...), at most 128
  distinct codes as in Redis (more go uncounted, with one warning);
- the slow log: commands slower than `slowlog-log-slower-than` microseconds (negative:
  none; 0: every command), newest first, at most `slowlog-max-len`, each with Redis's
  shape: id, unix time, microseconds, arguments (at most 32, each cut to 128 bytes with
  "... (N more bytes)" / "... (N more arguments)"), client address, client name; AUTH's and
  HELLO AUTH's secrets are logged as "(redacted)";
- the latency monitor: with `latency-monitor-threshold` ms > 0, a command at least that slow
  is an event (`command`, or `fast-command` for commands Redis flags fast) with its latest
  and maximum latency and a history of at most 160 samples, one per second.
Times are the event loop's own (`perf_counter_ns`): a command's time includes encoding its
reply, and excludes waiting for the disk (the fsync runs on its own thread).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.replies import QUEUED

from . import command_data
from .introspection import lookup

__all__ = ["CommandStats"]

log = logging.getLogger("kevy_server")

MAX_ERROR_CODES = 128
SLOWLOG_MAX_ARGUMENTS = 32
SLOWLOG_MAX_ARGUMENT_BYTES = 128
LATENCY_HISTORY = 160
NO_THRESHOLD_NS = 1 << 62

# A record: [calls, total ns, rejected calls, failed calls, histogram or None, full name].
CALLS, TOTAL_NS, REJECTED, FAILED, HISTOGRAM, NAME = range(6)


def _bucket(microseconds: int) -> int:
    """Histogram bucket of a latency: exact below 32 µs, then 32 buckets per power of two."""
    if microseconds < 32:
        return microseconds
    exponent = microseconds.bit_length() - 5
    return (exponent << 5) | (microseconds >> exponent) & 31


def _bucket_value(bucket: int) -> float:
    """The highest latency (µs) a bucket holds, as percentiles report it."""
    if bucket < 32:
        return float(bucket)
    exponent = bucket >> 5
    return float((((bucket & 31) | 32) + 1 << exponent) - 1)


def redacted(argv: list[bytes]) -> list[bytes]:
    """Arguments as the slow log and MONITOR show them: secrets replaced."""
    name = argv[0].upper()
    if name == b"AUTH":
        return [argv[0]] + [b"(redacted)"] * (len(argv) - 1)
    if name == b"HELLO":
        shown = list(argv)
        for index in range(2, len(argv) - 2):
            if argv[index].upper() == b"AUTH":
                shown[index + 1] = shown[index + 2] = b"(redacted)"
        return shown
    if name == b"ACL" and len(argv) > 2 and argv[1].upper() == b"SETUSER":
        return argv[:3] + [b"(redacted)"] * (len(argv) - 3)
    return argv


class CommandStats:
    def __init__(self) -> None:
        # argv[0] as sent -> its record; a container maps to a dict of records by argv[1].
        self.by_name: dict[bytes, Any] = {}
        self._records: dict[str, list[Any]] = {}
        self.errors: dict[str, int] = {}
        self.error_replies = 0
        self.last_rejected = False  # the last error counted was a refusal (MONITOR skips those)
        self._warned_error_codes = False
        self.slowlog_threshold_us = 10_000
        self.slowlog_max_length = 128
        self.slow_ns = self.slowlog_threshold_us * 1000
        self.slowlog: deque[list[Any]] = deque()
        self._next_slowlog_id = 0
        self.tracking = False
        self.percentiles = (50.0, 99.0, 99.9)
        self.latency_threshold_ms = 0
        self.latency_events: dict[str, list[Any]] = {}  # event -> [latest s, latest ms, max ms, history]

    # -- recording (the loop calls these) ---------------------------------------------------

    def record_for(self, argv: list[bytes]) -> list[Any] | None:
        """The record of the command `argv` runs (its subcommand's for a container), created
        on first use; None for an unknown command."""
        found = self.by_name.get(argv[0])
        if found is None:
            data = command_data.entry(argv[0].decode("utf-8", "replace"))
            if data is None or not _implemented(data.name):
                return None
            found = {} if data.subcommands else self._record(data.name)
            self.by_name[argv[0]] = found
        if found.__class__ is dict:
            if len(argv) < 2:
                return self._record(argv[0].decode("utf-8", "replace").lower())
            sub = found.get(argv[1])
            if sub is None:
                name = f"{argv[0].decode('utf-8', 'replace')}|{argv[1].decode('utf-8', 'replace')}".lower()
                data = command_data.entry(name)
                if data is None or not _implemented(data.name):
                    return self._record(argv[0].decode("utf-8", "replace").lower())
                sub = found[argv[1]] = self._record(data.name)
            return sub
        return found

    def _record(self, name: str) -> list[Any]:
        record = self._records.get(name)
        if record is None:
            record = self._records[name] = [0, 0, 0, 0, {} if self.tracking else None, name]
        return record

    def after(self, server: Any, argv: list[bytes], reply: Any, elapsed_ns: int) -> list[Any] | None:
        """Count one request that ran (or was refused): its record, or None for an unknown
        command. The loop inlines the common case (a known command, no error, not queued)."""
        record = self.record_for(argv)
        if reply.__class__ is ErrorReply:
            rejected = server.dispatcher.take_refused() or reply.startswith("ERR wrong number of arguments")
            self.last_rejected = rejected
            self.error(record, reply, rejected)
            if rejected or record is None:
                return record
        elif record is None or reply is QUEUED:
            return record  # queued: counted when EXEC runs it
        self.count(record, elapsed_ns)
        return record

    def count(self, record: list[Any], elapsed_ns: int) -> None:
        record[CALLS] += 1
        record[TOTAL_NS] += elapsed_ns
        if self.tracking:
            self.track(record, elapsed_ns)

    def track(self, record: list[Any], elapsed_ns: int) -> None:
        histogram = record[HISTOGRAM]
        if histogram is None:
            histogram = record[HISTOGRAM] = {}
        bucket = _bucket(max(1, elapsed_ns // 1000))
        histogram[bucket] = histogram.get(bucket, 0) + 1

    def error(self, record: list[Any] | None, reply: ErrorReply, rejected: bool) -> None:
        self.error_replies += 1
        code = reply.split(" ", 1)[0]
        if code in self.errors:
            self.errors[code] += 1
        elif len(self.errors) < MAX_ERROR_CODES:
            self.errors[code] = 1
        elif not self._warned_error_codes:
            self._warned_error_codes = True
            log.warning("more than %d error codes: the others are not counted in INFO errorstats", MAX_ERROR_CODES)
        if record is not None:
            record[REJECTED if rejected else FAILED] += 1

    def slow(self, client: Any, argv: list[bytes], elapsed_ns: int, record: list[Any] | None, reply: Any) -> None:
        """A command at least as slow as one of the thresholds (the loop checks `slow_ns`);
        a refused one never ran and is not logged."""
        if reply.__class__ is ErrorReply and self.last_rejected:
            return
        duration_us = elapsed_ns // 1000
        name = record[NAME] if record is not None else ""
        if self.slowlog_threshold_us >= 0 and duration_us >= self.slowlog_threshold_us and name != "exec":
            self._slowlog_add(client, argv, duration_us)
        if self.latency_threshold_ms and duration_us >= self.latency_threshold_ms * 1000:
            data = command_data.entry(name) if name else None
            fast = data is not None and "fast" in data.flags
            self.latency_event("fast-command" if fast else "command", duration_us // 1000)

    def _slowlog_add(self, client: Any, argv: list[bytes], duration_us: int) -> None:
        shown = []
        for position, argument in enumerate(redacted(argv)):
            if position == SLOWLOG_MAX_ARGUMENTS - 1 and len(argv) > SLOWLOG_MAX_ARGUMENTS:
                shown.append(b"... (%d more arguments)" % (len(argv) - SLOWLOG_MAX_ARGUMENTS + 1))
                break
            if len(argument) > SLOWLOG_MAX_ARGUMENT_BYTES:
                argument = argument[:SLOWLOG_MAX_ARGUMENT_BYTES] + b"... (%d more bytes)" % (
                    len(argument) - SLOWLOG_MAX_ARGUMENT_BYTES)
            shown.append(argument)
        entry = [self._next_slowlog_id, int(time.time()), duration_us, shown,
                 client.address.encode(), client.name or b""]
        self._next_slowlog_id += 1
        self.slowlog.appendleft(entry)
        while len(self.slowlog) > self.slowlog_max_length:
            self.slowlog.pop()

    def latency_event(self, event: str, latency_ms: int) -> None:
        now_s = int(time.time())
        found = self.latency_events.get(event)
        if found is None:
            found = self.latency_events[event] = [now_s, latency_ms, latency_ms, deque(maxlen=LATENCY_HISTORY)]
        found[0], found[1] = now_s, latency_ms
        found[2] = max(found[2], latency_ms)
        history = found[3]
        if history and history[-1][0] == now_s:
            history[-1][1] = max(history[-1][1], latency_ms)
        else:
            history.append([now_s, latency_ms])

    # -- settings -------------------------------------------------------------------------------

    def set_slowlog_threshold(self, microseconds: int) -> None:
        self.slowlog_threshold_us = microseconds
        self._update_slow_ns()

    def set_slowlog_max_length(self, length: int) -> None:
        self.slowlog_max_length = length
        while len(self.slowlog) > length:
            self.slowlog.pop()

    def set_latency_threshold(self, milliseconds: int) -> None:
        self.latency_threshold_ms = milliseconds
        self._update_slow_ns()

    def _update_slow_ns(self) -> None:
        thresholds = []
        if self.slowlog_threshold_us >= 0:
            thresholds.append(self.slowlog_threshold_us * 1000)
        if self.latency_threshold_ms > 0:
            thresholds.append(self.latency_threshold_ms * 1_000_000)
        # The loop calls `slow` for commands at least this slow (in ns; 0 for "every one").
        self.slow_ns = min(thresholds) if thresholds else NO_THRESHOLD_NS

    def set_tracking(self, enabled: bool) -> None:
        self.tracking = enabled

    # -- reading -----------------------------------------------------------------------------------

    def records(self) -> list[list[Any]]:
        """Records of the commands called since the last reset, by name."""
        return [record for _, record in sorted(self._records.items()) if record[CALLS] or record[REJECTED] or record[FAILED]]

    def percentile_us(self, record: list[Any], percentile: float) -> float:
        histogram = record[HISTOGRAM] or {}
        total = sum(histogram.values())
        if not total:
            return 0.0
        wanted = max(1, -(-total * percentile // 100))
        seen = 0
        for bucket in sorted(histogram):
            seen += histogram[bucket]
            if seen >= wanted:
                return _bucket_value(bucket)
        return _bucket_value(max(histogram))

    def power_of_two_histogram(self, record: list[Any]) -> list[tuple[int, int]]:
        """Cumulative counts at 1, 2, 4, 8... µs, as LATENCY HISTOGRAM prints them."""
        histogram = record[HISTOGRAM] or {}
        if not histogram:
            return []
        counts: dict[int, int] = {}
        for bucket, count in histogram.items():
            value = int(_bucket_value(bucket))
            bound = 1 << max(0, (value - 1).bit_length()) if value > 1 else 1
            counts[bound] = counts.get(bound, 0) + count
        cumulative, reply = 0, []
        for bound in sorted(counts):
            cumulative += counts[bound]
            reply.append((bound, cumulative))
        return reply

    def reset(self) -> None:
        """CONFIG RESETSTAT: calls, times, histograms and error counts start over."""
        for record in self._records.values():
            record[CALLS] = record[TOTAL_NS] = record[REJECTED] = record[FAILED] = 0
            record[HISTOGRAM] = {} if self.tracking else None
        self.errors.clear()
        self.error_replies = 0


def _implemented(name: str) -> bool:
    return lookup(name.encode()) is not None
