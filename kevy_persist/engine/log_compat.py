"""Log records in the forms kevy 1.23 replays, for format-1 logs.

A format-1 log must stay readable by kevy 1.23, which replays each record as a command and
ignores the ones it refuses. Two forms we log are Redis 7.0's but refused by kevy 1.23's
parser, which knows `XGROUP CREATE key group id [MKSTREAM]` and `XGROUP SETID key group id`
only: both lose their `ENTRIESREAD n` pair here, so kevy still applies the group's position.
The cost is ours: replaying such a log, the group's read counter is unknown (-1, as after
Redis's own SETID without ENTRIESREAD), so XINFO GROUPS may answer a null lag where a
format-2 log keeps the exact count. Every other record passes unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

_XGROUP = b"XGROUP"


def for_kevy_1_23(argv: Sequence[bytes]) -> Sequence[bytes]:
    """`argv` without what kevy 1.23 would refuse (see the module docstring)."""
    if len(argv) < 7 or argv[0].upper() != _XGROUP:
        return argv
    subcommand = argv[1].upper()
    if subcommand not in (b"CREATE", b"SETID"):
        return argv
    kept = list(argv[:5])
    index = 5
    while index < len(argv):
        if argv[index].upper() == b"ENTRIESREAD" and index + 1 < len(argv):
            index += 2
        else:
            kept.append(argv[index])
            index += 1
    return kept


def records_for_format(format_version: int, argvs: Iterable[Sequence[bytes]]) -> Iterable[Sequence[bytes]]:
    if format_version != 1:
        return argvs
    return _downgraded(argvs)


def _downgraded(argvs: Iterable[Sequence[bytes]]) -> Iterator[Sequence[bytes]]:
    for argv in argvs:
        yield for_kevy_1_23(argv)
