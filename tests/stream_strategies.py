"""Hypothesis strategies for stream command sequences (used by the stream property tests).

A step is a list of argvs run at one moment; most steps are one command, a burst adds 150
entries at once so that streams span several of Redis's 100-entry nodes, and a group read
creates a group and reads from it (so that pending rows are common). The alphabet is
tiny (two keys, two groups, three consumers, IDs with ms 1..40) so that commands collide:
existing and missing IDs, tombstone pending rows, groups created twice, wrong types.
"""

from __future__ import annotations

from hypothesis import strategies as st

KEYS = [b"s1", b"s2"]
GROUPS = [b"g1", b"g2"]
CONSUMERS = [b"c1", b"c2", b"c3"]

key = st.sampled_from(KEYS)
group = st.sampled_from(GROUPS)
consumer = st.sampled_from(CONSUMERS)
small = st.integers(0, 5)
entry_id = st.builds(lambda ms, seq: b"%d-%d" % (ms, seq), st.integers(1, 40), st.integers(0, 3))
any_id = st.one_of(entry_id, st.sampled_from([b"0", b"0-0", b"-", b"+", b"$", b">", b"(5-0"]))
field_values = st.lists(st.tuples(st.sampled_from([b"f", b"g"]), st.binary(max_size=3)), min_size=1, max_size=2)


def _argv(*parts: object) -> list[bytes]:
    flat: list[bytes] = []
    for part in parts:
        if isinstance(part, (list, tuple)):
            flat.extend(_argv(*part))
        elif part is not None:
            flat.append(part)  # type: ignore[arg-type]
    return flat


trim = st.one_of(
    st.none(),
    st.tuples(st.just(b"MAXLEN"), st.sampled_from([None, b"~", b"="]), st.sampled_from([b"0", b"2", b"5", b"120"])),
    st.tuples(st.just(b"MINID"), st.sampled_from([None, b"~", b"="]), entry_id),
)
new_id = st.one_of(st.just(b"*"), entry_id, st.builds(lambda ms: b"%d-*" % ms, st.integers(1, 40)))

xadd = st.builds(
    lambda k, t, i, fv: _argv(b"XADD", k, t, i, [part for pair in fv for part in pair]), key, trim, new_id, field_values
)
burst = st.builds(
    lambda k: [[b"XADD", k, b"*", b"n", b"%d" % index] for index in range(150)], key
)
single = st.one_of(
    xadd,
    xadd,
    st.builds(lambda k, ids: _argv(b"XDEL", k, ids), key, st.lists(entry_id, min_size=1, max_size=3)),
    st.builds(lambda k, t: _argv(b"XTRIM", k, t), key, trim.filter(lambda t: t is not None)),
    st.builds(
        lambda k, i, added, deleted: _argv(b"XSETID", k, i, added, deleted),
        key, entry_id,
        st.sampled_from([None, (b"ENTRIESADDED", b"50"), (b"ENTRIESADDED", b"0")]),
        st.sampled_from([None, (b"MAXDELETEDID", b"1-0"), (b"MAXDELETEDID", b"3-0")]),
    ),
    st.builds(
        lambda k, g, i, mk, er: _argv(b"XGROUP", b"CREATE", k, g, i, mk, er),
        key, group, st.sampled_from([b"0", b"$", b"5-0"]), st.sampled_from([None, b"MKSTREAM"]),
        st.sampled_from([None, (b"ENTRIESREAD", b"2"), (b"ENTRIESREAD", b"-1")]),
    ),
    st.builds(
        lambda k, g, i, er: _argv(b"XGROUP", b"SETID", k, g, i, er),
        key, group, st.sampled_from([b"0", b"$", b"5-0"]), st.sampled_from([None, (b"ENTRIESREAD", b"3")]),
    ),
    st.builds(lambda k, g: [b"XGROUP", b"DESTROY", k, g], key, group),
    st.builds(lambda k, g, c: [b"XGROUP", b"CREATECONSUMER", k, g, c], key, group, consumer),
    st.builds(lambda k, g, c: [b"XGROUP", b"DELCONSUMER", k, g, c], key, group, consumer),
    st.builds(
        lambda g, c, count, noack, k, i: _argv(b"XREADGROUP", b"GROUP", g, c, count, noack, b"STREAMS", k, i),
        group, consumer, st.sampled_from([None, (b"COUNT", b"1"), (b"COUNT", b"3")]),
        st.sampled_from([None, b"NOACK"]), key, st.sampled_from([b">", b">", b"0", b"5-0"]),
    ),
    st.builds(lambda k, g, ids: _argv(b"XACK", k, g, ids), key, group, st.lists(entry_id, min_size=1, max_size=3)),
    st.builds(
        lambda k, g, c, idle, ids, time, retry, force, just, last: _argv(
            b"XCLAIM", k, g, c, idle, ids, time, retry, force, just, last
        ),
        key, group, consumer, st.sampled_from([b"0", b"1000", b"100000"]), st.lists(entry_id, min_size=1, max_size=3),
        st.sampled_from([None, (b"IDLE", b"500"), (b"TIME", b"1")]),
        st.sampled_from([None, (b"RETRYCOUNT", b"4")]), st.sampled_from([None, b"FORCE"]),
        st.sampled_from([None, b"JUSTID"]), st.sampled_from([None, (b"LASTID", b"30-0")]),
    ),
    st.builds(
        lambda k, g, c, idle, start, count, just: _argv(b"XAUTOCLAIM", k, g, c, idle, start, count, just),
        key, group, consumer, st.sampled_from([b"0", b"1000"]), st.sampled_from([b"0", b"10-0", b"(3-0"]),
        st.sampled_from([None, (b"COUNT", b"1"), (b"COUNT", b"2")]), st.sampled_from([None, b"JUSTID"]),
    ),
    st.builds(lambda k: [b"DEL", k], key),
    st.builds(lambda k: [b"SET", k, b"x"], key),
)

# A group that reads: created at 0 (or found), then a consumer reads a few entries.
group_read = st.builds(
    lambda k, g, c, count: [
        [b"XGROUP", b"CREATE", k, g, b"0", b"MKSTREAM"],
        [b"XREADGROUP", b"GROUP", g, c, b"COUNT", count, b"STREAMS", k, b">"],
    ],
    key, group, consumer, st.sampled_from([b"1", b"2", b"5"]),
)
# Every sequence starts from this: streams with groups, pending rows (one whose entry was
# deleted, one whose entry was trimmed away), an idle consumer, and one empty stream.
SETUP: list[list[bytes]] = [
    *[[b"XADD", b"s1", b"%d-0" % ms, b"f", b"%d" % ms] for ms in range(1, 9)],
    [b"XGROUP", b"CREATE", b"s1", b"g1", b"0"],
    [b"XREADGROUP", b"GROUP", b"g1", b"c1", b"COUNT", b"3", b"STREAMS", b"s1", b">"],
    [b"XREADGROUP", b"GROUP", b"g1", b"c2", b"COUNT", b"2", b"STREAMS", b"s1", b">"],
    [b"XGROUP", b"CREATECONSUMER", b"s1", b"g1", b"c3"],
    [b"XDEL", b"s1", b"4-0"],
    [b"XTRIM", b"s1", b"MAXLEN", b"6"],
    [b"XGROUP", b"CREATE", b"s2", b"g2", b"$", b"MKSTREAM"],
]

step = st.one_of(single.map(lambda argv: [argv]), single.map(lambda argv: [argv]), group_read, burst)
# (step, milliseconds the clock moves before it)
timed_steps = st.lists(st.tuples(step, st.sampled_from([0, 1, 700, 5000])), max_size=30)
