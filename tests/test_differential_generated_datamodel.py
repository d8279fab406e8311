"""Generated sequences of the data-model commands against redis-server 7.0.

Method: as in test_differential_redis.py (same `Pair`: every reply compared through RESP2 or
RESP3, then the whole state), Hypothesis draws sequences mixing PFADD/PFCOUNT/PFMERGE,
GEOADD and the GEO reads and searches, BITFIELD/BITPOS/BITOP, LCS and SORT with plain
writes over three keys, so wrong types, stale HLL caches, empty results and stored targets
meet constantly. Only forms whose answer Redis fixes are drawn: no random members, and no
SORT whose order would follow a set's or a hash table's internal order (ALPHA with BY, BY
nosort), which the scripts cover on lists.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_oracle import RespClient, redis_client, redis_client_resp3, redis_port  # noqa: F401
from test_differential_redis import Pair

pytestmark = pytest.mark.redis

key = st.sampled_from([b"k1", b"k2", b"k3"])
element = st.sampled_from([b"a", b"b", b"c", b"1", b"2", b"10", b""])
longitude = st.sampled_from([b"13.361389", b"15.087269", b"-0.1276", b"0", b"180", b"200", b"x"])
latitude = st.sampled_from([b"38.115556", b"37.502669", b"51.5072", b"0", b"-85.05112878", b"86"])
small = st.sampled_from([b"0", b"1", b"3", b"-1", b"-2", b"7", b"x", b"#2"])
field_type = st.sampled_from([b"u8", b"i8", b"u1", b"i16", b"u63", b"i64", b"u64", b"x"])


def _form(*parts: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(*parts).map(list)


def _with_options(head: st.SearchStrategy, option: st.SearchStrategy, most: int = 3) -> st.SearchStrategy:
    return st.tuples(head, st.lists(option, max_size=most)).map(
        lambda drawn: drawn[0] + [part for item in drawn[1] for part in (item if isinstance(item, tuple) else (item,))]
    )


verb = st.just
bitfield_operation = st.one_of(
    st.tuples(verb(b"GET"), field_type, small),
    st.tuples(verb(b"SET"), field_type, small, small),
    st.tuples(verb(b"INCRBY"), field_type, small, st.sampled_from([b"100", b"-100", b"1", b"9223372036854775807"])),
    st.tuples(verb(b"OVERFLOW"), st.sampled_from([b"WRAP", b"SAT", b"FAIL", b"BAD"])),
)
search_option = st.one_of(
    st.sampled_from([b"ASC", b"DESC", b"WITHDIST", b"WITHCOORD", b"WITHHASH", b"ANY"]),
    st.tuples(verb(b"COUNT"), st.sampled_from([b"1", b"2", b"0"])),
)
sort_option = st.one_of(
    st.sampled_from([b"ASC", b"DESC", b"ALPHA"]),
    st.tuples(verb(b"LIMIT"), small, small),
    st.tuples(verb(b"GET"), st.sampled_from([b"#", b"w_*", b"h_*->f"])),
    st.tuples(verb(b"STORE"), key),
)

COMMANDS = st.one_of(
    _with_options(_form(verb(b"PFADD"), key), element, 4),
    _with_options(_form(verb(b"PFCOUNT"), key), key, 2),
    _with_options(_form(verb(b"PFMERGE"), key), key, 2),
    _with_options(_form(verb(b"GEOADD"), key), st.one_of(st.sampled_from([b"NX", b"XX", b"CH"]),
                                                       st.tuples(longitude, latitude, element)), 3),
    _with_options(_form(verb(b"GEOPOS"), key), element, 3),
    _with_options(_form(verb(b"GEODIST"), key, element, element), st.sampled_from([b"km", b"mi", b"x"]), 1),
    _with_options(_form(verb(b"GEOHASH"), key), element, 3),
    _with_options(_form(verb(b"GEOSEARCH"), key, verb(b"FROMLONLAT"), longitude, latitude, verb(b"BYRADIUS"),
                        st.sampled_from([b"100", b"1000", b"0", b"-1"]), verb(b"km")), search_option),
    _with_options(_form(verb(b"GEOSEARCH"), key, verb(b"FROMMEMBER"), element, verb(b"BYBOX"),
                        st.sampled_from([b"500", b"5000"]), st.sampled_from([b"200", b"2000"]), verb(b"km")), search_option),
    _with_options(_form(verb(b"GEOSEARCHSTORE"), key, key, verb(b"FROMLONLAT"), longitude, latitude,
                        verb(b"BYRADIUS"), verb(b"2000"), verb(b"km")), st.sampled_from([b"STOREDIST", b"ASC"]), 2),
    _with_options(_form(verb(b"BITFIELD"), key), bitfield_operation, 3),
    _with_options(_form(verb(b"BITFIELD_RO"), key), bitfield_operation, 2),
    _with_options(_form(verb(b"BITPOS"), key, st.sampled_from([b"0", b"1", b"2"])),
                  st.one_of(small, st.sampled_from([b"BIT", b"BYTE"])), 3),
    _with_options(_form(verb(b"BITOP"), st.sampled_from([b"AND", b"OR", b"XOR", b"NOT"]), key, key), key, 2),
    _with_options(_form(verb(b"LCS"), key, key), st.one_of(st.sampled_from([b"LEN", b"IDX", b"WITHMATCHLEN"]),
                                                          st.tuples(verb(b"MINMATCHLEN"), small)), 3),
    _with_options(_form(verb(b"SORT"), key), sort_option, 3),
    _with_options(_form(verb(b"SORT_RO"), key), sort_option, 2),
    _form(verb(b"SET"), key, element),
    _form(verb(b"APPEND"), key, element),
    _with_options(_form(verb(b"RPUSH"), key, element), element, 2),
    _with_options(_form(verb(b"SADD"), key, element), element, 2),
    _form(verb(b"ZADD"), key, small, element),
    _form(verb(b"SET"), st.sampled_from([b"w_a", b"w_1", b"w_b"]), small),
    _form(verb(b"HSET"), st.sampled_from([b"h_a", b"h_1"]), verb(b"f"), element),
    _form(verb(b"DEL"), key),
)

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(sequence=st.lists(COMMANDS, min_size=1, max_size=20))
def test_generated_data_model_sequences_reply_like_redis(redis_client: RespClient, sequence: list[list[bytes]]) -> None:
    """Method: Hypothesis sequences; every reply and the end state match (RESP2)."""
    redis_client.call([b"FLUSHALL"])
    pair = Pair(redis_client)
    for argv in sequence:
        pair.run(argv)
    pair.check_state()


@settings(SETTINGS, max_examples=60)
@given(sequence=st.lists(COMMANDS, min_size=1, max_size=20))
def test_generated_data_model_sequences_reply_like_redis_in_resp3(
    redis_client_resp3: RespClient, sequence: list[list[bytes]]
) -> None:
    """Method: as above over RESP3 (doubles, maps and pair shapes compared too)."""
    redis_client_resp3.call([b"FLUSHALL"])
    pair = Pair(redis_client_resp3)
    for argv in sequence:
        pair.run(argv)
    pair.check_state()
