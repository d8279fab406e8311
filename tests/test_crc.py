"""CRC-32C: both implementations give the standard check value and agree on any input."""

from hypothesis import given
from hypothesis import strategies as st

from kevy_persist.formats import crc


def test_check_value_of_the_accelerated_implementation():
    """The implementation in use (C extension here) matches the published check value."""
    assert crc.IS_ACCELERATED, "the crc32c package is a dependency and should import"
    assert crc.crc32c(b"123456789") == 0xE3069283


def test_check_value_of_the_pure_fallback():
    """The table-driven fallback matches the published check value."""
    assert crc.crc32c_pure(b"123456789") == 0xE3069283


def test_empty_input_has_checksum_zero():
    assert crc.crc32c(b"") == 0
    assert crc.crc32c_pure(b"") == 0


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_fallback_agrees_with_extension_and_continues_across_pieces(first, second):
    """Random inputs: pure == C, and checksumming in two pieces equals checksumming the whole."""
    whole = crc.crc32c(first + second)
    assert crc.crc32c_pure(first + second) == whole
    assert crc.crc32c(second, crc.crc32c(first)) == whole
    assert crc.crc32c_pure(second, crc.crc32c_pure(first)) == whole
