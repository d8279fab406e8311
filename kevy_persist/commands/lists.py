"""List commands. Native value: `collections.deque[bytes]`, head on the left.

Every list write here is deterministic given the state, so it is logged as given, and only
when it changed something (a pop of nothing, a trim that keeps all, an LREM that found
nothing log nothing).
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from kevy_persist.commands.access import integer_argument, normalize_index_range, read_typed, write_typed
from kevy_persist.commands.context import (
    INDEX_OUT_OF_RANGE,
    NO_SUCH_KEY,
    SYNTAX,
    CommandContext,
    CommandError,
    CommandOutcome,
)
from kevy_persist.commands.numbers import parse_int
from kevy_persist.commands.replies import OK
from kevy_persist.commands.table import command, numkeys_finder
from kevy_persist.data.keyspace import Keyspace

MUST_BE_POSITIVE = "ERR value is out of range, must be positive"


def _push(keyspace: Keyspace, argv: list[bytes], context: CommandContext, left: bool, only_existing: bool) -> CommandOutcome:
    key = argv[1]
    items = write_typed(keyspace, key, context, deque)
    if items is None:
        if only_existing:
            return CommandOutcome(0)
        keyspace.set_value(key, deque(reversed(argv[2:])) if left else deque(argv[2:]))
        return CommandOutcome(len(argv) - 2, (argv,))
    if len(argv) == 3:  # one element, the common case: no slice of argv
        if left:
            items.appendleft(argv[2])
        else:
            items.append(argv[2])
    elif left:
        items.extendleft(argv[2:])
    else:
        items.extend(argv[2:])
    return CommandOutcome(len(items), (argv,))


@command("lpush", -3, "write fast")
def lpush_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _push(keyspace, argv, context, True, False)  # positional: a cheaper call


@command("rpush", -3, "write fast")
def rpush_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _push(keyspace, argv, context, False, False)  # positional: a cheaper call


@command("lpushx", -3, "write fast")
def lpushx_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _push(keyspace, argv, context, True, True)  # positional: a cheaper call


@command("rpushx", -3, "write fast")
def rpushx_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _push(keyspace, argv, context, False, True)  # positional: a cheaper call


def _pop(keyspace: Keyspace, argv: list[bytes], context: CommandContext, left: bool) -> CommandOutcome:
    if len(argv) > 3:
        name = argv[0].decode("latin-1").lower()
        raise CommandError(f"ERR wrong number of arguments for '{name}' command")
    count = None
    if len(argv) == 3:
        count = parse_int(argv[2])
        if count is None or count < 0:
            raise CommandError(MUST_BE_POSITIVE)
    key = argv[1]
    items = write_typed(keyspace, key, context, deque)
    if items is None:
        return CommandOutcome(None)
    pop = items.popleft if left else items.pop
    if count is None:
        reply = pop()
    else:
        reply = [pop() for _ in range(min(count, len(items)))]
        if not reply:
            return CommandOutcome(reply)
    keyspace.delete_if_empty(key, items)
    return CommandOutcome(reply, (argv,))


@command("lpop", -2, "write fast")
def lpop_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _pop(keyspace, argv, context, left=True)


@command("rpop", -2, "write fast")
def rpop_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _pop(keyspace, argv, context, left=False)


@command("llen", 2, "readonly fast")
def llen_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return CommandOutcome(len(read_typed(keyspace, argv[1], context, deque) or ()))


@command("lindex", 3, "readonly")
def lindex_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    items = read_typed(keyspace, argv[1], context, deque)
    if items is None:
        return CommandOutcome(None)
    index = integer_argument(argv[2])
    if index < 0:
        index += len(items)
    if index < 0 or index >= len(items):
        return CommandOutcome(None)
    return CommandOutcome(items[index])


@command("lrange", 4, "readonly")
def lrange_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    start = integer_argument(argv[2])
    stop = integer_argument(argv[3])
    items = read_typed(keyspace, argv[1], context, deque)
    if items is None:
        return CommandOutcome([])
    bounds = normalize_index_range(start, stop, len(items))
    if bounds is None:
        return CommandOutcome([])
    return CommandOutcome(list(islice(items, bounds[0], bounds[1] + 1)))


@command("lset", 4, "write")
def lset_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    items = write_typed(keyspace, argv[1], context, deque)
    if items is None:
        raise CommandError(NO_SUCH_KEY)
    index = integer_argument(argv[2])
    if index < 0:
        index += len(items)
    if index < 0 or index >= len(items):
        raise CommandError(INDEX_OUT_OF_RANGE)
    items[index] = argv[3]
    return CommandOutcome(OK, (argv,))


@command("lrem", 4, "write")
def lrem_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    count = integer_argument(argv[2])
    key, element = argv[1], argv[3]
    items = write_typed(keyspace, key, context, deque)
    if items is None:
        return CommandOutcome(0)
    limit = abs(count) if count else len(items)
    kept: list[bytes] = []
    removed = 0
    source = reversed(items) if count < 0 else iter(items)
    for item in source:
        if removed < limit and item == element:
            removed += 1
        else:
            kept.append(item)
    if not removed:
        return CommandOutcome(0)
    if count < 0:
        kept.reverse()
    items.clear()
    items.extend(kept)
    keyspace.delete_if_empty(key, items)
    return CommandOutcome(removed, (argv,))


@command("ltrim", 4, "write")
def ltrim_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    start = integer_argument(argv[2])
    stop = integer_argument(argv[3])
    key = argv[1]
    items = write_typed(keyspace, key, context, deque)
    if items is None:
        return CommandOutcome(OK)
    length = len(items)
    bounds = normalize_index_range(start, stop, length)
    if bounds is None:
        keyspace.delete(key)
        return CommandOutcome(OK, (argv,))
    first, last = bounds
    if first == 0 and last == length - 1:
        return CommandOutcome(OK)
    for _ in range(length - 1 - last):
        items.pop()
    for _ in range(first):
        items.popleft()
    return CommandOutcome(OK, (argv,))


@command("linsert", 5, "write")
def linsert_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    where = argv[2].upper()
    if where not in (b"BEFORE", b"AFTER"):
        raise CommandError(SYNTAX)
    items = write_typed(keyspace, argv[1], context, deque)
    if items is None:
        return CommandOutcome(0)
    try:
        position = items.index(argv[3])
    except ValueError:
        return CommandOutcome(-1)
    items.insert(position if where == b"BEFORE" else position + 1, argv[4])
    return CommandOutcome(len(items), (argv,))


def _move(keyspace: Keyspace, argv: list[bytes], context: CommandContext, from_left: bool, to_left: bool) -> CommandOutcome:
    source_key, target_key = argv[1], argv[2]
    source = write_typed(keyspace, source_key, context, deque)
    if source is None:
        return CommandOutcome(None)
    target = write_typed(keyspace, target_key, context, deque)
    item = source.popleft() if from_left else source.pop()
    if source_key == target_key:
        target = source
    if target is None:
        keyspace.set_value(target_key, deque([item]), keep_deadline=True)
    elif to_left:
        target.appendleft(item)
    else:
        target.append(item)
    if source_key != target_key:
        keyspace.delete_if_empty(source_key, source)
    return CommandOutcome(item, (argv,))


def _side(text: bytes) -> bool:
    side = text.upper()
    if side == b"LEFT":
        return True
    if side == b"RIGHT":
        return False
    raise CommandError(SYNTAX)


@command("lmove", 5, "write", 1, 2)
def lmove_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    from_left = _side(argv[3])
    to_left = _side(argv[4])
    return _move(keyspace, argv, context, from_left, to_left)


@command("rpoplpush", 3, "write", 1, 2)
def rpoplpush_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _move(keyspace, argv, context, from_left=False, to_left=True)



_RANK_ZERO = (
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
    "or use negative to start from the end of the list"
)


@command("lpos", -3, "readonly")
def lpos_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]."""
    rank, count, maximum_length = 1, None, 0
    index = 3
    while index < len(argv):
        option = argv[index].upper()
        if index + 1 >= len(argv):
            raise CommandError(SYNTAX)
        if option == b"RANK":
            rank = integer_argument(argv[index + 1])
            if rank == 0:
                raise CommandError(_RANK_ZERO)
        elif option == b"COUNT":
            count = parse_int(argv[index + 1])
            if count is None or count < 0:
                raise CommandError("ERR COUNT can't be negative")
        elif option == b"MAXLEN":
            maximum_length = parse_int(argv[index + 1])
            if maximum_length is None or maximum_length < 0:
                raise CommandError("ERR MAXLEN can't be negative")
        else:
            raise CommandError(SYNTAX)
        index += 2
    items = read_typed(keyspace, argv[1], context, deque)
    if items is None:
        return CommandOutcome(None if count is None else [])
    element = argv[2]
    length = len(items)
    if rank > 0:
        walk = enumerate(items)
    else:
        walk = zip(range(length - 1, -1, -1), reversed(items))
    if maximum_length:
        walk = islice(walk, maximum_length)
    skip = abs(rank) - 1
    wanted = 1 if count is None else count
    found: list[int] = []
    for position, item in walk:
        if item != element:
            continue
        if skip:
            skip -= 1
            continue
        found.append(position)
        if wanted and len(found) == wanted:
            break
    if count is None:
        return CommandOutcome(found[0] if found else None)
    return CommandOutcome(found)


