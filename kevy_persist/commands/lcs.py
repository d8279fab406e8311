"""LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: the longest common subsequence.

What it models: Redis 7.0's reply, byte for byte. Redis fills the (len1+1) x (len2+1) table
of LCS lengths, then walks back from the bottom-right corner: on equal bytes it takes the
byte and steps diagonally, otherwise it steps up when LCS(i-1, j) > LCS(i, j-1) and left
otherwise; ranges of diagonal steps are reported from the last to the first. Which LCS is
returned (there can be several) depends on that tie rule, so the walk here is Redis's.

How: the table is never built. Each row i is kept as one bit vector over the second string
(Hyyro's bit-parallel LCS: bit k clear means LCS(i, k+1) = LCS(i, k) + 1), computed with a
few big-integer operations per byte of the first string, so LCS(i, j) is j minus the set
bits below j. Time O(len1 * len2 / word), memory len1 * len2 / 8 bytes.

Limits, as Redis's: a table whose 4-byte cells would exceed 512 MB (proto-max-bulk-len) is
refused with Redis's error text, so a request cannot make it allocate more than the bit
rows (at most 16 MB). Missing keys read as empty strings; a non-string is refused first.
"""

from __future__ import annotations

from kevy_persist.commands.access import integer_argument
from kevy_persist.commands.context import SYNTAX, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.replies import FieldValueMap
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace

MAX_TABLE_BYTES = 512 * 1024 * 1024
_ONE_FOR = {value: bytes(0x31 if other == value else 0x30 for other in range(256)) for value in range(256)}


def _match_masks(first: bytes, second: bytes) -> dict[int, int]:
    """For every byte of `first`: the bit set of the positions in `second` holding it."""
    backwards = second[::-1]
    return {value: int(backwards.translate(_ONE_FOR[value]) or b"0", 2) for value in set(first)}


def lcs_rows(first: bytes, second: bytes) -> list[int]:
    """Row i (0..len(first)) as a bit vector over `second`; see `lcs_length`."""
    full = (1 << len(second)) - 1
    masks = _match_masks(first, second)
    row = full
    rows = [row]
    for value in first:
        matched = row & masks[value]
        row = ((row + matched) | (row - matched)) & full
        rows.append(row)
    return rows


def lcs_length(rows: list[int], first_count: int, second_count: int) -> int:
    """LCS(first[:first_count], second[:second_count]) from the bit rows."""
    return second_count - (rows[first_count] & ((1 << second_count) - 1)).bit_count()


def _options(argv: list[bytes]) -> tuple[bool, bool, bool, int]:
    want_length = want_indexes = with_match_length = False
    minimum = 0
    index = 3
    while index < len(argv):
        option = argv[index].upper()
        if option == b"IDX":
            want_indexes = True
        elif option == b"LEN":
            want_length = True
        elif option == b"WITHMATCHLEN":
            with_match_length = True
        elif option == b"MINMATCHLEN" and index + 1 < len(argv):
            minimum = max(integer_argument(argv[index + 1]), 0)
            index += 1
        else:
            raise CommandError(SYNTAX)
        index += 1
    if want_length and want_indexes:
        raise CommandError("ERR If you want both the length and indexes, please just use IDX.")
    return want_length, want_indexes, with_match_length, minimum


@command("lcs", -3, "readonly", 1, 2)
def lcs_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    values = [keyspace.lookup(key, context.lookup_now_ms) for key in argv[1:3]]
    if any(value is not None and type(value) is not bytes for value in values):
        raise CommandError("ERR The specified keys must contain string values")
    first, second = (value or b"" for value in values)
    want_length, want_indexes, with_match_length, minimum = _options(argv)
    if (len(first) + 1) * (len(second) + 1) * 4 > MAX_TABLE_BYTES:
        raise CommandError("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    rows = lcs_rows(first, second)
    total = lcs_length(rows, len(first), len(second))
    if want_length and not want_indexes:
        return CommandOutcome(total)
    common, matches = _walk_back(first, second, rows, total, minimum, with_match_length)
    if not want_indexes:
        return CommandOutcome(common)
    return CommandOutcome(FieldValueMap([b"matches", matches, b"len", total]))


def _walk_back(
    first: bytes, second: bytes, rows: list[int], total: int, minimum: int, with_match_length: bool
) -> tuple[bytes, list[list]]:
    """Redis's walk from (len1, len2): the common bytes and the match ranges, last first."""
    common = bytearray(total)
    matches: list[list] = []
    unset = len(first)  # Redis's marker for "no range open"
    first_start, first_end, second_start, second_end = unset, 0, 0, 0
    i, j, remaining = len(first), len(second), total
    while i > 0 and j > 0:
        emit = False
        if first[i - 1] == second[j - 1]:
            common[remaining - 1] = first[i - 1]
            if first_start == unset:
                first_start = first_end = i - 1
                second_start = second_end = j - 1
            elif first_start == i and second_start == j:
                first_start -= 1
                second_start -= 1
            else:
                emit = True
            if first_start == 0 or second_start == 0:
                emit = True
            remaining -= 1
            i -= 1
            j -= 1
        else:
            if lcs_length(rows, i - 1, j) > lcs_length(rows, i, j - 1):
                i -= 1
            else:
                j -= 1
            emit = first_start != unset
        if emit:
            match_length = first_end - first_start + 1
            if minimum == 0 or match_length >= minimum:
                match = [[first_start, first_end], [second_start, second_end]]
                matches.append(match + [match_length] if with_match_length else match)
            first_start = unset
    return bytes(common), matches
