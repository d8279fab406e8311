"""Grouped snapshot loading (`decode_snapshot(strings_into=)` + `Keyspace.from_snapshot`)
gives exactly the keyspace that loading every record in file order gives, and fails the same.

Method: Hypothesis writes snapshot files from record lists over a three-key alphabet (so a
key often repeats, within the strings and across kinds and TTLs -- files no keyspace
writes, but the decoder must still honour file order), decodes each twice -- plainly, then
`load_entry` per record; and grouped, then `Keyspace.from_snapshot` -- and compares keys,
kinds, values and deadlines. For damage, every cut point and every flipped byte of a small
mixed file must raise the same error type at the same offset with the same reason on both
paths.
"""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snapshot_strategies import deadlines, values

from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import ZSet
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine.snapshot import load_snapshot, save_snapshot
from kevy_persist.errors import KevyError
from kevy_persist.formats.records import ValueKind
from kevy_persist.formats.snapshot_decode import decode_snapshot
from kevy_persist.formats.snapshot_format import encode_snapshot

record_lists = st.lists(
    st.builds(
        lambda key, kind_value, deadline: (key, *kind_value, deadline),
        st.sampled_from([b"a", b"b", b"c"]),
        st.one_of(st.tuples(st.just(ValueKind.STRING), st.binary(max_size=8)), values),
        deadlines,
    ).filter(lambda record: record[1] is ValueKind.STRING or len(record[2]) > 0),
    max_size=12,
)


def state(keyspace: Keyspace) -> dict[bytes, tuple]:
    result = {}
    for key, kind, value, deadline_ms in keyspace.iter_entries():
        if isinstance(value, ZSet):
            value = list(value.items())
        elif isinstance(value, deque):
            value = list(value)
        result[key] = (kind, value, deadline_ms)
    return result


def ordered_state(data: bytes) -> dict[bytes, tuple]:
    keyspace = Keyspace()
    for key, kind, value, deadline_ms in decode_snapshot(data).records:
        keyspace.load_entry(key, kind, value, deadline_ms)
    return state(keyspace)


def grouped_state(data: bytes) -> dict[bytes, tuple]:
    strings: dict[bytes, bytes] = {}
    decoded = decode_snapshot(data, strings_into=strings)
    return state(Keyspace.from_snapshot(strings, decoded.records))


@settings(max_examples=250, deadline=None)
@given(record_lists)
def test_grouped_load_equals_loading_every_record_in_file_order(records: list) -> None:
    """Repeated keys included: the last record of a key wins on both paths."""
    data = encode_snapshot(records, None)
    assert grouped_state(data) == ordered_state(data)


def test_grouped_decode_puts_plain_strings_in_the_dict_and_the_rest_in_order() -> None:
    """Strings without TTL go to the dict; TTL strings and collections stay, in file order."""
    records = [
        (b"s1", ValueKind.STRING, b"v1", None),
        (b"h", ValueKind.HASH, {b"f": b"v"}, None),
        (b"t", ValueKind.STRING, b"ttl", 10**13),
        (b"s2", ValueKind.STRING, b"v2", None),
    ]
    strings: dict[bytes, bytes] = {}
    decoded = decode_snapshot(encode_snapshot(records, None), strings_into=strings)
    assert strings == {b"s1": b"v1", b"s2": b"v2"}
    assert [record[0] for record in decoded.records] == [b"h", b"t"]


def test_a_key_in_both_parts_falls_back_to_one_ordered_list() -> None:
    """String `k`, then a hash `k`: the dict is emptied and every record comes back in order."""
    records = [(b"k", ValueKind.STRING, b"v", None), (b"k", ValueKind.SET, {b"m"}, None)]
    strings: dict[bytes, bytes] = {}
    decoded = decode_snapshot(encode_snapshot(records, None), strings_into=strings)
    assert strings == {}
    assert [(record[0], record[1]) for record in decoded.records] == [
        (b"k", ValueKind.STRING), (b"k", ValueKind.SET)
    ]


def _mixed_file() -> bytes:
    records = [
        (b"alpha", ValueKind.STRING, b"one", None),
        (b"beta", ValueKind.LIST, deque([b"x", b"y"]), None),
        (b"gamma", ValueKind.STRING, b"three", 1_700_000_000_000),
        (b"delta", ValueKind.STRING, b"four", None),
    ]
    return encode_snapshot(records, None)


def _outcome(data: bytes, grouped: bool) -> tuple:
    try:
        decode_snapshot(data, "f", strings_into={} if grouped else None)
    except KevyError as error:
        return type(error), getattr(error, "offset", None), getattr(error, "reason", None)
    return ("ok",)


def test_every_cut_and_every_flipped_byte_fails_the_same_on_both_paths() -> None:
    """Same error type, offset and reason (or both succeed) for each damaged copy."""
    data = _mixed_file()
    damaged = [data[:cut] for cut in range(len(data))]
    damaged += [data[:index] + bytes([data[index] ^ 0x41]) + data[index + 1 :] for index in range(len(data))]
    for copy in damaged:
        assert _outcome(copy, grouped=True) == _outcome(copy, grouped=False)
    assert sum(_outcome(copy, grouped=True)[0] != "ok" for copy in damaged) > len(data)


def test_strings_into_must_start_empty() -> None:
    with pytest.raises(AssertionError):
        decode_snapshot(_mixed_file(), strings_into={b"stale": b"value"})


def test_load_snapshot_passes_strings_into_through(tmp_path) -> None:
    """The file-level loader over the real file system: grouped load of a saved keyspace."""
    original = Keyspace()
    for index in range(500):
        original.load_entry(b"k%d" % index, ValueKind.STRING, b"v%d" % index, None if index % 3 else 10**13)
    path = str(tmp_path / "dump-0.rdb")
    save_snapshot(OsFileSystem(), path, original.iter_entries(), None)
    strings: dict[bytes, bytes] = {}
    loaded = load_snapshot(OsFileSystem(), path, strings_into=strings)
    assert len(strings) + len(loaded.records) == 500
    assert len(loaded.records) == 167
    assert state(Keyspace.from_snapshot(strings, loaded.records)) == state(original)
