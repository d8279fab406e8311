"""Executable specification of the on-disk framing codecs (checked by CrossHair and Hypothesis).

Each function states one property of the real codecs as a PEP 316 contract: `pre:` bounds the
inputs, `post:` is the property. `crosshair check --analysis_kind=PEP316 specs/formats_spec.py`
searches for inputs that break a `post:`; tests/test_crosshair_specs.py runs it with a small
budget and also drives the same functions with Hypothesis.

Properties:
- RESP: decode(encode(argv)) == argv, the frame ends exactly at its last byte, and every strict
  prefix of a frame is "need more" (a torn frame is never mistaken for a complete one).
- KEVYAOF2: a record reads back as its argv and its end is the record's length.
- KEVYSNAP: a string record (with or without TTL) and the trailer's position round-trip.
- Epoch marker: the argv form round-trips.
- Redis RDB: a length at every width, a string in every encoding (integer forms included)
  and a DUMP payload of a string round-trip (specs/rdb-format.md).
"""

from __future__ import annotations

from kevy_persist.formats.aof_format import (
    EpochMarker,
    encode_record,
    epoch_marker_argv,
    parse_epoch_marker,
    read_record,
)
from kevy_persist.formats.positions import LogPosition
from kevy_persist.formats.rdb_decode import decode_dump_payload
from kevy_persist.formats.rdb_format import encode_dump_payload, encode_length, encode_string
from kevy_persist.formats.rdb_reader import RdbReader
from kevy_persist.formats.records import ValueKind
from kevy_persist.formats.resp import NeedMore, decode_command, encode_command
from kevy_persist.formats.snapshot_decode import decode_snapshot
from kevy_persist.formats.snapshot_format import encode_snapshot


def resp_round_trip(argv: list[bytes]) -> list[bytes]:
    """
    pre: 1 <= len(argv) <= 3
    post: __return__ == argv
    """
    frame = encode_command(argv)
    decoded, end_offset = decode_command(frame, 0)  # type: ignore[misc]
    assert end_offset == len(frame)
    return decoded


def resp_prefix_needs_more(argv: list[bytes], cut: int) -> bool:
    """
    pre: 1 <= len(argv) <= 3
    pre: 0 <= cut < len(encode_command(argv))
    post: __return__
    """
    result = decode_command(encode_command(argv)[:cut], 0)
    return isinstance(result, NeedMore) and result.required_end > cut


def aof_v2_record_round_trip(argv: list[bytes]) -> list[bytes]:
    """
    pre: 1 <= len(argv) <= 3
    post: __return__ == argv
    """
    record = encode_record(2, argv)
    decoded, end_offset = read_record(2, record, 0)  # type: ignore[misc]
    assert end_offset == len(record)
    return decoded  # type: ignore[return-value]


def snapshot_string_round_trip(key: bytes, value: bytes, deadline_ms: int | None) -> tuple:
    """
    pre: deadline_ms is None or 0 <= deadline_ms < 2 ** 64
    post: __return__ == (key, ValueKind.STRING, value, deadline_ms)
    """
    blob = encode_snapshot([(key, ValueKind.STRING, value, deadline_ms)], None)
    (record,) = decode_snapshot(blob).records
    return record


def snapshot_trailer_round_trip(epoch: int, offset: int) -> LogPosition | None:
    """
    pre: 0 <= epoch < 2 ** 64
    pre: 0 <= offset < 2 ** 64
    post: __return__ == LogPosition(epoch, offset)
    """
    trailer = decode_snapshot(encode_snapshot([], LogPosition(epoch, offset))).trailer
    assert trailer is not None
    return trailer.covered


def epoch_marker_round_trip(epoch: int, incremental: bool) -> EpochMarker | None:
    """
    pre: epoch >= 0
    post: __return__ == EpochMarker(epoch, "incr" if incremental else "base")
    """
    return parse_epoch_marker(epoch_marker_argv(EpochMarker(epoch, "incr" if incremental else "base")))


def reference_parse_frame(frame: bytes) -> list[bytes]:
    """The multibulk grammar as a plain index walk (a second, independent reading of it)."""
    assert frame[0:1] == b"*"
    position = 1
    count = 0
    while frame[position : position + 1] != b"\r":
        count = count * 10 + (frame[position] - 48)
        position += 1
    position += 2
    argv = []
    for _ in range(count):
        assert frame[position : position + 1] == b"$"
        position += 1
        length = 0
        while frame[position : position + 1] != b"\r":
            length = length * 10 + (frame[position] - 48)
            position += 1
        position += 2
        argv.append(frame[position : position + length])
        position += length
        assert frame[position : position + 2] == b"\r\n"
        position += 2
    assert position == len(frame)
    return argv


def encoder_follows_the_grammar(argv: list[bytes]) -> list[bytes]:
    """
    pre: 1 <= len(argv) <= 3
    post: __return__ == argv
    """
    return reference_parse_frame(encode_command(argv))


def aof_v2_header_states_length_and_checksum(argv: list[bytes]) -> bool:
    """
    pre: 1 <= len(argv) <= 2
    post: __return__
    """
    record = encode_record(2, argv)
    payload = record[8:]
    from kevy_persist.formats.crc import crc32c

    return int.from_bytes(record[0:4], "little") == len(payload) and int.from_bytes(
        record[4:8], "little"
    ) == crc32c(payload) and payload == encode_command(argv)


def frame_size_matches_formula(argv: list[bytes]) -> int:
    """The frame size is fixed by the argument lengths (what lets replay compute offsets).

    pre: 1 <= len(argv) <= 3
    post: __return__ == 3 + len(str(len(argv))) + sum(5 + len(str(len(a))) + len(a) for a in argv)
    """
    return len(encode_command(argv))


def rdb_length_round_trip(length: int) -> int:
    """
    pre: 0 <= length < 2 ** 64
    post: __return__ == length
    """
    encoded = encode_length(length)
    value, end_offset = RdbReader(encoded, "spec").length(0)
    assert end_offset == len(encoded)
    return value


def rdb_string_round_trip(value: bytes) -> bytes:
    """
    post: __return__ == value
    """
    # CrossHair 0.0.112 crashes internally on int() of symbolic bytes, so it skips this
    # contract; Hypothesis drives it (tests/test_crosshair_specs.py).
    # crosshair: off
    encoded = encode_string(value)
    decoded, end_offset = RdbReader(encoded, "spec").string(0)
    assert end_offset == len(encoded)
    return decoded


def dump_payload_round_trip(value: bytes) -> tuple:
    """
    post: __return__ == (ValueKind.STRING, value)
    """
    # Skipped by CrossHair as above (and the CRC-64 runs in C, opaque to it).
    # crosshair: off
    return decode_dump_payload(encode_dump_payload(b"key", ValueKind.STRING, value))
