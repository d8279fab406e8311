"""The request parser yields exactly the requests of a stream, however the stream is split.

Method: Hypothesis draws lists of requests, encodes each as a RESP multibulk frame or (when
its arguments allow) an inline line, cuts the stream at random points and feeds the pieces;
the parser must return the requests in order, and nothing more. Garbage streams must either
parse or raise `RequestProtocolError`, never anything else. Limits are checked on the header
alone, before any payload arrives.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kevy_persist.formats.resp import encode_command
from kevy_server.inline import InlineError, split_inline
from kevy_server.request_parser import RequestParser, RequestProtocolError

arguments = st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=6)
plain_token = st.binary(min_size=1, max_size=12).filter(
    lambda token: token[:1] != b"*" and not any(byte in b" \t\r\n\v\f\"'" for byte in token)
)


@st.composite
def streams(draw):
    """(requests, encoded stream) with multibulk frames and inline lines mixed."""
    requests, parts = [], []
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.booleans()):
            argv = draw(arguments)
            parts.append(encode_command(argv))
        else:
            argv = draw(st.lists(plain_token, min_size=1, max_size=4))
            parts.append(b" ".join(argv) + draw(st.sampled_from([b"\r\n", b"\n"])))
        requests.append(argv)
    return requests, b"".join(parts)


def feed_in_pieces(parser: RequestParser, stream: bytes, cuts: list[int]) -> list[list[bytes]]:
    requests: list[list[bytes]] = []
    start = 0
    for cut in sorted(set(cuts)) + [len(stream)]:
        if cut > start:
            requests.extend(parser.feed(stream[start:cut]))
            start = cut
    return requests


@settings(max_examples=150, deadline=None)
@given(streams(), st.lists(st.integers(0, 2000), max_size=8))
def test_requests_come_out_in_order_whatever_the_split(stream_and_requests, cuts) -> None:
    """Every split of a valid stream yields the same requests as the stream in one piece."""
    requests, stream = stream_and_requests
    assert feed_in_pieces(RequestParser(), stream, [cut % (len(stream) + 1) for cut in cuts]) == requests


@settings(max_examples=100, deadline=None)
@given(st.lists(arguments, min_size=1, max_size=4))
def test_byte_by_byte_feeding_yields_each_request_once(requests) -> None:
    """Feeding one byte at a time exercises the incomplete-frame checks at every offset."""
    stream = b"".join(encode_command(argv) for argv in requests)
    parser = RequestParser()
    assert [argv for index in range(len(stream)) for argv in parser.feed(stream[index:index + 1])] == requests


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=4))
def test_garbage_parses_or_raises_a_protocol_error(garbage, cuts) -> None:
    """No input makes the parser raise anything but RequestProtocolError."""
    try:
        feed_in_pieces(RequestParser(max_request_bytes=64), garbage, [cut % (len(garbage) + 1) for cut in cuts])
    except RequestProtocolError as error:
        assert error.message.startswith("ERR Protocol error: ")


@pytest.mark.parametrize(
    "stream, message",
    [
        (b"*1\r\n$99999999999\r\n", "invalid bulk length"),
        (b"*1\r\n$-7\r\n", "invalid bulk length"),
        (b"*1\r\n$abc\r\n", "invalid bulk length"),
        (b"*9999999\r\n", "invalid multibulk length"),
        (b"*-5\r\n", "invalid multibulk length"),
        (b"*x\r\n", "invalid multibulk length"),
        (b"*1\r\n:5\r\n", "expected '$', got ':'"),
        (b"*2\r\n$3\r\nGET\r\n*1\r\n$1\r\nx\r\n", "expected '$', got '*'"),
        (b"*1\r\n$" + b"9" * 30, "too big bulk count string"),
        (b'GET "unterminated\r\n', "unbalanced quotes in request"),
        (b"X" * (70 * 1024), "too big inline request"),
    ],
)
def test_malformed_headers_are_refused_before_their_payload(stream, message) -> None:
    """The error comes from the header alone: no payload bytes are awaited or allocated."""
    with pytest.raises(RequestProtocolError, match=re.escape(message)):
        RequestParser().feed(stream)


def test_requests_before_the_damage_are_kept_for_answering() -> None:
    """A protocol error carries the complete requests that preceded it, in order."""
    with pytest.raises(RequestProtocolError) as raised:
        RequestParser().feed(b"*1\r\n$4\r\nPING\r\nECHO x\r\n*1\r\n$-3\r\n")
    assert raised.value.commands == [[b"PING"], [b"ECHO", b"x"]]


def test_max_request_bytes_bounds_one_request_not_the_stream() -> None:
    """Many small requests may exceed the limit together; one big request may not."""
    parser = RequestParser(max_request_bytes=100)
    small = encode_command([b"SET", b"k", b"v" * 20])
    assert len(parser.feed(small * 20)) == 20
    with pytest.raises(RequestProtocolError, match="invalid bulk length"):
        parser.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$150\r\n")
    with pytest.raises(RequestProtocolError, match="exceeds max-request-bytes"):
        RequestParser(max_request_bytes=100).feed(b"*30\r\n" + b"$1\r\nx\r\n" * 15)
    with pytest.raises(RequestProtocolError, match="exceeds max-request-bytes"):
        RequestParser(max_request_bytes=100).feed(encode_command([b"x" * 60, b"y" * 60]))


def test_empty_frames_and_blank_lines_are_skipped() -> None:
    """`*0`, `*-1` and empty inline lines produce no request (Redis ignores them)."""
    assert RequestParser().feed(b"*0\r\n*-1\r\n\r\n\n*1\r\n$4\r\nPING\r\n") == [[b"PING"]]


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"SET a b\r", [b"SET", b"a", b"b"]),
        (b'SET "a b" \'c d\'', [b"SET", b"a b", b"c d"]),
        (b'ECHO "\\x41\\n\\"q"', [b"ECHO", b'A\n"q']),
        (b"ECHO 'it\\'s'", [b"ECHO", b"it's"]),
        (b"   ", []),
    ],
)
def test_inline_lines_split_like_redis(line, expected) -> None:
    """Quotes and escapes follow Redis's sdssplitargs."""
    assert split_inline(line) == expected


