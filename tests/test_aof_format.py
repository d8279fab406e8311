"""KEVYAOF1/KEVYAOF2 framing (pure): round trips, markers, format detection, damage."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kevy_persist.formats.aof_format import (
    EPOCH_MARKER_NAME,
    EXEC_MARKER_NAME,
    MULTI_MARKER_NAME,
    EpochMarker,
    RecordError,
    detect_format,
    encode_record,
    encode_records,
    epoch_marker_argv,
    header_for,
    parse_epoch_marker,
    probe_record,
    read_record,
)
from kevy_persist.formats.crc import crc32c
from kevy_persist.formats.resp import NeedMore

argvs = st.lists(st.binary(max_size=30), min_size=1, max_size=5)
versions = st.sampled_from([1, 2])


@given(versions, st.lists(argvs, max_size=8))
def test_records_round_trip_with_exact_offsets(format_version, commands):
    """Encode several records, read them back one by one: same argvs, contiguous offsets."""
    buffer = header_for(format_version) + encode_records(format_version, commands)
    position = 9
    for argv in commands:
        decoded, end = read_record(format_version, buffer, position)
        assert decoded == argv
        assert buffer[position:end] == encode_record(format_version, argv)
        position = end
    assert position == len(buffer)


@given(versions, argvs, st.data())
def test_a_cut_record_needs_more_and_is_never_probed_valid(format_version, argv, data):
    record = encode_record(format_version, argv)
    cut = data.draw(st.integers(0, len(record) - 1))
    assert isinstance(read_record(format_version, record[:cut], 0), NeedMore)
    if cut:
        assert probe_record(format_version, record[:cut], 0, cut) is None


def test_v2_record_layout_is_length_crc_payload():
    record = encode_record(2, [b"SET", b"k", b"v"])
    payload = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
    assert record == len(payload).to_bytes(4, "little") + crc32c(payload).to_bytes(4, "little") + payload


@pytest.mark.parametrize(
    ("record", "reason_part"),
    [
        (bytes(8) + b"*1\r\n", "out of range"),
        ((2**30 + 1).to_bytes(4, "little") + bytes(4), "out of range"),
        ((4).to_bytes(4, "little") + bytes(4) + b"*1\r\n", "checksum"),
    ],
)
def test_v2_damage_is_a_located_record_error(record, reason_part):
    with pytest.raises(RecordError) as caught:
        read_record(2, record, 0)
    assert caught.value.offset == 0
    assert reason_part in caught.value.reason


def test_v2_checksummed_payload_must_be_exactly_one_command():
    payload = b"*1\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n"
    record = len(payload).to_bytes(4, "little") + crc32c(payload).to_bytes(4, "little") + payload
    with pytest.raises(RecordError):
        read_record(2, record, 0)


def test_epoch_marker_round_trips_and_transaction_markers_are_plain_argvs():
    marker = EpochMarker(42, "incr")
    argv = epoch_marker_argv(marker)
    assert argv == [EPOCH_MARKER_NAME, b"42", b"incr"]
    assert parse_epoch_marker(argv) == marker
    assert parse_epoch_marker([b"SET", b"k", b"v"]) is None
    with pytest.raises(ValueError):
        parse_epoch_marker([EPOCH_MARKER_NAME, b"x", b"incr"])
    for name in (MULTI_MARKER_NAME, EXEC_MARKER_NAME):
        assert read_record(2, encode_record(2, [name]), 0) == ([name], len(encode_record(2, [name])))


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"KEVYAOF1\n*1", (1, 9)),
        (b"KEVYAOF2\n", (2, 9)),
        (b"*1\r\n$4\r\nPING\r\n", (1, 0)),
        (b"", None),
        (b"KEVYA", None),
        (b"KEVYAOF2", None),
    ],
)
def test_detect_format(head, expected):
    assert detect_format(head) == expected


def test_detect_format_refuses_other_files():
    with pytest.raises(RecordError):
        detect_format(b"REDIS0011")
