"""Routing: KevyHash, CRC16 slots and hashtags against kevy 1.23's vectors and Redis's rules.

Method: every row of `kevyhash-vectors.tsv` (written by kevy 1.23) is checked for the hash,
the CRC16 and the slot, through both the fast and the reference implementations;
Hypothesis keeps fast == reference on arbitrary keys and checks the slot -> shard
arithmetic partitions 0..16383; the hashtag cases are the ones in the Redis Cluster spec.
"""

from __future__ import annotations

import pytest
from fixture_paths import FIXTURES_DIR
from hypothesis import given
from hypothesis import strategies as st

from kevy_persist.layout.kevyhash import kevy_hash, kevy_hash_reference
from kevy_persist.layout.routing import (
    MAX_SHARD_COUNT,
    SLOT_COUNT,
    Router,
    Routing,
    crc16_xmodem,
    crc16_xmodem_reference,
    hashtag,
    key_slot,
    router_for,
    shard_for_key,
    slot_range_for_shard,
    slot_to_shard,
)

VECTORS_PATH = FIXTURES_DIR / "kevyhash-vectors.tsv"


def _load_vectors() -> list[tuple[bytes, int, int, int]]:
    rows = []
    for line in VECTORS_PATH.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key_hex, hash_text, crc_text, slot_text = line.split("\t")
        rows.append((bytes.fromhex(key_hex), int(hash_text), int(crc_text), int(slot_text)))
    return rows


VECTORS = _load_vectors() if VECTORS_PATH.exists() else []
needs_vectors = pytest.mark.skipif(not VECTORS, reason="kevy 1.23 fixtures not present")


@needs_vectors
def test_vector_file_covers_every_length_class_of_the_hash() -> None:
    """The vectors exercise each branch of KevyHash: 0, 1-3, 4-7, 8-16, >16 and a 256 block."""
    lengths = {len(key) for key, _, _, _ in VECTORS}
    assert 0 in lengths
    assert lengths & {1, 2, 3}
    assert lengths & {4, 5, 6, 7}
    assert lengths & set(range(8, 17))
    assert lengths & set(range(17, 33))
    assert max(lengths) >= 256
    assert len(VECTORS) >= 50


@needs_vectors
@pytest.mark.parametrize("key, expected_hash, expected_crc, expected_slot", VECTORS)
def test_every_kevy_vector_matches(
    key: bytes, expected_hash: int, expected_crc: int, expected_slot: int
) -> None:
    """Hash, CRC16 and slot equal kevy 1.23's output, fast and reference paths alike."""
    assert kevy_hash(key) == expected_hash
    assert kevy_hash_reference(key) == expected_hash
    assert crc16_xmodem(key) == expected_crc
    assert crc16_xmodem_reference(key) == expected_crc
    assert key_slot(key) == expected_slot


def test_crc16_xmodem_check_value() -> None:
    """The catalogue check value of CRC-16/XMODEM, and the empty input."""
    assert crc16_xmodem(b"123456789") == 0x31C3
    assert crc16_xmodem_reference(b"123456789") == 0x31C3
    assert crc16_xmodem(b"") == 0


@given(st.binary(max_size=300))
def test_fast_kevy_hash_equals_reference(key: bytes) -> None:
    """Random keys of every length class: the optimised hash is the reference hash."""
    assert kevy_hash(key) == kevy_hash_reference(key)
    assert 0 <= kevy_hash(key) < 1 << 64


@given(st.binary(max_size=300))
def test_fast_crc16_equals_table_reference(data: bytes) -> None:
    """binascii.crc_hqx with init 0 is the table-driven XMODEM CRC."""
    assert crc16_xmodem(data) == crc16_xmodem_reference(data)


def test_kevy_hash_accepts_any_bytes_like_buffer() -> None:
    """bytearray and memoryview keys hash like the bytes they hold."""
    for key in (b"", b"ab", b"abcdef", b"0123456789abcdef", b"x" * 40):
        assert kevy_hash(bytearray(key)) == kevy_hash(key)
        assert kevy_hash(memoryview(key)) == kevy_hash(key)


@pytest.mark.parametrize(
    "key, tag",
    [
        (b"{user1000}.following", b"user1000"),
        (b"{user1000}.followers", b"user1000"),
        (b"foo{}{bar}", b"foo{}{bar}"),
        (b"foo{{bar}}zap", b"{bar"),
        (b"foo{bar}{zap}", b"bar"),
        (b"foo{bar", b"foo{bar"),
        (b"no_braces", b"no_braces"),
        (b"}{a}", b"a"),
        (b"{", b"{"),
        (b"{}", b"{}"),
        (b"", b""),
    ],
)
def test_hashtag_follows_the_redis_cluster_rules(key: bytes, tag: bytes) -> None:
    """First `{`, first `}` after it, non-empty between; otherwise the whole key."""
    assert hashtag(key) == tag


