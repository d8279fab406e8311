"""HSCAN, SSCAN, ZSCAN: one call returns the whole (matching) collection with cursor 0.

COUNT is only a hint in Redis, and Redis itself answers small (listpack/intset encoded)
collections in one call; doing so for every size keeps the cursor contract trivially (every
element present for the whole iteration is returned) at the price of large replies for
huge collections. The argument checks follow Redis 7.0: the cursor first, then the key and
its type, then the options.
"""

from __future__ import annotations

from kevy_persist.commands.access import integer_argument, read_typed
from kevy_persist.commands.context import SYNTAX, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.glob import glob_match
from kevy_persist.commands.numbers import parse_int
from kevy_persist.commands.replies import format_double
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import ZSet


def _scan_collection(keyspace: Keyspace, argv: list[bytes], context: CommandContext, kind: type) -> CommandOutcome:
    cursor = parse_int(argv[2])
    if cursor is None or cursor < 0:
        raise CommandError("ERR invalid cursor")
    value = read_typed(keyspace, argv[1], context, kind)
    if value is None:
        return CommandOutcome([b"0", []])
    pattern = None
    index = 3
    while index < len(argv):
        option = argv[index].upper()
        if index + 1 >= len(argv):
            raise CommandError(SYNTAX)
        if option == b"COUNT":
            if integer_argument(argv[index + 1]) < 1:
                raise CommandError(SYNTAX)
        elif option == b"MATCH":
            pattern = argv[index + 1]
        else:
            raise CommandError(SYNTAX)
        index += 2
    items: list = []
    if kind is dict:
        for field, item in value.items():
            if pattern is None or glob_match(pattern, field):
                items += [field, item]
    elif kind is set:
        items = [member for member in value if pattern is None or glob_match(pattern, member)]
    else:
        for member, score in value.items():
            if pattern is None or glob_match(pattern, member):
                items += [member, format_double(score)]  # ZSCAN scores are bulk strings
    return CommandOutcome([b"0", items])


@command("hscan", -3, "readonly")
def hscan_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _scan_collection(keyspace, argv, context, dict)


@command("sscan", -3, "readonly")
def sscan_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _scan_collection(keyspace, argv, context, set)


@command("zscan", -3, "readonly")
def zscan_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _scan_collection(keyspace, argv, context, ZSet)
