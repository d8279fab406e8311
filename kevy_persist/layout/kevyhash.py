"""KevyHash: the 64-bit key hash the Rust kevy 1.23 uses to pick a key's shard.

Bit-exact with `<[u8] as KevyHash>::kevy_hash` in kevy's `kevy-hash` crate as shipped with
kevy 1.23 (the two-stream "pipelined" byte hash, after rustc-hash 2.x, finished with the
murmur3 `fmix64` avalanche). The fixture `kevyhash-vectors.tsv`, produced by kevy 1.23
itself, is the judge; `tests/test_routing_vectors.py` checks every row. The algorithm is
described in prose in `specs/routing.md`.

It is *not* XXH3 (kevy's crate also carries an XXH3 for Redis's DIGEST, unrelated to
routing), so no C hashing library applies: this module is pure Python. Two versions live
here on purpose:

- `kevy_hash_reference` follows the algorithm step by step (the checked reference);
- `kevy_hash` is the same function rearranged for CPython speed (struct reads instead of
  slices, the final mixes inlined). A Hypothesis property keeps the two equal.

Pure: no I/O, no state.
"""

from __future__ import annotations

import struct

_MASK_64 = (1 << 64) - 1

# Digits of pi (the constants rustc-hash 2.x uses); the third keeps an all-zero 16-byte
# block from collapsing the state.
STATE_0_SEED = 0x243F_6A88_85A3_08D3
STATE_1_SEED = 0x1319_8A2E_0370_7344
_ANTI_ZERO = 0xA409_3822_299F_31D0

# murmur3 fmix64 multipliers.
FMIX_MULTIPLIER_1 = 0xFF51_AFD7_ED55_8CCD
FMIX_MULTIPLIER_2 = 0xC4CE_B9FE_1A85_EC53

_read_u64 = struct.Struct("<Q").unpack_from
_read_u32 = struct.Struct("<I").unpack_from


def fmix64(value: int) -> int:
    """murmur3's 64-bit finalizer: spreads every input bit over all output bits."""
    assert 0 <= value <= _MASK_64
    value ^= value >> 33
    value = (value * FMIX_MULTIPLIER_1) & _MASK_64
    value ^= value >> 33
    value = (value * FMIX_MULTIPLIER_2) & _MASK_64
    value ^= value >> 33
    return value


def multiply_mix(left: int, right: int) -> int:
    """The 128-bit product of two u64 values, folded by XOR of its high and low halves."""
    assert 0 <= left <= _MASK_64 and 0 <= right <= _MASK_64
    product = left * right
    return (product & _MASK_64) ^ (product >> 64)


def kevy_hash_reference(key: bytes) -> int:
    """KevyHash of `key`, written to be read against `specs/routing.md` (slow, exact)."""
    length = len(key)
    state_0 = STATE_0_SEED
    state_1 = STATE_1_SEED
    if length <= 16:
        if length >= 8:
            # First and last eight bytes; they overlap for lengths 8..15.
            state_0 ^= int.from_bytes(key[0:8], "little")
            state_1 ^= int.from_bytes(key[length - 8 :], "little")
        elif length >= 4:
            state_0 ^= int.from_bytes(key[0:4], "little")
            state_1 ^= int.from_bytes(key[length - 4 :], "little")
        elif length > 0:
            # First, middle and last byte, so "ab" and "ba" differ.
            state_0 ^= key[0]
            state_1 ^= (key[length - 1] << 8) | key[length // 2]
    else:
        # The bulk loop leaves out the very last byte, so a key of exactly 16k+1 bytes still
        # ends with a suffix block that overlaps the bulk; then the last 16 bytes are mixed
        # into the two states.
        bulk_end = length - 1
        offset = 0
        while offset + 16 <= bulk_end:
            word_x = int.from_bytes(key[offset : offset + 8], "little")
            word_y = int.from_bytes(key[offset + 8 : offset + 16], "little")
            mixed = multiply_mix(state_0 ^ word_x, _ANTI_ZERO ^ word_y)
            state_0 = state_1
            state_1 = mixed
            offset += 16
        state_0 ^= int.from_bytes(key[length - 16 : length - 8], "little")
        state_1 ^= int.from_bytes(key[length - 8 :], "little")
    # The length is folded in so that keys differing only in length hash differently.
    folded = multiply_mix(state_0, state_1) ^ length
    return fmix64(folded)


def kevy_hash(key: bytes) -> int:
    """KevyHash of `key` (fast path; equal to `kevy_hash_reference` for every input)."""
    length = len(key)
    if length <= 16:
        if length >= 8:
            state_0 = STATE_0_SEED ^ _read_u64(key, 0)[0]
            state_1 = STATE_1_SEED ^ _read_u64(key, length - 8)[0]
        elif length >= 4:
            state_0 = STATE_0_SEED ^ _read_u32(key, 0)[0]
            state_1 = STATE_1_SEED ^ _read_u32(key, length - 4)[0]
        elif length:
            state_0 = STATE_0_SEED ^ key[0]
            state_1 = STATE_1_SEED ^ ((key[length - 1] << 8) | key[length >> 1])
        else:
            state_0 = STATE_0_SEED
            state_1 = STATE_1_SEED
    else:
        state_0 = STATE_0_SEED
        state_1 = STATE_1_SEED
        bulk_end = length - 1
        offset = 0
        while offset + 16 <= bulk_end:
            product = (state_0 ^ _read_u64(key, offset)[0]) * (
                _ANTI_ZERO ^ _read_u64(key, offset + 8)[0]
            )
            state_0 = state_1
            state_1 = (product & _MASK_64) ^ (product >> 64)
            offset += 16
        state_0 ^= _read_u64(key, length - 16)[0]
        state_1 ^= _read_u64(key, length - 8)[0]
    product = state_0 * state_1
    value = (product & _MASK_64) ^ (product >> 64) ^ length
    value ^= value >> 33
    value = (value * FMIX_MULTIPLIER_1) & _MASK_64
    value ^= value >> 33
    value = (value * FMIX_MULTIPLIER_2) & _MASK_64
    return value ^ (value >> 33)