@pytest.mark.parametrize("line", [b'GET "a', b"GET 'a", b'GET "a"b'])
def test_unbalanced_inline_quotes_are_errors(line) -> None:
    """An unclosed quote, or a closing quote glued to more text, is refused."""
    with pytest.raises(InlineError):
        split_inline(line)


def test_an_oversized_argument_count_never_reaches_hiredis(monkeypatch) -> None:
    """hiredis reserves memory for a declared count: counts above the limit are refused first,
    also when the header arrives split across reads or after complete frames."""
    import kevy_server.request_parser as request_parser

    fed: list[bytes] = []

    class RecordingReader(request_parser.hiredis.Reader):
        def feed(self, data, *args):
            fed.append(bytes(data))
            return super().feed(data, *args)

    monkeypatch.setattr(request_parser.hiredis, "Reader", RecordingReader)
    for pieces in ([b"*4294967295\r\n"], [b"*1\r\n$4\r\nPING\r\n*42949", b"67295\r\n"]):
        fed.clear()
        parser = RequestParser()
        with pytest.raises(RequestProtocolError, match="invalid multibulk length"):
            for piece in pieces:
                parser.feed(piece)
        assert not any(b"67295" in data for data in fed)


def test_a_count_like_payload_is_not_mistaken_for_a_header() -> None:
    """Bytes such as `*1234567` inside a value pass the precise check."""
    frame = encode_command([b"SET", b"k", b"*12345678\r\n*9999999"])
    assert RequestParser().feed(frame * 2) == [[b"SET", b"k", b"*12345678\r\n*9999999"]] * 2


@pytest.mark.parametrize(
    "pieces, expected",
    [
        ([b"*1\r\n$0\r\n\r\n+\n"], [[b""], [b"+"]]),  # found by Hypothesis
        ([b"*1\r\n$0\r\n\r\n+", b"\n"], [[b""], [b"+"]]),
        ([b"*1\r\n$4\r\nPING\r\n:x\n$y\r\n"], [[b"PING"], [b":x"], [b"$y"]]),
        ([b"*2\r\n$3\r\nGET\r\n$4\r\na\nb", b"c\r\n"], [[b"GET", b"a\nbc"]]),
    ],
)
def test_inline_lines_hiredis_would_read_as_replies_are_inline(pieces, expected) -> None:
    """A line starting with a reply type byte (`+`, `:`, `$`) and ending in a bare LF, right
    after a frame, is an inline command (hiredis would wait for a CRLF forever)."""
    parser = RequestParser()
    assert [argv for piece in pieces for argv in parser.feed(piece)] == expected


def test_a_length_typed_inline_line_after_a_frame_is_inline() -> None:
    """`=0\\r\\n` or `$3\\r\\n` after a frame: hiredis would wait for a payload (Hypothesis)."""
    assert RequestParser().feed(b"*1\r\n$0\r\n\r\n=0\r\n") == [[b""], [b"=0"]]
    assert RequestParser().feed(b"*1\r\n$4\r\nPING\r\n$3\r\n") == [[b"PING"], [b"$3"]]
