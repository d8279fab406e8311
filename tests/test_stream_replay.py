"""Streams replay to exactly the state they were logged from, and rewrite rebuilds them.

Method: from a set-up with groups and pending rows (stream_strategies.SETUP), Hypothesis
sequences of stream commands (tests/stream_strategies.py: entries added
with `*`, `ms-*` and explicit IDs, exact and `~` trims, deletions, XSETID, every XGROUP
subcommand, XREADGROUP with `>` and history, XACK, XCLAIM, XAUTOCLAIM, bursts that span
several nodes, type changes) run with the clock moving between steps. Then:
- replaying everything they logged, a day later, into an empty keyspace gives the same
  streams: entries, clock, counts, groups with their read counters, PEL rows with delivery
  times and counts, consumers (all but their seen times, which no log carries);
- the commands of a log rewrite (`rebuild_commands`) replayed into an empty keyspace give
  the same streams, tombstone PEL rows included;
- the same rewrite with format-1 downgrades (what kevy 1.23 is given) gives the same
  streams except read counters, which a format-1 log cannot carry.
The stream invariants (`check_invariants`: IDs under the clock, node counts partitioning
the entries, every PEL row held by one consumer) are checked after every step.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from stream_strategies import SETUP, timed_steps

from kevy_persist.commands import CommandContext, ErrorReply, execute, replay
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.stream import Stream
from kevy_persist.engine.log_compat import for_kevy_1_23
from kevy_persist.engine.rewrite import rebuild_commands

T0_MS = 1_700_000_000_000
LATER_MS = T0_MS + 86_400_000


def streams_of(keyspace: Keyspace, with_read_counters: bool = True) -> dict[bytes, tuple]:
    state = {}
    for key, _kind, value, deadline_ms in keyspace.iter_entries():
        if isinstance(value, Stream):
            value.check_invariants()
            summary = value.state()
            if not with_read_counters:
                summary = (*summary[:4], [group[:2] + group[3:] for group in summary[4]])
            state[key] = (summary, deadline_ms)
    return state


def run(steps: list) -> tuple[Keyspace, list[list[bytes]]]:
    keyspace = Keyspace()
    log: list[list[bytes]] = []
    now_ms = T0_MS
    chooser = random.Random(3)
    for argvs, advance_ms in [(SETUP, 0), *steps]:
        now_ms += advance_ms
        for argv in argvs:
            outcome = execute(keyspace, argv, CommandContext(now_ms, chooser))
            log.extend(outcome.log)
        for value in keyspace.keys():
            stream = keyspace.peek(value)
            if isinstance(stream, Stream):
                stream.check_invariants()
    return keyspace, log


def replayed(argvs) -> Keyspace:
    keyspace = Keyspace()
    for argv in argvs:
        reply = replay(keyspace, list(argv), LATER_MS)
        assert not isinstance(reply, ErrorReply), f"replay refused {argv!r}: {reply}"
    return keyspace


@settings(max_examples=250, deadline=None, derandomize=True)
@given(steps=timed_steps)
def test_replaying_the_log_of_stream_commands_gives_the_same_streams(steps: list) -> None:
    keyspace, log = run(steps)
    assert streams_of(replayed(log)) == streams_of(keyspace)


@settings(max_examples=250, deadline=None, derandomize=True)
@given(steps=timed_steps)
def test_a_rewritten_log_rebuilds_the_same_streams(steps: list) -> None:
    keyspace, _ = run(steps)
    rebuilt = replayed(rebuild_commands(keyspace.iter_entries()))
    assert streams_of(rebuilt) == streams_of(keyspace)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(steps=timed_steps)
def test_a_format_one_rewrite_rebuilds_all_but_read_counters(steps: list) -> None:
    keyspace, _ = run(steps)
    rebuilt = replayed(for_kevy_1_23(argv) for argv in rebuild_commands(keyspace.iter_entries()))
    assert streams_of(rebuilt, with_read_counters=False) == streams_of(keyspace, with_read_counters=False)
