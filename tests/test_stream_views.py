"""Copy-on-write: a frozen view keeps a stream as it was while every stream write runs.

Method: a stream with entries, two groups, pending rows and a tombstone row; a view is
frozen; each mutating stream command (and COPY / RENAME of the key) then runs on the live
keyspace; the view's stream must still have its frozen state (entries, clock, groups, PEL,
consumers, seen times) and the live side must have changed. A background save serializes
such a view off the lock, so a command writing through a shared object would corrupt it.
"""

from __future__ import annotations

import random

import pytest

from kevy_persist.commands import CommandContext, ErrorReply, execute
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.stream import Stream

NOW_MS = 1_700_000_000_000
SETUP = [
    "XADD s 1-0 a 1", "XADD s 2-0 b 2", "XADD s 3-0 c 3", "XADD s 4-0 d 4",
    "XGROUP CREATE s g 0", "XGROUP CREATE s h $",
    "XREADGROUP GROUP g alice COUNT 2 STREAMS s >", "XDEL s 1-0",
]
WRITES = [
    "XADD s 9-0 f v", "XADD s MAXLEN 1 9-0 f v", "XDEL s 2-0", "XTRIM s MAXLEN 0", "XSETID s 99-0",
    "XGROUP CREATE s new 0", "XGROUP SETID s g 0", "XGROUP DESTROY s g", "XGROUP CREATECONSUMER s g bob",
    "XGROUP DELCONSUMER s g alice", "XREADGROUP GROUP g bob STREAMS s >", "XREADGROUP GROUP g alice STREAMS s 0",
    "XACK s g 2-0", "XCLAIM s g bob 0 2-0", "XCLAIM s g bob 0 1-0", "XAUTOCLAIM s g carol 0 0",
    "XREADGROUP GROUP g dan NOACK STREAMS s >",
]


def run(keyspace: Keyspace, line: str, now_ms: int = NOW_MS) -> object:
    return execute(keyspace, line.encode().split(), CommandContext(now_ms, random.Random(0))).reply


def full_state(stream: Stream) -> tuple:
    seen = {name: {consumer.name: consumer.seen_time_ms for consumer in group.consumers.values()}
            for name, group in stream.groups.items()}
    return stream.state(), seen, stream.nodes.live.copy()


@pytest.mark.parametrize("line", WRITES)
def test_a_frozen_view_keeps_the_stream_while_a_write_runs(line: str) -> None:
    keyspace = Keyspace()
    for setup in SETUP:
        assert not isinstance(run(keyspace, setup), ErrorReply), setup
    before = full_state(keyspace.peek(b"s"))
    view = keyspace.freeze_view()
    reply = run(keyspace, line, NOW_MS + 5000)
    assert not isinstance(reply, ErrorReply), reply
    assert full_state(keyspace.peek(b"s")) != before, "the write changed nothing: a useless example"
    [(key, _, frozen, _)] = [entry for entry in view.iter_entries() if entry[0] == b"s"]
    assert full_state(frozen) == before
    frozen.check_invariants()
    view.release()


def test_copy_and_rename_leave_independent_streams() -> None:
    keyspace = Keyspace()
    for setup in SETUP:
        run(keyspace, setup)
    run(keyspace, "COPY s t")
    run(keyspace, "XREADGROUP GROUP g bob STREAMS t >")
    assert len(keyspace.peek(b"s").groups[b"g"].pending) == 2
    assert len(keyspace.peek(b"t").groups[b"g"].pending) == 4
    run(keyspace, "RENAME t u")
    assert keyspace.peek(b"u").groups[b"g"].consumers.keys() == {b"alice", b"bob"}
