"""RESP multibulk framing: round trips, exact offsets, incomplete input, malformed input."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kevy_persist.formats.resp import (
    MalformedFrameError,
    NeedMore,
    decode_command,
    decode_exactly_one,
    encode_command,
    encode_commands,
)

argvs = st.lists(st.binary(max_size=40), min_size=1, max_size=6)


@given(st.lists(argvs, min_size=1, max_size=8))
def test_decode_of_encode_round_trips_with_exact_offsets(commands):
    """Frames laid back to back decode to the same argvs; each end offset is the next start."""
    buffer = encode_commands(commands)
    position = 0
    for argv in commands:
        decoded, end_offset = decode_command(buffer, position)
        assert decoded == argv
        assert buffer[position:end_offset] == encode_command(argv)
        position = end_offset
    assert position == len(buffer)


@given(argvs, st.data())
def test_every_strict_prefix_needs_more(argv, data):
    """Cutting a frame anywhere gives NeedMore with a required end beyond the cut, never an error."""
    frame = encode_command(argv)
    cut = data.draw(st.integers(0, len(frame) - 1))
    result = decode_command(frame[:cut])
    assert isinstance(result, NeedMore)
    assert cut < result.required_end <= len(frame)


@given(argvs, st.data())
def test_any_flipped_byte_gives_a_frame_need_more_or_a_located_error(argv, data):
    """Damage never raises anything but MalformedFrameError, and its offset lies in the input."""
    frame = bytearray(encode_command(argv))
    index = data.draw(st.integers(0, len(frame) - 1))
    frame[index] ^= data.draw(st.integers(1, 255))
    try:
        result = decode_command(bytes(frame))
    except MalformedFrameError as error:
        assert 0 <= error.offset <= len(frame)
    else:
        if not isinstance(result, NeedMore):
            decoded, end_offset = result
            assert end_offset <= len(frame)


def test_known_frame_bytes():
    assert encode_command([b"SET", b"k", b"v"]) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
    assert decode_command(b"xx*1\r\n$4\r\nPING\r\n", 2) == ([b"PING"], 16)


@pytest.mark.parametrize(
    ("frame", "offset"),
    [
        (b"+OK\r\n", 0),
        (b"*0\r\n", 0),
        (b"*-1\r\n", 0),
        (b"*x\r\n", 0),
        (b"*1\r\n:1\r\n", 4),
        (b"*1\r\n$-1\r\n", 4),
        (b"*1\r\n$1\r\nabc\r\n", 9),
        (b"*99999999999\r\n", 0),
        (b"*2000000\r\n", 0),
        (b"*1\r\n$999999999999\r\n", 4),
        (b"*1\r\n$600000000\r\n", 4),
        (b"\x00\x00\x00\x00", 0),
    ],
)
def test_malformed_frames_are_reported_at_their_offset(frame, offset):
    with pytest.raises(MalformedFrameError) as caught:
        decode_command(frame)
    assert caught.value.offset == offset


def test_forged_count_and_length_need_more_without_allocating():
    """A count of a million or a 500 MiB length with a few bytes present is just NeedMore."""
    result = decode_command(b"*1048576\r\n$1\r\na\r\n")
    assert isinstance(result, NeedMore)
    assert result.required_end > 6 * 1_000_000
    result = decode_command(b"*1\r\n$500000000\r\nab")
    assert isinstance(result, NeedMore)
    assert result.required_end == 500_000_000 + 18


def test_decode_exactly_one_rejects_extra_and_missing_bytes():
    frame = encode_command([b"GET", b"k"])
    assert decode_exactly_one(frame) == [b"GET", b"k"]
    with pytest.raises(MalformedFrameError):
        decode_exactly_one(frame + b"*")
    with pytest.raises(MalformedFrameError):
        decode_exactly_one(frame[:-1])


def test_checksummed_payload_fast_path_agrees_with_the_exact_parser() -> None:
    """decode_exactly_one's hiredis path gives the pure parser's argv, and refuses what it
    refuses (forged counts are checked before hiredis reserves memory for them)."""
    from kevy_persist.formats.resp import (
        MalformedFrameError,
        decode_command,
        decode_exactly_one,
        encode_command,
    )

    for argv in ([b"SET", b"k", b""], [b"\x00KEVYEPOCH", b"3", b"incr"], [b"x" * 70000]):
        payload = encode_command(argv)
        assert decode_exactly_one(payload) == decode_command(payload, 0)[0] == argv
    for forged in (b"*2000000000\r\n$1\r\na\r\n", b"*1\r\n:5\r\n", b"*1\r\n$1\r\na\r\nX", b"*1\r\n$5\r\nab\r\n"):
        with pytest.raises(MalformedFrameError):
            decode_exactly_one(forged)
