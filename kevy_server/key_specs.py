"""Key specs: which arguments of a request are keys, and what the command does to each.

Redis 7.0 describes the keys of every command with *key specs* (`COMMAND INFO`'s 9th
element; `command_data` holds them). A spec has a begin search -- `index` (the key search
starts at a fixed argument) or `keyword` (after the first argument equal to a keyword,
searched from `startfrom`, backwards when negative) -- and a find-keys step -- `range`
(from there to `lastkey`, every `keystep`; a negative `lastkey` counts from the end, and
with `limit` only 1/limit of the rest are keys) or `keynum` (an argument counts the keys
that follow). Its flags say what happens to the key: RO / RW / OW / RM (read only, read and
write, overwrite, remove), access / update / insert / delete, and `incomplete` or
`unknown` begin/find types when the spec cannot find every key from the arguments alone.

`keys_with_flags(data, argv)` follows the specs in order and answers the key positions
with their flags, or raises `InvalidKeys` when a spec cannot be followed (a `keynum` that
is not a number or counts past the end, a range past the end): Redis answers COMMAND
GETKEYS with "Invalid arguments specified for command" then. A spec that is incomplete or
of an unknown type makes the caller fall back on kevy's own key finder (the store's
command table knows SORT's STORE key, for example) with `flags_for_position`.

ACL key permissions use the same result: a key needs read permission when its spec says
`access`, write permission when it says `update`, `insert` or `delete`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IncompleteSpecs", "InvalidKeys", "keys_with_flags"]

_READ_WRITE = ("RW", "access", "update")


def _set_flags(argv: list[bytes]) -> tuple[str, ...]:
    """SET overwrites, unless GET makes it read the old value too."""
    return _READ_WRITE if any(argument.upper() == b"GET" for argument in argv[3:]) else ("OW", "update")


def _bitfield_flags(argv: list[bytes]) -> tuple[str, ...]:
    """BITFIELD only reads unless one of its operations is SET or INCRBY."""
    writes = any(argument.upper() in (b"SET", b"INCRBY") for argument in argv[2:])
    return _READ_WRITE if writes else ("RO", "access")


# Commands whose spec says `variable_flags`: the flags depend on the arguments.
_VARIABLE_FLAGS = {b"set": _set_flags, b"bitfield": _bitfield_flags}


class InvalidKeys(Exception):
    """A spec could not be followed on these arguments."""


class IncompleteSpecs(Exception):
    """The specs cannot find every key from the arguments alone (SORT's BY/STORE...)."""


def _begin(spec: dict[str, Any], argv: list[bytes]) -> int | None:
    """The first argument the key search starts at; None when a keyword is absent."""
    begin = spec["begin_search"]
    kind, details = begin["type"], begin["spec"]
    if kind == "index":
        return details["index"]
    if kind == "keyword":
        keyword = details["keyword"].encode().upper()
        startfrom = details["startfrom"]
        argc = len(argv)
        if startfrom > 0:
            positions = range(startfrom, argc)
        else:
            positions = range(argc + startfrom, 0, -1)
        for position in positions:
            if 1 <= position < argc and argv[position].upper() == keyword:
                return position + 1
        return None
    raise IncompleteSpecs()


def _positions(spec: dict[str, Any], first: int, argv: list[bytes]) -> list[int]:
    find = spec["find_keys"]
    kind, details = find["type"], find["spec"]
    argc = len(argv)
    if kind == "range":
        step = details["keystep"]
        lastkey, limit = details["lastkey"], details["limit"]
        if lastkey >= 0:
            last = first + lastkey
        elif not limit:
            last = argc + lastkey
        else:
            last = first + ((argc - first) // limit + lastkey)
    elif kind == "keynum":
        step = details["keystep"]
        count_index = first + details["keynumidx"]
        if count_index >= argc:
            raise InvalidKeys()
        text = argv[count_index]
        digits = text[1:] if text[:1] == b"-" else text
        if not digits.isdigit() or len(digits) > 19 or text[:1] == b"-":
            raise InvalidKeys()
        first += details["firstkey"]
        last = first + int(text) - 1
    else:
        raise IncompleteSpecs()
    if last < first:
        if kind == "keynum":
            return []  # numkeys 0: no key from this spec
        raise InvalidKeys()
    if last >= argc or first >= argc:
        raise InvalidKeys()
    return list(range(first, last + 1, step))


def keys_with_flags(data: Any, argv: list[bytes]) -> list[tuple[int, tuple[str, ...]]]:
    """(argument position, spec flags) of every key of `argv` under `data`'s key specs."""
    found: list[tuple[int, tuple[str, ...]]] = []
    for spec in data.key_specs:
        flags = tuple(spec["flags"])
        if "not_key" in flags:
            continue
        if "incomplete" in flags:
            raise IncompleteSpecs()
        if "variable_flags" in flags:
            flags = _VARIABLE_FLAGS[argv[0].lower()](argv)
        first = _begin(spec, argv)
        if first is None:
            continue
        found.extend((position, flags) for position in _positions(spec, first, argv))
    return found


def flags_for_position(data: Any, argv: list[bytes], position: int) -> tuple[str, ...]:
    """The flags for a key that kevy's own finder placed at `position`: those of the spec
    that would begin there (an `index` spec at that position), else those of the last spec
    whose begin search is unknown (SORT's STORE), else of the first spec."""
    specs = [spec for spec in data.key_specs if "not_key" not in spec["flags"]]
    for spec in specs:
        begin = spec["begin_search"]
        if begin["type"] == "index" and begin["spec"]["index"] == position:
            return tuple(flag for flag in spec["flags"] if flag != "incomplete")
    unknown = [spec for spec in specs if spec["begin_search"]["type"] == "unknown"]
    chosen = unknown[-1] if unknown else specs[0]
    return tuple(flag for flag in chosen["flags"] if flag != "incomplete")


def needs_read(flags: tuple[str, ...]) -> bool:
    return "access" in flags


def needs_write(flags: tuple[str, ...]) -> bool:
    return "update" in flags or "insert" in flags or "delete" in flags
