"""SLOWLOG and LATENCY, over what `command_stats.py` records (ROLE and WAIT:
`replication_commands.py`).

- SLOWLOG GET [count] (10 by default, -1 all; newest first), LEN, RESET, HELP: Redis's
  entries and errors; what is logged and when is `command_stats.py`'s.
- LATENCY LATEST / HISTORY event / RESET [event...] / DOCTOR / GRAPH event / HISTOGRAM
  [command...] / HELP. The events are `command` and `fast-command` (a command at least
  `latency-monitor-threshold` ms slow; 0, the default, records nothing, as in Redis);
  kevy records no other event class (its fsyncs run off the loop, its saves are measured
  in INFO persistence). DOCTOR answers Redis's texts for "disabled" and "no spike", and
  otherwise lists each event's figures in kevy's words; GRAPH draws the event's history as
  a column of bars (Redis draws sparklines; the figures are the same). HISTOGRAM is the
  cumulative power-of-two histogram of `latency-tracking` (empty while it is off, kevy's
  default).
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.replies import OK

from . import command_data
from .command_stats import CALLS, HISTOGRAM, NAME
from .connection_commands import parse_integer
from .introspection import lookup
from .loop import NO_REPLY
from .replies import ReplyMap, Verbatim
from .verbs import dispatch_subcommand, subcommands, verb

__all__: list[str] = []

GRAPH_HEIGHT = 10


# -- SLOWLOG --------------------------------------------------------------------------------------


def _slowlog_get(server: Any, client: Any, argv: list[bytes]) -> Any:
    count = 10
    if len(argv) == 3:
        number = parse_integer(argv[2])
        if number is None or number < -1:
            return ErrorReply("ERR count should be greater than or equal to -1")
        count = number
    elif len(argv) > 3:
        return ErrorReply("ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP.")
    entries = list(server.stats.slowlog)
    return entries if count == -1 else entries[:count]


def _slowlog_len(server: Any, client: Any, argv: list[bytes]) -> Any:
    return len(server.stats.slowlog)


def _slowlog_reset(server: Any, client: Any, argv: list[bytes]) -> Any:
    server.stats.slowlog.clear()
    return OK


def _slowlog_help(server: Any, client: Any, argv: list[bytes]) -> Any:
    return command_data.help_reply("slowlog")


SLOWLOG_SUBCOMMANDS = subcommands("slowlog", {
    b"GET": (-2, _slowlog_get),
    b"LEN": (2, _slowlog_len),
    b"RESET": (2, _slowlog_reset),
    b"HELP": (2, _slowlog_help),
})


@verb("SLOWLOG", -2, "admin")
def slowlog_command(server: Any, client: Any, argv: list[bytes]) -> Any:
    return dispatch_subcommand(server, client, argv, SLOWLOG_SUBCOMMANDS)


# -- LATENCY --------------------------------------------------------------------------------------


def _latency_latest(server: Any, client: Any, argv: list[bytes]) -> Any:
    return [[event.encode(), latest_s, latest_ms, max_ms]
            for event, (latest_s, latest_ms, max_ms, _) in server.stats.latency_events.items()]


def _latency_history(server: Any, client: Any, argv: list[bytes]) -> Any:
    found = server.stats.latency_events.get(argv[2].decode("utf-8", "replace"))
    return [] if found is None else [list(sample) for sample in found[3]]


def _latency_reset(server: Any, client: Any, argv: list[bytes]) -> Any:
    events = server.stats.latency_events
    if len(argv) == 2:
        count = len(events)
        events.clear()
        return count
    count = 0
    for name in argv[2:]:
        if events.pop(name.decode("utf-8", "replace"), None) is not None:
            count += 1
    return count


def _latency_doctor(server: Any, client: Any, argv: list[bytes]) -> Any:
    stats = server.stats
    if not stats.latency_threshold_ms:
        text = ("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may "
                'use "CONFIG SET latency-monitor-threshold <milliseconds>." in order to enable it. If we weren\'t '
                "in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n")
    elif not stats.latency_events:
        text = ("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the "
                "slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think "
                "things over.\n")
    else:
        lines = ["Dave, I have observed latency spikes in this kevy-server instance:\n"]
        for number, (event, (latest_s, latest_ms, max_ms, history)) in enumerate(stats.latency_events.items(), 1):
            average = sum(sample[1] for sample in history) // max(1, len(history))
            lines.append(f"{number}. {event}: {len(history)} latency spikes (average {average}ms, "
                         f"worst {max_ms}ms, latest {latest_ms}ms at unix time {latest_s}).\n")
        lines.append(
            f"\nThe threshold is {stats.latency_threshold_ms} ms. Commands this slow in kevy are usually ones "
            "that touch many elements (KEYS, SORT, a large ZUNIONSTORE, a big HGETALL...): SLOWLOG GET names them.\n")
        text = "".join(lines)
    return Verbatim(text.encode())


def _latency_graph(server: Any, client: Any, argv: list[bytes]) -> Any:
    event = argv[2].decode("utf-8", "replace")
    found = server.stats.latency_events.get(event)
    if found is None or not found[3]:
        return ErrorReply(f"ERR No samples available for event '{event}'")
    _, _, max_ms, history = found
    values = [sample[1] for sample in history]
    high, low = max(values), min(values)
    rows = [f"{event} - high {high} ms, low {low} ms (all time high {max_ms} ms)", "-" * 80]
    for level in range(GRAPH_HEIGHT, 0, -1):
        threshold = high * level / GRAPH_HEIGHT
        rows.append("".join("#" if value >= threshold else " " for value in values))
    rows.append("-" * 80)
    newest = history[-1][0]
    rows.append(" ".join(f"{newest - sample[0]}s" for sample in list(history)[-8:]) + " ago (the last samples)")
    return Verbatim(("\n".join(rows) + "\n").encode())


def _latency_histogram(server: Any, client: Any, argv: list[bytes]) -> Any:
    stats = server.stats
    records = {record[NAME]: record for record in stats.records()}
    if len(argv) > 2:
        names = []
        for argument in argv[2:]:
            data = lookup(argument)
            if data is not None:
                names.append(data.name)
    else:
        names = list(records)
    reply = ReplyMap()
    for name in names:
        record = records.get(name)
        if record is None or not record[HISTOGRAM]:
            continue
        buckets = ReplyMap(item for bound, count in stats.power_of_two_histogram(record) for item in (bound, count))
        reply += [name.encode(), ReplyMap([b"calls", record[CALLS], b"histogram_usec", buckets])]
    return reply


def _latency_help(server: Any, client: Any, argv: list[bytes]) -> Any:
    return command_data.help_reply("latency")


LATENCY_SUBCOMMANDS = subcommands("latency", {
    b"LATEST": (2, _latency_latest),
    b"HISTORY": (3, _latency_history),
    b"RESET": (-2, _latency_reset),
    b"DOCTOR": (2, _latency_doctor),
    b"GRAPH": (3, _latency_graph),
    b"HISTOGRAM": (-2, _latency_histogram),
    b"HELP": (2, _latency_help),
})


@verb("LATENCY", -2, "admin")
def latency_command(server: Any, client: Any, argv: list[bytes]) -> Any:
    return dispatch_subcommand(server, client, argv, LATENCY_SUBCOMMANDS)
