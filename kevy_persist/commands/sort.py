"""SORT and SORT_RO: sort a list, set or sorted set, by itself or by other keys (Redis 7.0).

What it models: Redis's sortCommandGeneric. Options: ASC / DESC, ALPHA, LIMIT offset count,
BY pattern, GET pattern (repeatable), STORE target (SORT only). A pattern names other keys
by replacing its first `*` with the element: `w_*` reads the string `w_<element>`,
`h_*->field` a field of the hash `h_<element>`, and GET `#` is the element itself; a missing
key, field or wrong type reads as nothing (nil for GET, weight 0 or "lowest" for BY).
A BY pattern without `*` (`BY nosort`) keeps the native order: list order, sorted-set order
(reversed by DESC); a set is then sorted ALPHA anyway when storing, as Redis does so that
the stored result is deterministic.

Numeric sorting parses each weight like C's strtod (refusing trailing bytes, NaN and
ERANGE with Redis's "One or more scores can't be converted into double") and breaks ties by
the element's bytes. ALPHA compares bytes (Redis uses strcoll, which is byte order in the C
and C.UTF-8 locales, up to a NUL byte; binary compare when storing); equal weights keep
their input order (glibc's qsort is a stable merge sort). One known difference: with BY and
a LIMIT window Redis uses an unstable partial quicksort, so elements whose ALPHA weights are
equal can come in another order than Redis's there.

Logging: SORT ... STORE is logged as its effect (DEL + RPUSH chunks, stored_results.py).
In a sharded store the keys a BY or GET pattern names must provably live on the sorted key's
shard (the store checks `reading_patterns` and refuses CROSSSLOT otherwise).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from kevy_persist.commands.access import integer_argument
from kevy_persist.commands.context import SYNTAX, WRONGTYPE, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.numbers import parse_strtod
from kevy_persist.commands.stored_results import store_list
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import ZSet


def _head(pattern: bytes) -> bytes:
    """The pattern as C string functions see it (up to the first NUL byte)."""
    return pattern.split(b"\0", 1)[0]


def lookup_by_pattern(keyspace: Keyspace, pattern: bytes, element: bytes, context: CommandContext) -> bytes | None:
    """Redis's lookupKeyByPattern: the value a BY / GET pattern names for `element`."""
    head = _head(pattern)
    if head == b"#":
        return element
    star = head.find(b"*")
    if star < 0:
        return None
    arrow = head.find(b"->", star + 1)
    field = None
    key_end = len(pattern)
    if arrow >= 0 and arrow + 2 < len(head):
        field = pattern[arrow + 2 :]
        key_end = arrow
    key = pattern[:star] + element + pattern[star + 1 : key_end]
    value = keyspace.lookup(key, context.lookup_now_ms)
    if field is not None:
        return value.get(field) if type(value) is dict else None
    return value if type(value) is bytes else None


def reading_patterns(argv: list[bytes]) -> list[bytes]:
    """The BY / GET patterns of a SORT argv that read other keys (for shard checks)."""
    patterns = []
    index = 2
    while index < len(argv):
        option = argv[index].upper()
        if option == b"LIMIT":
            index += 2
        elif option in (b"BY", b"GET") and index + 1 < len(argv):
            pattern = argv[index + 1]
            if b"*" in _head(pattern) and _head(pattern) != b"#":
                patterns.append(pattern)
            index += 1
        index += 1
    return patterns


def sort_key_finder(argv: list[bytes]) -> list[int]:
    """Redis's sortGetKeys: the sorted key and the last STORE target."""
    target = None
    index = 2
    while index < len(argv):
        option = argv[index].upper()
        if option == b"LIMIT":
            index += 2
        elif option in (b"GET", b"BY"):
            index += 1
        elif option == b"STORE" and index + 1 < len(argv):
            target = index + 1
        index += 1
    return [1] if target is None else [1, target]


class _Options:
    def __init__(self) -> None:
        self.descending = self.alpha = self.native_order = False
        self.limit_start, self.limit_count = 0, -1
        self.store_key: bytes | None = None
        self.by: bytes | None = None
        self.gets: list[bytes] = []


