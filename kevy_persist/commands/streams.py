"""Stream commands on entries: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XSETID.

Replies and errors are Redis 7.0's (t_stream.c), checked in the same order. What is logged:
- XADD logs the ID it chose (`*` and `<ms>-*` are resolved) and, when it trimmed, the exact
  trim it did as `MAXLEN = <length left>` (trimming always removes a prefix, so the length
  left names it whatever strategy was asked; `~` depends on node boundaries, so it is never
  logged). NOMKSTREAM and LIMIT are dropped: they cannot matter on replay.
- XTRIM logs `XTRIM key MAXLEN = <length left>` when it removed something.
- XDEL and XSETID are deterministic and logged as given when they changed something.
"""

from __future__ import annotations

from kevy_persist.commands.access import NOTHING_LOGGED, read_typed, write_typed
from kevy_persist.commands.context import SYNTAX, CommandContext, CommandError, CommandOutcome, wrong_arity
from kevy_persist.commands.replies import OK
from kevy_persist.commands.stream_arguments import (
    TrimOptions,
    long_long,
    parse_new_entry_id,
    parse_strict_id,
    parse_trim_options,
    range_end,
    range_start,
)
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.stream import Fields, Stream
from kevy_persist.formats.stream_ids import HALF_MASK, MAXIMUM_ID, SEQUENCE_BITS, format_id

# Redis refuses an entry whose fields and values add up to more (STREAM_LISTPACK_MAX_SIZE).
MAXIMUM_ENTRY_BYTES = 1 << 30
SMALLER_THAN_TOP = "ERR The ID specified in XADD is equal or smaller than the target stream top item"
TOO_LARGE = "ERR Elements are too large to be stored"


def entry_reply(entry_id: int, fields: Fields) -> list:
    """One entry as Redis sends it: [id, [field, value, ...]]."""
    return [format_id(entry_id), list(fields)]


def entries_reply(entries: list[tuple[int, Fields]]) -> list:
    return [[format_id(entry_id), list(fields)] for entry_id, fields in entries]


def read_stream(keyspace: Keyspace, key: bytes, context: CommandContext) -> Stream | None:
    return read_typed(keyspace, key, context, Stream)


def write_stream(keyspace: Keyspace, key: bytes, context: CommandContext) -> Stream | None:
    return write_typed(keyspace, key, context, Stream)


def trim_log(key: bytes, stream: Stream) -> list[bytes]:
    """The exact trim that leaves `stream` as it is now."""
    return [b"XTRIM", key, b"MAXLEN", b"=", b"%d" % len(stream)]


def _next_auto_id(last_id: int, now_ms: int) -> int:
    """`*`: the current millisecond with sequence 0, or the successor of the last ID when
    the clock has not passed it (streamNextID)."""
    if now_ms > last_id >> SEQUENCE_BITS:
        return now_ms << SEQUENCE_BITS
    return last_id + 1


@command("xadd", -5, "write denyoom fast")
def xadd_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    options, id_index = parse_trim_options(argv, for_xadd=True, loading=context.loading)
    field_index = id_index + 1
    field_count = len(argv) - field_index
    if field_count < 2 or field_count % 2:
        raise CommandError(wrong_arity(argv[0]))
    auto = argv[id_index] == b"*"
    requested, sequence_given = (0, False) if auto else parse_new_entry_id(argv[id_index])
    if not auto and sequence_given and requested == 0:
        raise CommandError("ERR The ID specified in XADD must be greater than 0-0")
    fields = tuple(argv[field_index:])
    key = argv[1]
    stream = write_stream(keyspace, key, context)
    if stream is None:
        if options.no_make_stream:
            return CommandOutcome(None)
        # Redis creates the key before the append can fail; the only failure left for a
        # new stream is an oversized entry, refused first here so no empty key is left
        # behind that the log would not know of.
        if sum(map(len, fields)) > MAXIMUM_ENTRY_BYTES:
            raise CommandError(TOO_LARGE)
        stream = Stream()
        keyspace.set_value(key, stream)
    if stream.last_id == MAXIMUM_ID:
        raise CommandError("ERR The stream has exhausted the last possible ID, unable to add more items")
    entry_id = _choose_id(stream.last_id, auto, requested, sequence_given, context.now_ms)
    if sum(map(len, fields)) > MAXIMUM_ENTRY_BYTES:
        raise CommandError(TOO_LARGE)
    stream.append(entry_id, fields)
    removed = _trim(stream, options)
    logged = [b"XADD", key]
    if removed:
        logged += [b"MAXLEN", b"=", b"%d" % len(stream)]
    logged.append(format_id(entry_id))
    logged.extend(fields)
    return CommandOutcome(format_id(entry_id), (logged,))