@command("lmpop", -4, "write movablekeys", 0, 0, 0, numkeys_finder(1))
def lmpop_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """LMPOP numkeys key... LEFT|RIGHT [COUNT n]: pop from the first non-empty list.

    Logged as `LPOP key n` / `RPOP key n`, the form Redis propagates.
    """
    count = parse_int(argv[1])
    if count is None or count < 1:
        raise CommandError("ERR numkeys should be greater than 0")
    where_index = 2 + count
    if where_index >= len(argv):
        raise CommandError(SYNTAX)
    from_left = _side(argv[where_index])
    pop_count = None
    index = where_index + 1
    while index < len(argv):
        if pop_count is None and argv[index].upper() == b"COUNT" and index + 1 < len(argv):
            pop_count = parse_int(argv[index + 1])
            if pop_count is None or pop_count < 1:
                raise CommandError("ERR count should be greater than 0")
            index += 2
        else:
            raise CommandError(SYNTAX)
    pop_count = pop_count or 1
    for key in argv[2:where_index]:
        items = write_typed(keyspace, key, context, deque)
        if items is None:
            continue
        pop = items.popleft if from_left else items.pop
        popped = [pop() for _ in range(min(pop_count, len(items)))]
        keyspace.delete_if_empty(key, items)
        verb = b"LPOP" if from_left else b"RPOP"
        return CommandOutcome([key, popped], ([verb, key, b"%d" % len(popped)],))
    return CommandOutcome(None)
