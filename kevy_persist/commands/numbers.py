"""Redis's number parsing and formatting, reproduced exactly.

- Integers (`string2ll`): optional '-', no '+', no spaces, no leading zeros, int64 range.
- Doubles (`strtod` as `getDoubleFromObject` uses it): decimal or hex floats, `inf` and
  `infinity` in any case; NaN, leading spaces, trailing bytes and overflow are rejected.
- INCRBYFLOAT / HINCRBYFLOAT compute in x87 80-bit long double (64-bit significand) and print
  with `%.17Lf` minus trailing zeros. That is emulated exactly with `Fraction`: parse exactly,
  round to 64 significant bits (ties to even), format the exact value to 17 decimals.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_INTEGER = re.compile(rb"-?[1-9][0-9]{0,19}|0")
_DECIMAL = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEXADECIMAL = re.compile(
    rb"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
)
_INFINITY = re.compile(rb"[+-]?(?:inf|infinity)", re.IGNORECASE)
_NONZERO_DIGIT = re.compile(rb"[1-9]")
_SPACE = b" \t\n\v\f\r"

# Redis refuses long-double text at or above this size (MAX_LONG_DOUBLE_CHARS).
_LONG_DOUBLE_MAX_TEXT = 5 * 1024
_LONG_DOUBLE_SIGNIFICAND_BITS = 64
_LONG_DOUBLE_MAX_EXPONENT = 16383


def parse_int(text: bytes) -> int | None:
    """Redis string2ll: the int64 `text` spells, or None."""
    if text.isdigit() and len(text) < 19 and (text[0] != 48 or len(text) == 1):
        # Up to 18 ASCII digits without a leading zero (every counter INCR writes back while
        # it is >= 0): int() reads them as string2ll does, and they are below INT64_MAX.
        return int(text)
    if _INTEGER.fullmatch(text) is None:
        return None
    value = int(text)
    if value < INT64_MIN or value > INT64_MAX:
        return None
    return value


def _strtod_prefix_free(text: bytes) -> float | None:
    """What strtod gives when it must consume all of `text`, or None (NaN included)."""
    if _DECIMAL.fullmatch(text) is not None:
        value = float(text)
        if math.isinf(value):
            return None  # overflow: ERANGE with HUGE_VAL
        if value == 0.0 and _NONZERO_DIGIT.search(text.split(b"e")[0].split(b"E")[0]):
            return None  # underflow to zero: ERANGE with 0
        return value
    if _HEXADECIMAL.fullmatch(text) is not None:
        try:
            return float.fromhex(text.decode("ascii"))
        except OverflowError:
            return None
    if _INFINITY.fullmatch(text) is not None:
        return -math.inf if text[:1] == b"-" else math.inf
    return None


def parse_double(text: bytes) -> float | None:
    """Redis getDoubleFromObject: the double `text` spells, or None."""
    if text.isdigit() and len(text) < 300:
        # Plain ASCII digits (redis-benchmark's ZADD scores, most real ones): float() reads
        # them exactly as strtod does, and under 300 digits they can neither overflow nor
        # underflow, so the regular expressions below would only agree.
        return float(text)
    if not text or text[0] in _SPACE:
        return None
    return _strtod_prefix_free(text)


def parse_range_double(text: bytes) -> float | None:
    """A score bound as zslParseRange reads it: strtod, whole text, NaN refused.

    strtod converts nothing in "" and leaves the end pointer on the NUL, so "" reads as 0.
    """
    if not text:
        return 0.0
    stripped = text.lstrip(_SPACE)
    if not stripped:
        return None
    if _DECIMAL.fullmatch(stripped) is not None:
        return float(stripped)
    return _strtod_prefix_free(stripped)


def parse_strtod(text: bytes) -> float | None:
    """C's strtod as SORT uses it: leading whitespace skipped, the text ends at a NUL byte,
    "" reads as 0; trailing bytes, NaN and overflow or underflow (ERANGE) are refused."""
    if text.isdigit() and len(text) < 300:
        return float(text)  # plain digits (SORT's common case): exact as strtod, never ERANGE
    text = text.split(b"\0", 1)[0]
    if not text:
        return 0.0
    stripped = text.lstrip(_SPACE)
    if not stripped:
        return None
    return _strtod_prefix_free(stripped)


def format_integer(value: int) -> bytes:
    return b"%d" % value


# -- long double (INCRBYFLOAT) -----------------------------------------------------------

LongDouble = Fraction | float  # float only for +-inf


def parse_long_double(text: bytes) -> LongDouble | None:
    """Redis string2ld: the long double `text` spells (exact, rounded to 64 bits), or None."""
    if not text or len(text) >= _LONG_DOUBLE_MAX_TEXT or text[0] in _SPACE:
        return None
    if _DECIMAL.fullmatch(text) is not None:
        exact = Fraction(text.decode("ascii"))
        rounded = round_long_double(exact)
        if isinstance(rounded, float):
            return None  # overflow
        if rounded == 0 and exact != 0:
            return None  # underflow
        return rounded
    if _HEXADECIMAL.fullmatch(text) is not None:
        try:
            return Fraction(float.fromhex(text.decode("ascii")))
        except OverflowError:
            return None
    if _INFINITY.fullmatch(text) is not None:
        return -math.inf if text[:1] == b"-" else math.inf
    return None


def round_long_double(exact: Fraction) -> LongDouble:
    """Round an exact rational to the nearest x87 long double (ties to even)."""
    if exact == 0:
        return Fraction(0)
    sign = -1 if exact < 0 else 1
    magnitude = abs(exact)
    exponent = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
    if Fraction(2) ** exponent > magnitude:
        exponent -= 1
    assert Fraction(2) ** exponent <= magnitude < Fraction(2) ** (exponent + 1)
    shift = exponent - (_LONG_DOUBLE_SIGNIFICAND_BITS - 1)
    scaled = magnitude / (Fraction(2) ** shift)
    significand = round(scaled)  # Fraction.__round__ rounds ties to even
    if significand.bit_length() > _LONG_DOUBLE_SIGNIFICAND_BITS:
        significand >>= 1
        shift += 1
    if exponent > _LONG_DOUBLE_MAX_EXPONENT:
        return sign * math.inf
    return sign * Fraction(significand) * Fraction(2) ** shift


def add_long_double(left: LongDouble, right: LongDouble) -> LongDouble | None:
    """left + right in long double; None when the sum is NaN or infinite (Redis refuses)."""
    if isinstance(left, float) or isinstance(right, float):
        return None
    total = round_long_double(left + right)
    if isinstance(total, float):
        return None
    return total


def format_long_double(value: Fraction) -> bytes:
    """Redis ld2string(LD_STR_HUMAN): printf('%.17Lf') without trailing zeros, '-0' as '0'."""
    scaled = round(value * 10**17)  # exact value, ties to even like glibc's printf
    negative = scaled < 0 or (scaled == 0 and value < 0)
    digits = str(abs(scaled)).rjust(18, "0")
    text = digits[:-17] + "." + digits[-17:]
    text = text.rstrip("0").rstrip(".")
    if negative:
        text = "-" + text
    if text == "-0":
        text = "0"
    return text.encode("ascii")
