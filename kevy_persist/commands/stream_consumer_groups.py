"""XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER, HELP), XACK and XPENDING.

Checked in Redis 7.0's order (xgroupCommand, xackCommand, xpendingCommand), with its texts.
Every write here is deterministic given the state (`$` names the stream's last ID, which
replay reproduces), so each is logged as given when it changed something.
"""

from __future__ import annotations

from kevy_persist.commands.access import NOTHING_LOGGED, read_typed, write_typed
from kevy_persist.commands.context import SYNTAX, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.replies import OK
from kevy_persist.commands.stream_arguments import long_long, parse_id, parse_strict_id, range_end, range_start
from kevy_persist.commands.subcommands import Subcommand, container, find_subcommand, help_reply, syntax_error
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.stream import Stream
from kevy_persist.data.stream_groups import INVALID_ENTRIES_READ, ConsumerGroup
from kevy_persist.formats.stream_ids import format_id

NEEDS_KEY = (
    "ERR The XGROUP subcommand requires the key to exist. "
    "Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."
)
XGROUP_HELP = [
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
]


def text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def no_such_group(group: bytes, key: bytes) -> CommandError:
    return CommandError(f"NOGROUP No such consumer group '{text(group)}' for key name '{text(key)}'")


def no_such_key_or_group(key: bytes, group: bytes) -> CommandError:
    return CommandError(f"NOGROUP No such key '{text(key)}' or consumer group '{text(group)}'")


@command("xgroup", -2, "write", 2, 2, 1)
def xgroup_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    handler = find_subcommand(argv, "xgroup", _XGROUP)
    if handler is None:
        return CommandOutcome(help_reply("xgroup", XGROUP_HELP))
    subcommand = argv[1].upper()
    make_stream = False
    entries_read = INVALID_ENTRIES_READ
    index = 5
    while index < len(argv):
        option = argv[index].upper()
        if subcommand == b"CREATE" and option == b"MKSTREAM":
            make_stream = True
            index += 1
        elif subcommand in (b"CREATE", b"SETID") and option == b"ENTRIESREAD" and index + 1 < len(argv):
            entries_read = long_long(argv[index + 1])
            if entries_read < 0 and entries_read != INVALID_ENTRIES_READ:
                raise CommandError("ERR value for ENTRIESREAD must be positive or -1")
            index += 2
        else:
            raise syntax_error(argv, "xgroup")
    key, group_name = argv[2], argv[3]
    stream = write_typed(keyspace, key, context, Stream)
    group = None
    if not make_stream:
        if stream is None:
            raise CommandError(NEEDS_KEY)
        group = stream.groups.get(group_name)
        if group is None and subcommand in (b"SETID", b"CREATECONSUMER", b"DELCONSUMER"):
            raise no_such_group(group_name, key)
    return handler(keyspace, argv, context, stream, group, entries_read)


def _create(keyspace, argv, context, stream, group, entries_read) -> CommandOutcome:
    if len(argv) > 8:
        raise syntax_error(argv, "xgroup")
    key, group_name = argv[2], argv[3]
    if argv[4] == b"$":
        last_delivered = stream.last_id if stream is not None else 0
    else:
        last_delivered = parse_strict_id(argv[4])
    if stream is None:
        stream = Stream()
        keyspace.set_value(key, stream)
    if group_name in stream.groups:
        raise CommandError("BUSYGROUP Consumer Group name already exists")
    stream.groups[group_name] = ConsumerGroup(group_name, last_delivered, entries_read)
    return CommandOutcome(OK, (argv,))


def _set_id(keyspace, argv, context, stream, group, entries_read) -> CommandOutcome:
    if len(argv) not in (5, 7):
        raise syntax_error(argv, "xgroup")
    group.last_delivered = stream.last_id if argv[4] == b"$" else parse_id(argv[4])
    group.entries_read = entries_read
    return CommandOutcome(OK, (argv,))


def _destroy(keyspace, argv, context, stream, group, entries_read) -> CommandOutcome:
    if group is None:
        return CommandOutcome(0)
    del stream.groups[group.name]
    return CommandOutcome(1, (argv,))


def _create_consumer(keyspace, argv, context, stream, group, entries_read) -> CommandOutcome:
    created = group.create_consumer(argv[4], context.now_ms)
    return CommandOutcome(1, (argv,)) if created is not None else CommandOutcome(0)


def _delete_consumer(keyspace, argv, context, stream, group, entries_read) -> CommandOutcome:
    pending = group.delete_consumer(argv[4])
    return CommandOutcome(0) if pending is None else CommandOutcome(pending, (argv,))


_XGROUP: dict[bytes, Subcommand] = container("xgroup", {
    b"create": (-5, _create),
    b"setid": (-5, _set_id),
    b"destroy": (4, _destroy),
    b"createconsumer": (5, _create_consumer),
    b"delconsumer": (5, _delete_consumer),
    b"help": (2, None),
})


@command("xack", -4, "write fast")
def xack_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    stream = write_typed(keyspace, argv[1], context, Stream)
    group = None if stream is None else stream.groups.get(argv[2])
    if group is None:
        return CommandOutcome(0)  # Redis answers before parsing the IDs
    ids = [parse_strict_id(entry) for entry in argv[3:]]
    acknowledged = sum(1 for entry_id in ids if group.acknowledge(entry_id))
    return CommandOutcome(acknowledged, (argv,) if acknowledged else NOTHING_LOGGED)


@command("xpending", -3, "readonly")
def xpending_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    argc = len(argv)
    if argc != 3 and (argc < 6 or argc > 9):
        raise CommandError(SYNTAX)
    consumer_name = None
    minimum_idle = 0
    if argc >= 6:
        start_index = 3
        if argv[3].upper() == b"IDLE":
            minimum_idle = long_long(argv[4])
            if argc < 8:
                raise CommandError(SYNTAX)
            start_index = 5
        count = max(long_long(argv[start_index + 2]), 0)
        start = range_start(argv[start_index])
        end = range_end(argv[start_index + 1])
        if start_index + 3 < argc:
            consumer_name = argv[start_index + 3]
    stream = read_typed(keyspace, argv[1], context, Stream)
    group = None if stream is None else stream.groups.get(argv[2])
    if group is None:
        raise no_such_key_or_group(argv[1], argv[2])
    if argc == 3:
        return CommandOutcome(_summary(group))
    if consumer_name is not None:
        consumer = group.consumers.get(consumer_name)
        if consumer is None:
            return CommandOutcome([])
        ids = consumer.pending.irange(start, end)
    else:
        ids = group.pending.irange(start, end)
    reply = []
    now_ms = context.now_ms
    for entry_id in ids:
        if not count:
            break
        row = group.pending[entry_id]
        idle_ms = now_ms - row.delivery_time_ms
        if minimum_idle and idle_ms < minimum_idle:
            continue
        count -= 1
        reply.append([format_id(entry_id), row.consumer, max(idle_ms, 0), row.delivery_count])
    return CommandOutcome(reply)


def _summary(group: ConsumerGroup) -> list:
    if not group.pending:
        return [0, None, None, None]
    holders = [
        [consumer.name, b"%d" % len(consumer.pending)] for consumer in group.sorted_consumers() if consumer.pending
    ]
    first, last = group.pending.peekitem(0)[0], group.pending.peekitem(-1)[0]
    return [len(group.pending), format_id(first), format_id(last), holders]
