"""What replay (loading mode) does with stream commands that only kevy 1.23's logs hold.

Method: `replay` of the verbatim forms kevy 1.23 logs, compared with what kevy did live
(read in its dispatchers, goliajp/kevy v1.23.2): `~` trims exactly; LIMIT is refused in
XADD (kevy's parser took it for the ID) and ignored in XTRIM (kevy reads no further);
`XADD key *` takes the replay's clock; XREADGROUP creates its consumer even when nothing
is new; a trim logged by us (`MAXLEN =`) replays to the same entries.
"""

from __future__ import annotations

from kevy_persist.commands import ErrorReply, replay
from kevy_persist.data.keyspace import Keyspace

NOW_MS = 1_700_000_000_000


def run(keyspace: Keyspace, line: str):
    return replay(keyspace, line.encode().split(), NOW_MS)


def filled(count: int) -> Keyspace:
    keyspace = Keyspace()
    for index in range(1, count + 1):
        run(keyspace, f"XADD s {index}-0 f v")
    return keyspace


def test_approximate_trims_are_exact_while_loading() -> None:
    keyspace = filled(250)
    assert run(keyspace, "XTRIM s MAXLEN ~ 120") == 130  # live, Redis would remove 100
    run(keyspace, "XADD s MAXLEN ~ 10 251-0 f v")
    assert len(keyspace.peek(b"s")) == 10


def test_limit_is_refused_in_xadd_and_ignored_in_xtrim_while_loading() -> None:
    keyspace = filled(30)
    assert isinstance(run(keyspace, "XADD s MAXLEN ~ 5 LIMIT 5 31-0 f v"), ErrorReply)
    assert len(keyspace.peek(b"s")) == 30
    assert run(keyspace, "XTRIM s MAXLEN ~ 5 LIMIT 1") == 25


def test_auto_ids_take_the_replay_clock() -> None:
    keyspace = filled(2)
    assert run(keyspace, "XADD s * f v") == b"%d-0" % NOW_MS
    assert run(keyspace, "XADD s * f v") == b"%d-1" % NOW_MS


def test_a_verbatim_xreadgroup_creates_its_consumer_even_with_nothing_new() -> None:
    keyspace = filled(1)
    run(keyspace, "XGROUP CREATE s g $")
    assert run(keyspace, "XREADGROUP GROUP g bob COUNT 3 STREAMS s >") is None
    assert list(keyspace.peek(b"s").groups[b"g"].consumers) == [b"bob"]