def test_keys_sharing_a_hashtag_share_a_slot() -> None:
    """The Redis docs' example: both keys of user1000 land on the slot of `user1000`."""
    assert key_slot(b"{user1000}.following") == key_slot(b"{user1000}.followers")
    assert key_slot(b"{user1000}.following") == key_slot(b"user1000")


def _hashtag_by_definition(key: bytes) -> bytes:
    for open_index, byte in enumerate(key):
        if byte == ord("{"):
            for close_index in range(open_index + 1, len(key)):
                if key[close_index] == ord("}"):
                    return key[open_index + 1 : close_index] if close_index > open_index + 1 else key
            return key
    return key


@given(st.lists(st.sampled_from([b"{", b"}", b"a", b"b"]), max_size=12).map(b"".join))
def test_hashtag_equals_the_bytewise_definition(key: bytes) -> None:
    """Brace-heavy keys: the `find`-based hashtag equals a byte-by-byte reading of the rule."""
    assert hashtag(key) == _hashtag_by_definition(key)


@given(st.integers(min_value=1, max_value=MAX_SHARD_COUNT))
def test_slot_ranges_partition_all_slots(shard_count: int) -> None:
    """Ranges of shards 0..n-1 are contiguous, cover 0..16383 once, and agree with slot*n>>14."""
    expected_first = 0
    for index in range(shard_count):
        slots = slot_range_for_shard(index, shard_count)
        assert slots.start == expected_first
        expected_first = slots.stop
        if len(slots):
            assert slot_to_shard(slots.start, shard_count) == index
            assert slot_to_shard(slots.stop - 1, shard_count) == index
        if slots.stop < SLOT_COUNT:
            assert slot_to_shard(slots.stop, shard_count) > index
    assert expected_first == SLOT_COUNT


@pytest.mark.parametrize("shard_count", [1, 2, 3, 4, 5, 7, 8, 10, 16])
def test_every_slot_maps_to_exactly_the_shard_whose_range_holds_it(shard_count: int) -> None:
    """Exhaustive over all 16384 slots for common shard counts."""
    owner = {}
    for index in range(shard_count):
        for slot in slot_range_for_shard(index, shard_count):
            assert slot not in owner
            owner[slot] = index
    assert len(owner) == SLOT_COUNT
    for slot in range(SLOT_COUNT):
        assert slot_to_shard(slot, shard_count) == owner[slot]


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=64))
def test_kevyhash_routing_is_the_hash_modulo_the_count(key: bytes, shard_count: int) -> None:
    """`h & (n-1)` for powers of two and `h % n` otherwise are one rule: h mod n."""
    index = shard_for_key(key, shard_count, Routing.KEVYHASH)
    assert index == kevy_hash(key) % shard_count
    assert 0 <= index < shard_count


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=64))
def test_slots_routing_is_the_slot_range_owner(key: bytes, shard_count: int) -> None:
    """Cluster routing: the shard is the one whose slot range holds the key's slot."""
    index = shard_for_key(key, shard_count, Routing.SLOTS)
    assert key_slot(key) in slot_range_for_shard(index, shard_count)


@given(st.text(alphabet="ab{}", max_size=10).map(str.encode))
def test_kevyhash_routing_ignores_hashtags(key: bytes) -> None:
    """Non-cluster routing hashes the whole key, exactly as kevy's shard_of does."""
    assert shard_for_key(key, 7, Routing.KEVYHASH) == kevy_hash(key) % 7


def test_router_bulk_path_equals_one_by_one() -> None:
    """`shard_indexes` is `shard_for_key` mapped over the keys."""
    keys = [b"key:%d" % number for number in range(500)] + [b"{tag}x", b""]
    for routing in Routing:
        for shard_count in (1, 2, 3, 8):
            router = Router(shard_count, routing)
            assert router.shard_indexes(keys) == [
                shard_for_key(key, shard_count, routing) for key in keys
            ]
    assert router_for(3, Routing.SLOTS) is router_for(3, Routing.SLOTS)


@pytest.mark.parametrize("bad_count", [0, -1, MAX_SHARD_COUNT + 1])
def test_out_of_range_shard_counts_are_refused(bad_count: int) -> None:
    """No router, and no slot range, for a shard count outside 1..MAX_SHARD_COUNT."""
    with pytest.raises(ValueError):
        Router(bad_count, Routing.KEVYHASH)
    with pytest.raises(ValueError):
        slot_range_for_shard(0, bad_count)


def test_shard_index_outside_the_layout_is_refused() -> None:
    """slot_range_for_shard(n, n) names no shard."""
    with pytest.raises(ValueError):
        slot_range_for_shard(4, 4)


def test_routing_tags_are_the_shards_meta_words() -> None:
    """The enum values are what kevy writes on line 2 of shards.meta."""
    assert Routing("kevyhash") is Routing.KEVYHASH
    assert Routing("slots") is Routing.SLOTS
