"""The server's reply encoders render every reply of the store's model as the store's own
reference encoders do (`kevy_persist.commands.replies.encode_resp2/3`, which the store's
differential tests check against redis-server), in both protocols.

Method: Hypothesis builds reply trees from every type of the model (bulk, integer, nil,
simple string, error, double, preformatted double, and the RESP3-shaped lists: scored pairs,
field/value maps, member sets, keyed arrays) nested in arrays, and compares the bytes. A
type the server's encoder did not know used to take the event loop down (GEOPOS's
`DoubleText`, RESP3 XREAD's `KeyedArrays`); the loop now answers such a reply with an error.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kevy_persist.commands.replies import (
    Double,
    DoubleText,
    ErrorReply,
    FieldValueMap,
    KeyedArrays,
    MemberSet,
    ScoredPairs,
    SimpleString,
    encode_resp2,
    encode_resp3,
)
from kevy_server.replies import encode2, encode3

_texts = st.text(alphabet="abcxyz 01:", max_size=8)
_leaves = st.one_of(
    st.binary(max_size=8),
    st.integers(-(2**63), 2**63 - 1),
    st.none(),
    _texts.map(SimpleString),
    _texts.map(lambda text: ErrorReply("ERR " + text)),
    st.floats(allow_nan=False).map(Double),
    st.sampled_from([b"13.36138933897018433", b"-1.5", b"0"]).map(DoubleText),
)


def _pairs(children):
    return st.lists(st.tuples(st.binary(max_size=4), children), max_size=3)


_replies = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        _pairs(children).map(lambda pairs: ScoredPairs(item for pair in pairs for item in pair)),
        _pairs(children).map(lambda pairs: FieldValueMap(item for pair in pairs for item in pair)),
        st.lists(children, max_size=3).map(MemberSet),
        _pairs(children).map(lambda pairs: KeyedArrays([key, value] for key, value in pairs)),
    ),
    max_leaves=12,
)


@given(_replies)
def test_server_encoders_match_the_reference_encoders(reply) -> None:
    assert encode2(reply) == encode_resp2(reply)
    assert encode3(reply) == encode_resp3(reply)


def test_geopos_and_resp3_xread_reach_the_client_over_a_socket(tmp_path) -> None:
    from server_support import RawClient, running_server

    with running_server(tmp_path / "data") as server:
        client = RawClient(server.port)
        client.call(b"GEOADD g 13.361389 38.115556 Palermo\r\n")
        assert client.call(b"GEOPOS g Palermo\r\n") == [[b"13.36138933897018433", b"38.11555639549629859"]]
        client.call(b"XADD s 1-0 f v\r\n")
        client.call(b"HELLO 3\r\n")
        assert client.call(b"XREAD STREAMS s 0\r\n") == {b"s": [[b"1-0", [b"f", b"v"]]]}
        assert client.call(b"GEOPOS g Palermo\r\n") == [[13.361389338970184, 38.1155563954963]]
