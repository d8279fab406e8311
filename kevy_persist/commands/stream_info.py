"""XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS, XINFO HELP.

Redis 7.0's xinfoCommand: the key is looked up first (`ERR no such key`, WRONGTYPE), then
the subcommand's arguments. Maps are `FieldValueMap` (flat arrays in RESP2, maps in RESP3)
with Redis's field names and order. `radix-tree-keys` / `radix-tree-nodes` come from the
node model in data/stream_nodes.py. Read-only: nothing is logged.
"""

from __future__ import annotations

from kevy_persist.commands.access import read_typed
from kevy_persist.commands.context import CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.replies import FieldValueMap
from kevy_persist.commands.stream_arguments import long_long
from kevy_persist.commands.stream_consumer_groups import no_such_group
from kevy_persist.commands.streams import entries_reply, entry_reply
from kevy_persist.commands.subcommands import Subcommand, container, find_subcommand, help_reply, syntax_error
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.stream import Stream
from kevy_persist.data.stream_groups import INVALID_ENTRIES_READ, ConsumerGroup
from kevy_persist.formats.stream_ids import MAXIMUM_ID, format_id

XINFO_HELP = [
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
]
FULL_DEFAULT_COUNT = 10


def _map(*pairs: object) -> FieldValueMap:
    return FieldValueMap(pairs)


@command("xinfo", -2, "readonly", 2, 2, 1)
def xinfo_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    handler = find_subcommand(argv, "xinfo", _XINFO)
    if handler is None:
        return CommandOutcome(help_reply("xinfo", XINFO_HELP))
    stream = read_typed(keyspace, argv[2], context, Stream)
    if stream is None:
        raise CommandError("ERR no such key")
    return CommandOutcome(handler(argv, stream, context))


def _consumers(argv: list[bytes], stream: Stream, context: CommandContext) -> list:
    group = stream.groups.get(argv[3])
    if group is None:
        raise no_such_group(argv[3], argv[2])
    return [
        _map(b"name", consumer.name, b"pending", len(consumer.pending),
             b"idle", max(context.now_ms - consumer.seen_time_ms, 0))
        for consumer in group.sorted_consumers()
    ]


def _entries_read(group: ConsumerGroup) -> int | None:
    return None if group.entries_read == INVALID_ENTRIES_READ else group.entries_read


def _groups(argv: list[bytes], stream: Stream, context: CommandContext) -> list:
    return [
        _map(b"name", group.name, b"consumers", len(group.consumers), b"pending", len(group.pending),
             b"last-delivered-id", format_id(group.last_delivered),
             b"entries-read", _entries_read(group), b"lag", stream.lag(group))
        for group in stream.sorted_groups()
    ]


def _stream(argv: list[bytes], stream: Stream, context: CommandContext) -> FieldValueMap:
    options = argv[3:]
    full = bool(options)
    count = FULL_DEFAULT_COUNT
    if options:
        if len(options) not in (1, 3) or options[0].lower() != b"full":
            raise syntax_error(argv, "xinfo")
        if len(options) == 3:
            if options[1].lower() != b"count":
                raise syntax_error(argv, "xinfo")
            count = long_long(options[2])
            if count < 0:
                count = FULL_DEFAULT_COUNT
    reply = _map(
        b"length", len(stream),
        b"radix-tree-keys", len(stream.nodes),
        b"radix-tree-nodes", stream.nodes.radix_tree_node_count(),
        b"last-generated-id", format_id(stream.last_id),
        b"max-deleted-entry-id", format_id(stream.max_deleted_id),
        b"entries-added", stream.entries_added,
        b"recorded-first-entry-id", format_id(stream.first_id),
    )
    if not full:
        first = stream.range(0, MAXIMUM_ID, 1)
        last = stream.range(0, MAXIMUM_ID, 1, reverse=True)
        reply += [
            b"groups", len(stream.groups),
            b"first-entry", entry_reply(*first[0]) if first else None,
            b"last-entry", entry_reply(*last[0]) if last else None,
        ]
        return reply
    reply += [b"entries", entries_reply(stream.range(0, MAXIMUM_ID, count)), b"groups", [
        _full_group(group, stream, count) for group in stream.sorted_groups()
    ]]
    return reply


def _full_group(group: ConsumerGroup, stream: Stream, count: int) -> FieldValueMap:
    rows = list(group.pending.items())
    if count:
        rows = rows[:count]
    consumers = []
    for consumer in group.sorted_consumers():
        held = list(consumer.pending)
        if count:
            held = held[:count]
        consumers.append(_map(
            b"name", consumer.name,
            b"seen-time", consumer.seen_time_ms,
            b"pel-count", len(consumer.pending),
            b"pending", [
                [format_id(entry_id), group.pending[entry_id].delivery_time_ms, group.pending[entry_id].delivery_count]
                for entry_id in held
            ],
        ))
    return _map(
        b"name", group.name,
        b"last-delivered-id", format_id(group.last_delivered),
        b"entries-read", _entries_read(group),
        b"lag", stream.lag(group),
        b"pel-count", len(group.pending),
        b"pending", [
            [format_id(entry_id), row.consumer, row.delivery_time_ms, row.delivery_count] for entry_id, row in rows
        ],
        b"consumers", consumers,
    )


_XINFO: dict[bytes, Subcommand] = container("xinfo", {
    b"stream": (-3, _stream),
    b"groups": (3, _groups),
    b"consumers": (4, _consumers),
    b"help": (2, None),
})
