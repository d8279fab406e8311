"""The blocking-read interface an event loop uses for XREAD / XREADGROUP BLOCK.

Method: direct `execute` calls with each `Blocking` mode, then the same through
`Store.execute_argv`, and against redis-server inside MULTI (where Redis never blocks):
- NEVER (MULTI, replay, embedded): BLOCK with nothing to read answers the null at once;
- ALLOWED: the reply is a `StreamWait` naming the keys, the timeout and the retry argv,
  with `$` resolved to the IDs it meant when the client blocked;
- RETRY: after a write the retry serves what arrived (at most 1000 entries without COUNT,
  as Redis serves a client it unblocks), or waits again; XREADGROUP answers Redis's
  unblocking errors when the group or the key went away, XREAD keeps waiting;
- a served XREADGROUP retry logs its effect like any XREADGROUP (it survives a reopen).
"""

from __future__ import annotations

import random

import pytest
from redis_oracle import RespClient, redis_client, redis_port  # noqa: F401

from kevy_persist import Store, StoreConfig
from kevy_persist.commands import CommandContext, ErrorReply, execute
from kevy_persist.commands.context import Blocking
from kevy_persist.commands.stream_reads import StreamWait
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.disk.clock import ManualClock

NOW_MS = 1_700_000_000_000


def run(keyspace: Keyspace, line: str, blocking: Blocking = Blocking.NEVER):
    return execute(keyspace, line.encode().split(), CommandContext(NOW_MS, random.Random(0), blocking=blocking))


def test_block_never_answers_the_null_at_once() -> None:
    keyspace = Keyspace()
    run(keyspace, "XADD s 1-0 f v")
    run(keyspace, "XGROUP CREATE s g $")
    assert run(keyspace, "XREAD BLOCK 0 STREAMS s $").reply is None
    assert run(keyspace, "XREADGROUP GROUP g c BLOCK 0 STREAMS s >").reply is None
    assert run(keyspace, "XREAD BLOCK 0 STREAMS s 0").reply == [[b"s", [[b"1-0", [b"f", b"v"]]]]]


def test_xread_waits_with_dollar_resolved_then_serves_what_arrived() -> None:
    keyspace = Keyspace()
    run(keyspace, "XADD s 5-0 f v")
    wait = run(keyspace, "XREAD COUNT 2 BLOCK 250 STREAMS s missing $ $", Blocking.ALLOWED).reply
    assert wait == StreamWait(
        keys=(b"s", b"missing"), timeout_ms=250,
        retry_argv=[b"XREAD", b"COUNT", b"2", b"BLOCK", b"250", b"STREAMS", b"s", b"missing", b"5-0", b"0-0"],
    )
    assert wait.timeout_reply is None
    # Nothing new yet: still waiting. A write to another key changes nothing.
    assert isinstance(execute(keyspace, wait.retry_argv, CommandContext(NOW_MS, None, blocking=Blocking.RETRY)).reply, StreamWait)
    run(keyspace, "XADD s 6-0 a 1")
    run(keyspace, "XADD s 7-0 b 2")
    run(keyspace, "XADD s 8-0 c 3")
    served = execute(keyspace, wait.retry_argv, CommandContext(NOW_MS, None, blocking=Blocking.RETRY))
    assert served.reply == [[b"s", [[b"6-0", [b"a", b"1"]], [b"7-0", [b"b", b"2"]]]]]
    assert served.log == ()


def test_a_retry_serves_at_most_1000_entries_without_count() -> None:
    keyspace = Keyspace()
    wait = run(keyspace, "XREAD BLOCK 0 STREAMS s $", Blocking.ALLOWED).reply
    for index in range(1, 1501):
        run(keyspace, f"XADD s {index}-0 n {index}")
    served = execute(keyspace, wait.retry_argv, CommandContext(NOW_MS, None, blocking=Blocking.RETRY)).reply
    assert len(served[0][1]) == 1000
    assert len(run(keyspace, "XREAD STREAMS s 0").reply[0][1]) == 1500


def test_xread_retry_keeps_waiting_when_the_key_is_gone_or_another_type() -> None:
    keyspace = Keyspace()
    run(keyspace, "XADD s 1-0 f v")
    wait = run(keyspace, "XREAD BLOCK 0 STREAMS s $", Blocking.ALLOWED).reply
    for change in ("DEL s", "SET s text"):
        run(keyspace, change)
        retried = execute(keyspace, wait.retry_argv, CommandContext(NOW_MS, None, blocking=Blocking.RETRY)).reply
        assert isinstance(retried, StreamWait)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ("XGROUP DESTROY s g", "NOGROUP the consumer group this client was blocked on no longer exists"),
        ("DEL s", "UNBLOCKED the stream key no longer exists"),
        ("SET s text", "UNBLOCKED the stream key no longer exists"),
    ],
)
def test_xreadgroup_retry_answers_redis_unblocking_errors(change: str, error: str) -> None:
    keyspace = Keyspace()
    run(keyspace, "XGROUP CREATE s g $ MKSTREAM")
    wait = run(keyspace, "XREADGROUP GROUP g c BLOCK 0 STREAMS s >", Blocking.ALLOWED).reply
    assert wait.retry_argv == [b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"0", b"STREAMS", b"s", b">"]
    run(keyspace, change)
    retried = execute(keyspace, wait.retry_argv, CommandContext(NOW_MS, None, blocking=Blocking.RETRY)).reply
    assert retried == ErrorReply(error)


def test_a_served_xreadgroup_retry_is_logged_and_survives_a_reopen(tmp_path) -> None:
    config = StoreConfig(data_dir=str(tmp_path), ticker="manual", appendfsync="always")
    clock = ManualClock(NOW_MS)
    with Store.open(config, clock=clock) as store:
        store.execute("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
        argv = [b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"5000", b"STREAMS", b"s", b">"]
        wait = store.execute_argv(argv, blocking=Blocking.ALLOWED)
        assert isinstance(wait, StreamWait) and wait.keys == (b"s",)
        assert store.execute_argv(argv) is None  # NEVER, as in MULTI
        store.execute("XADD", "s", "1-0", "f", "v")
        clock.advance(40)
        served = store.execute_argv(wait.retry_argv, blocking=Blocking.RETRY)
        assert served == [[b"s", [[b"1-0", [b"f", b"v"]]]]]
        pending = store.execute("XPENDING", "s", "g", "-", "+", "10")
    with Store.open(config, clock=clock) as store:
        assert store.execute("XPENDING", "s", "g", "-", "+", "10") == pending == [[b"1-0", b"c", 0, 1]]


@pytest.mark.redis
def test_block_inside_multi_answers_like_redis(redis_client: RespClient) -> None:
    """Redis never blocks inside MULTI: EXEC answers the null (or the data) at once."""
    keyspace = Keyspace()
    setup = ["XADD s 1-0 f v", "XGROUP CREATE s g $"]
    for line in setup:
        redis_client.call(line.encode().split())
        run(keyspace, line)
    for line in ["XREAD BLOCK 0 STREAMS s $", "XREADGROUP GROUP g c BLOCK 0 STREAMS s >",
                 "XREAD BLOCK 100 STREAMS s 0", "XREADGROUP GROUP g c BLOCK 0 STREAMS s 0"]:
        redis_client.call([b"MULTI"])
        redis_client.call(line.encode().split())
        theirs = redis_client.call([b"EXEC"])[0]
        assert run(keyspace, line).reply == theirs, line
