"""Parsing stream command arguments exactly as Redis 7.0 does, with its error texts.

IDs (streamGenericParseIDOrReply): at most 127 bytes, read as a C string (a NUL ends it);
`-` and `+` are the smallest and largest IDs unless the parse is strict; otherwise
`<ms>[-<seq>]` where each half is what Redis's string2ull accepts: a plain int64 that is
not negative, or else anything strtoull(…, 10) consumes whole -- leading white space, a
`+` or `-` sign (a negative value wraps modulo 2^64, as C's strtoull does), digits, and no
more than 2^64-1. A missing sequence is `missing_seq` (0 for starts, 2^64-1 for ends), and
XADD alone accepts `<ms>-*` (sequence chosen by the stream).

Trim options (streamParseAddOrTrimArgsOrReply) are parsed here too, in Redis's order, so
that the first error Redis would report is the one reported.
"""

from __future__ import annotations

import re

import attrs

from kevy_persist.commands.context import NOT_INTEGER, SYNTAX, CommandError
from kevy_persist.commands.numbers import parse_int
from kevy_persist.formats.stream_ids import HALF_MASK, MAXIMUM_ID, SEQUENCE_BITS

INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
MAXIMUM_ID_TEXT_BYTES = 127
_STRTOULL = re.compile(rb"[ \t\n\v\f\r]*([+-]?)([0-9]+)")


def _unsigned_64(text: bytes) -> int | None:
    """Redis's string2ull: the u64 `text` spells, or None."""
    value = parse_int(text)
    if value is not None:
        return None if value < 0 else value
    match = _STRTOULL.fullmatch(text)
    if match is None:
        return None
    magnitude = int(match.group(2))
    if magnitude > HALF_MASK:
        return None  # ERANGE
    if match.group(1) == b"-":
        return (-magnitude) & HALF_MASK
    return magnitude


def parse_id(text: bytes, missing_seq: int = 0, *, strict: bool = False) -> int:
    """A stream ID; `-`/`+` allowed unless `strict`. Raises the Redis error otherwise."""
    parsed = _parse(text, missing_seq, strict, allow_auto_sequence=False)
    assert parsed[1]
    return parsed[0]


def parse_strict_id(text: bytes, missing_seq: int = 0) -> int:
    return parse_id(text, missing_seq, strict=True)


def parse_new_entry_id(text: bytes) -> tuple[int, bool]:
    """XADD's explicit ID: `(id, sequence_given)`; with `<ms>-*` the sequence is 0 and not given."""
    return _parse(text, 0, True, allow_auto_sequence=True)


def _parse(text: bytes, missing_seq: int, strict: bool, allow_auto_sequence: bool) -> tuple[int, bool]:
    if len(text) > MAXIMUM_ID_TEXT_BYTES:
        raise CommandError(INVALID_ID)
    text = text.split(b"\0", 1)[0]
    if text == b"-" or text == b"+":
        if strict:
            raise CommandError(INVALID_ID)
        return (0 if text == b"-" else MAXIMUM_ID), True
    ms_text, dash, seq_text = text.partition(b"-")
    ms = _unsigned_64(ms_text)
    if ms is None:
        raise CommandError(INVALID_ID)
    if not dash:
        return (ms << SEQUENCE_BITS) | missing_seq, True
    if allow_auto_sequence and seq_text == b"*":
        return ms << SEQUENCE_BITS, False
    seq = _unsigned_64(seq_text)
    if seq is None:
        raise CommandError(INVALID_ID)
    return (ms << SEQUENCE_BITS) | seq, True


def parse_interval_bound(text: bytes, missing_seq: int) -> tuple[int, bool]:
    """A range bound: `(id, exclusive)`; a `(` prefix (on more than one byte) is exclusive
    and then the rest is parsed strictly, as streamParseIntervalIDOrReply does."""
    if len(text) > 1 and text[:1] == b"(":
        return parse_strict_id(text[1:], missing_seq), True
    return parse_id(text, missing_seq), False