def _parse(argv: list[bytes], read_only: bool) -> _Options:
    options = _Options()
    index = 2
    while index < len(argv):
        option = argv[index].upper()
        left = len(argv) - index - 1
        if option == b"ASC":
            options.descending = False
        elif option == b"DESC":
            options.descending = True
        elif option == b"ALPHA":
            options.alpha = True
        elif option == b"LIMIT" and left >= 2:
            options.limit_start = integer_argument(argv[index + 1])
            options.limit_count = integer_argument(argv[index + 2])
            index += 2
        elif option == b"STORE" and left >= 1 and not read_only:
            options.store_key = argv[index + 1]
            index += 1
        elif option == b"BY" and left >= 1:
            options.by = argv[index + 1]
            if b"*" not in _head(options.by):
                options.native_order = True  # once set, a later BY does not clear it
            index += 1
        elif option == b"GET" and left >= 1:
            options.gets.append(argv[index + 1])
            index += 1
        else:
            raise CommandError(SYNTAX)
        index += 1
    return options


def _window(length: int, options: _Options) -> tuple[int, int]:
    """Redis's LIMIT clamping: the inclusive [start, end] of the output."""
    start = min(max(options.limit_start, 0), length)
    count = min(max(options.limit_count, -1), length)
    end = length - 1 if count < 0 else start + count - 1
    if start >= length:
        start, end = length - 1, length - 2
    return start, min(end, length - 1)


def _elements(value: Any, options: _Options, start: int, end: int) -> tuple[list[bytes], int, int]:
    """The elements to sort (a native-order list or sorted set loads only the window)."""
    if isinstance(value, (deque, ZSet)) and options.native_order:
        if end < start:
            return [], start, end
        ordered = list(value) if type(value) is deque else [member for member, _ in value.items()]
        if options.descending:
            ordered.reverse()
        return ordered[start : end + 1], 0, end - start
    if type(value) is ZSet:
        return [member for member, _ in value.items()], start, end
    return list(value), start, end


def _sorted(keyspace: Keyspace, elements: list[bytes], options: _Options, context: CommandContext) -> list[bytes]:
    by = options.by
    if options.alpha:
        binary = options.store_key is not None

        def alpha_key(element: bytes) -> tuple:
            weight = lookup_by_pattern(keyspace, by, element, context) if by is not None else element
            if weight is None:
                return (0,)
            return (1, weight if binary else _head(weight))

        return sorted(elements, key=alpha_key, reverse=options.descending)
    scored = []
    for element in elements:
        weight = lookup_by_pattern(keyspace, by, element, context) if by is not None else element
        score = 0.0 if weight is None else parse_strtod(weight)
        if score is None:
            raise CommandError("ERR One or more scores can't be converted into double")
        scored.append((score, element))
    scored.sort(reverse=options.descending)
    return [element for _, element in scored]


def _sort(keyspace: Keyspace, argv: list[bytes], context: CommandContext, read_only: bool) -> CommandOutcome:
    options = _parse(argv, read_only)
    value = keyspace.lookup(argv[1], context.lookup_now_ms)
    if value is not None and type(value) not in (deque, set, ZSet):
        raise CommandError(WRONGTYPE)
    value = value if value is not None else deque()
    if options.native_order and type(value) is set and options.store_key is not None:
        options.native_order, options.alpha, options.by = False, True, None
    start, end = _window(len(value), options)
    elements, start, end = _elements(value, options, start, end)
    if not options.native_order:
        elements = _sorted(keyspace, elements, options, context)
    window = elements[start : end + 1] if end >= start else []
    if not options.gets:
        output: list[Any] = window
    else:
        output = [lookup_by_pattern(keyspace, pattern, element, context) for element in window for pattern in options.gets]
    if options.store_key is None:
        return CommandOutcome(output)
    items = [item if item is not None else b"" for item in output]
    return CommandOutcome(len(items), store_list(keyspace, options.store_key, items, context.lookup_now_ms))


@command("sort", -2, "write movablekeys", 1, 1, 1, sort_key_finder)
def sort_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _sort(keyspace, argv, context, read_only=False)


@command("sort_ro", -2, "readonly movablekeys")
def sort_ro_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _sort(keyspace, argv, context, read_only=True)
