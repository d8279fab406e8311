"""Stream entry IDs: `<ms>-<seq>`, two unsigned 64-bit halves, held as one 128-bit int.

Redis orders stream IDs by (ms, seq); packing them as `ms << 64 | seq` makes that order the
plain integer order, so sorted containers, bisection and comparisons need no tuples, and the
successor of an ID is `id + 1` (a sequence of 2^64-1 carries into the next millisecond, as
Redis's streamIncrID does). Pure arithmetic; the textual form is Redis's `%llu-%llu`.
"""

from __future__ import annotations

SEQUENCE_BITS = 64
HALF_MASK = (1 << SEQUENCE_BITS) - 1
MINIMUM_ID = 0  # 0-0
MAXIMUM_ID = (1 << (2 * SEQUENCE_BITS)) - 1  # 18446744073709551615-18446744073709551615


def stream_id(ms: int, seq: int) -> int:
    """The packed ID of `ms-seq` (both halves within 0..2^64-1)."""
    assert 0 <= ms <= HALF_MASK and 0 <= seq <= HALF_MASK, (ms, seq)
    return (ms << SEQUENCE_BITS) | seq


def id_parts(packed: int) -> tuple[int, int]:
    """`(ms, seq)` of a packed ID."""
    assert MINIMUM_ID <= packed <= MAXIMUM_ID, packed
    return packed >> SEQUENCE_BITS, packed & HALF_MASK


def id_ms(packed: int) -> int:
    return packed >> SEQUENCE_BITS


def format_id(packed: int) -> bytes:
    """Redis's textual form, e.g. b"1700000000000-0"."""
    return b"%d-%d" % (packed >> SEQUENCE_BITS, packed & HALF_MASK)


def format_id_text(packed: int) -> str:
    return f"{packed >> SEQUENCE_BITS}-{packed & HALF_MASK}"


def parse_id_text(text: str) -> int:
    """The packed ID of a canonical `ms-seq` text (as `format_id_text` writes it)."""
    ms, _, seq = text.partition("-")
    return stream_id(int(ms), int(seq))