def _choose_id(last_id: int, auto: bool, requested: int, sequence_given: bool, now_ms: int) -> int:
    if auto:
        return _next_auto_id(last_id, now_ms)
    if not sequence_given:
        if last_id >> SEQUENCE_BITS == requested >> SEQUENCE_BITS:
            if last_id & HALF_MASK == HALF_MASK:
                # Redis fails here without setting errno to EDOM, so it answers this text.
                raise CommandError(TOO_LARGE)
            return last_id + 1
    if requested <= last_id:
        raise CommandError(SMALLER_THAN_TOP)
    return requested


def _trim(stream: Stream, options: TrimOptions) -> int:
    if not options.trims:
        return 0
    return stream.trim(options.maximum_length, options.minimum_id, options.approximate, options.limit)


@command("xlen", 2, "readonly fast")
def xlen_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    stream = read_stream(keyspace, argv[1], context)
    return CommandOutcome(0 if stream is None else len(stream))


def _range(keyspace: Keyspace, argv: list[bytes], context: CommandContext, reverse: bool) -> CommandOutcome:
    start = range_start(argv[3] if reverse else argv[2])
    end = range_end(argv[2] if reverse else argv[3])
    count = None
    index = 4
    while index < len(argv):
        if argv[index].upper() == b"COUNT" and index + 1 < len(argv):
            count = max(long_long(argv[index + 1]), 0)
            index += 2
        else:
            raise CommandError(SYNTAX)
    stream = read_stream(keyspace, argv[1], context)
    if stream is None:
        return CommandOutcome([])
    if count == 0:
        return CommandOutcome(None)  # Redis answers a null array for COUNT 0
    return CommandOutcome(entries_reply(stream.range(start, end, count or 0, reverse)))


@command("xrange", -4, "readonly")
def xrange_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _range(keyspace, argv, context, reverse=False)


@command("xrevrange", -4, "readonly")
def xrevrange_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _range(keyspace, argv, context, reverse=True)


@command("xdel", -3, "write fast")
def xdel_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key = argv[1]
    stream = write_stream(keyspace, key, context)
    if stream is None:
        return CommandOutcome(0)  # Redis answers before parsing the IDs
    ids = [parse_strict_id(text) for text in argv[2:]]
    removed = sum(1 for entry_id in ids if stream.delete(entry_id))
    return CommandOutcome(removed, (argv,) if removed else NOTHING_LOGGED)


@command("xtrim", -4, "write")
def xtrim_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    options, _ = parse_trim_options(argv, for_xadd=False, loading=context.loading)
    key = argv[1]
    stream = write_stream(keyspace, key, context)
    if stream is None:
        return CommandOutcome(0)
    removed = _trim(stream, options)
    return CommandOutcome(removed, (trim_log(key, stream),) if removed else NOTHING_LOGGED)


@command("xsetid", -3, "write denyoom fast")
def xsetid_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    last_id = parse_strict_id(argv[2])
    entries_added = None
    max_deleted_id = 0
    index = 3
    while index < len(argv):
        option = argv[index].upper()
        more = index + 1 < len(argv)
        if option == b"ENTRIESADDED" and more:
            entries_added = long_long(argv[index + 1])
            if entries_added < 0:
                raise CommandError("ERR entries_added must be positive")
        elif option == b"MAXDELETEDID" and more:
            max_deleted_id = parse_strict_id(argv[index + 1])
            if last_id < max_deleted_id:
                raise CommandError("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
        else:
            raise CommandError(SYNTAX)
        index += 2
    stream = write_stream(keyspace, argv[1], context)
    if stream is None:
        raise CommandError("ERR no such key")
    if len(stream):
        if last_id < stream.last_entry_id:
            raise CommandError("ERR The ID specified in XSETID is smaller than the target stream top item")
        if entries_added is not None and len(stream) > entries_added:
            raise CommandError("ERR The entries_added specified in XSETID is smaller than the target stream length")
    stream.set_clock(last_id, entries_added, max_deleted_id or None)
    return CommandOutcome(OK, (argv,))