def range_start(text: bytes) -> int:
    """An inclusive start: an exclusive `(id` becomes its successor."""
    start, exclusive = parse_interval_bound(text, 0)
    if exclusive:
        if start == MAXIMUM_ID:
            raise CommandError("ERR invalid start ID for the interval")
        start += 1
    return start


def range_end(text: bytes) -> int:
    """An inclusive end: an exclusive `(id` becomes its predecessor."""
    end, exclusive = parse_interval_bound(text, HALF_MASK)
    if exclusive:
        if end == 0:
            raise CommandError("ERR invalid end ID for the interval")
        end -= 1
    return end


def long_long(text: bytes, message: str = NOT_INTEGER) -> int:
    value = parse_int(text)
    if value is None:
        raise CommandError(message)
    return value


# --------------------------------------------------------------------------- trimming

APPROXIMATE_DEFAULT_LIMIT = 100 * 100  # 100 * stream-node-max-entries


@attrs.frozen
class TrimOptions:
    """What XADD / XTRIM asked for. `maximum_length` xor `minimum_id` is set when trimming."""

    maximum_length: int | None = None
    minimum_id: int | None = None
    approximate: bool = False
    limit: int = 0
    no_make_stream: bool = False

    @property
    def trims(self) -> bool:
        return self.maximum_length is not None or self.minimum_id is not None


def parse_trim_options(argv: list[bytes], for_xadd: bool, loading: bool = False) -> tuple[TrimOptions, int]:
    """Options from argv[2]: the options and, for XADD, the index of the ID argument.

    While loading a log, trimming is exact, as Redis does for its AOF: we log approximate
    trims as the exact trim they did, and kevy 1.23 (which logs commands as sent) always
    trimmed exactly, so `~` in its logs meant an exact trim. LIMIT can only come from a
    kevy 1.23 log there; kevy refused it in XADD (so it is refused again) and ignored it in
    XTRIM (so it is ignored).
    """
    maximum_length = minimum_id = None
    approximate = False
    limit = 0
    limit_given = False
    no_make_stream = False
    index = 2
    argc = len(argv)
    while index < argc:
        more = argc - 1 - index
        option = argv[index].upper()
        if for_xadd and argv[index] == b"*":
            break
        if option in (b"MAXLEN", b"MINID") and more:
            if maximum_length is not None or minimum_id is not None:
                raise CommandError("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
            approximate = False
            following = argv[index + 1]
            if more >= 2 and following in (b"~", b"="):
                approximate = following == b"~"
                index += 1
            if option == b"MAXLEN":
                maximum_length = long_long(argv[index + 1])
                if maximum_length < 0:
                    raise CommandError("ERR The MAXLEN argument must be >= 0.")
            else:
                minimum_id = parse_strict_id(argv[index + 1])
            index += 2
        elif option == b"LIMIT" and more:
            limit = long_long(argv[index + 1])
            if limit < 0:
                raise CommandError("ERR The LIMIT argument must be >= 0.")
            limit_given = True
            index += 2
        elif for_xadd and option == b"NOMKSTREAM":
            no_make_stream = True
            index += 1
        elif for_xadd:
            parse_new_entry_id(argv[index])  # a bad ID here is Redis's error
            break
        else:
            raise CommandError(SYNTAX)
    trims = maximum_length is not None or minimum_id is not None
    if limit and not trims:
        raise CommandError("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
    if not for_xadd and not trims:
        raise CommandError("ERR syntax error, XTRIM must be called with a trimming strategy")
    if loading:
        if for_xadd and limit_given:
            raise CommandError(SYNTAX)
        approximate, limit = False, 0
    elif limit_given:
        if not approximate:
            raise CommandError("ERR syntax error, LIMIT cannot be used without the special ~ option")
    elif approximate:
        limit = APPROXIMATE_DEFAULT_LIMIT
    options = TrimOptions(maximum_length, minimum_id, approximate, limit, no_make_stream)
    return options, index
