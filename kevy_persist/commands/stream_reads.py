"""XREAD and XREADGROUP, and the wait a blocking read hands to an event loop.

Both follow Redis 7.0's xreadCommand: options first (BLOCK, COUNT, GROUP, NOACK, STREAMS),
then per stream its type, its group and its ID (`$`, `>` or an ID), then each stream that
can be served is served; the reply is `KeyedArrays` ([[key, entries], ...] in RESP2, a map
in RESP3), or a null when nothing could be served.

Blocking (`CommandContext.blocking`, see context.Blocking):
- NEVER (MULTI, replay, the embedded store): BLOCK answers the null at once, as Redis does
  for a client that may not block.
- ALLOWED: when nothing can be served and BLOCK was given, the reply is a `StreamWait`, not
  a wire reply: the loop parks the client on `wait.keys` until `wait.timeout_ms` passes
  (0: forever), then sends `wait.timeout_reply` (a null).
- RETRY: whenever a command wrote, deleted or replaced one of those keys, the loop runs
  `wait.retry_argv` again with blocking=RETRY. The result is either a `StreamWait` again
  (stay parked, keep the deadline) or the reply to send. `retry_argv` is the command with
  `$` resolved to the IDs it meant when the client blocked, so later entries are seen as
  new. In RETRY mode the command answers as Redis answers a client it unblocks: a read
  of at most COUNT (1000 when none was given) entries; for XREADGROUP, `-NOGROUP the
  consumer group this client was blocked on no longer exists` when the group is gone and
  `-UNBLOCKED the stream key no longer exists` when the key is gone or no longer a stream;
  for XREAD, a missing or non-stream key just keeps it waiting.

Logging: XREAD logs nothing. XREADGROUP logs its effect (stream_effects): the consumer it
created, each PEL row it created or moved (with the delivery time and count), the delivery
count and time it bumped when re-reading history, and the group's new position. The
consumer's seen time is not logged (as in Redis). Replaying a verbatim XREADGROUP (kevy 1.23
logs them so) creates the consumer even when nothing was new, as kevy 1.23 does.
"""

from __future__ import annotations

import attrs

from kevy_persist.commands import stream_effects
from kevy_persist.commands.access import write_typed
from kevy_persist.commands.context import SYNTAX, WRONGTYPE, Blocking, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.numbers import INT64_MAX
from kevy_persist.commands.replies import KeyedArrays
from kevy_persist.commands.stream_arguments import long_long, parse_strict_id
from kevy_persist.commands.streams import entries_reply, entry_reply
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.stream import Stream
from kevy_persist.data.stream_groups import MAXIMUM_DELIVERY_COUNT, Consumer, ConsumerGroup
from kevy_persist.formats.stream_ids import MAXIMUM_ID, format_id

NEW_ENTRIES = MAXIMUM_ID  # what `>` stands for, as in Redis (an explicit max ID reads as `>`)
BLOCKED_DEFAULT_COUNT = 1000  # XREAD_BLOCKED_DEFAULT_COUNT


@attrs.frozen
class StreamWait:
    """A blocking read that found nothing: what the event loop needs to park the client."""

    keys: tuple[bytes, ...]
    timeout_ms: int  # 0: wait forever
    retry_argv: list[bytes]
    timeout_reply: object = None  # Redis's null array


@attrs.frozen
class ReadRequest:
    block_ms: int | None
    count: int
    group: bytes | None
    consumer: bytes | None
    no_ack: bool
    streams_index: int  # index of the first key
    stream_count: int


def parse_read_request(argv: list[bytes], with_group: bool, now_ms: int) -> ReadRequest:
    block_ms = None
    count = 0
    group = consumer = None
    no_ack = False
    streams_index = 0
    stream_count = 0
    index = 1
    while index < len(argv):
        more = len(argv) - index - 1
        option = argv[index].upper()
        if option == b"BLOCK" and more:
            block_ms = _timeout(argv[index + 1], now_ms)
            index += 1
        elif option == b"COUNT" and more:
            count = max(long_long(argv[index + 1]), 0)
            index += 1
        elif option == b"STREAMS" and more:
            streams_index = index + 1
            remaining = len(argv) - streams_index
            if remaining % 2:
                raise CommandError(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
                )
            stream_count = remaining // 2
            break
        elif option == b"GROUP" and more >= 2:
            if not with_group:
                raise CommandError("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
            group, consumer = argv[index + 1], argv[index + 2]
            index += 2
        elif option == b"NOACK":
            if not with_group:
                raise CommandError("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
            no_ack = True
        else:
            raise CommandError(SYNTAX)
        index += 1
    if streams_index == 0:
        raise CommandError(SYNTAX)
    if with_group and group is None:
        raise CommandError("ERR Missing GROUP option for XREADGROUP")
    return ReadRequest(block_ms, count, group, consumer, no_ack, streams_index, stream_count)


def _timeout(text: bytes, now_ms: int) -> int:
    """getTimeoutFromObjectOrReply in milliseconds: relative, 0 = forever."""
    timeout = long_long(text, "ERR timeout is not an integer or out of range")
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    if timeout > 0 and timeout > INT64_MAX - now_ms:
        raise CommandError("ERR timeout is out of range")
    return timeout


def read_keys(argv: list[bytes]) -> list[int]:
    """The key positions of an XREAD / XREADGROUP argv (the first half after STREAMS),
    found by the same option walk the command does; none when it would refuse itself."""
    index = 1
    while index < len(argv):
        option = argv[index].upper()
        if option == b"STREAMS":
            remaining = len(argv) - index - 1
            if remaining % 2:
                return []
            return list(range(index + 1, index + 1 + remaining // 2))
        index += 3 if option == b"GROUP" else 2 if option in (b"BLOCK", b"COUNT") else 1
    return []


# --------------------------------------------------------------------------- XREAD


@command("xread", -4, "readonly blocking movablekeys", 0, 0, 0, read_keys)
def xread_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    request = parse_read_request(argv, with_group=False, now_ms=context.now_ms)
    retrying = context.blocking is Blocking.RETRY
    keys = argv[request.streams_index : request.streams_index + request.stream_count]
    id_texts = argv[request.streams_index + request.stream_count :]
    after_ids: list[int] = []
    for key, text in zip(keys, id_texts):
        stream = _stream_or_none(keyspace, key, context, tolerate_other_types=retrying)
        if text == b"$":
            after_ids.append(stream.last_id if stream is not None else 0)
        elif text == b">":
            raise CommandError(
                "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."
            )
        else:
            after_ids.append(parse_strict_id(text))
    count = request.count or (BLOCKED_DEFAULT_COUNT if retrying else 0)
    reply = KeyedArrays()
    for key, after in zip(keys, after_ids):
        stream = _stream_or_none(keyspace, key, context, tolerate_other_types=retrying)
        if stream is None or not len(stream) or stream.last_entry_id <= after:
            continue
        reply.append([key, entries_reply(stream.range(after + 1, MAXIMUM_ID, count))])
    if reply:
        return CommandOutcome(reply)
    return CommandOutcome(_nothing_to_serve(argv, request, keys, after_ids, context))


def _stream_or_none(keyspace: Keyspace, key: bytes, context: CommandContext, tolerate_other_types: bool) -> Stream | None:
    value = keyspace.lookup(key, context.lookup_now_ms)
    if value is not None and type(value) is not Stream:
        if tolerate_other_types:
            return None
        raise CommandError(WRONGTYPE)
    return value


def _nothing_to_serve(
    argv: list[bytes], request: ReadRequest, keys: list[bytes], after_ids: list[int] | None, context: CommandContext
) -> object:
    """The null reply, or a `StreamWait` when BLOCK was given and the caller can park."""
    if request.block_ms is None or context.blocking is Blocking.NEVER:
        return None
    retry_argv = list(argv)
    if after_ids is not None:  # XREAD: `$` becomes the ID it meant now
        ids_index = request.streams_index + request.stream_count
        for offset, after in enumerate(after_ids):
            retry_argv[ids_index + offset] = format_id(after)
    return StreamWait(tuple(keys), request.block_ms, retry_argv)


# --------------------------------------------------------------------------- XREADGROUP


@command("xreadgroup", -7, "write blocking movablekeys", 0, 0, 0, read_keys)
def xreadgroup_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    request = parse_read_request(argv, with_group=True, now_ms=context.now_ms)
    retrying = context.blocking is Blocking.RETRY
    assert request.group is not None and request.consumer is not None
    keys = argv[request.streams_index : request.streams_index + request.stream_count]
    id_texts = argv[request.streams_index + request.stream_count :]
    targets: list[tuple[bytes, Stream, ConsumerGroup, int]] = []
    for key, text in zip(keys, id_texts):
        # For writing (copy-on-write aware): serving changes the group.
        if retrying:
            if type(keyspace.lookup(key, context.lookup_now_ms)) is not Stream:
                raise CommandError("UNBLOCKED the stream key no longer exists")
            value = keyspace.lookup_for_write(key, context.lookup_now_ms)
            group = value.groups.get(request.group)
            if group is None:
                raise CommandError("NOGROUP the consumer group this client was blocked on no longer exists")
        else:
            value = write_typed(keyspace, key, context, Stream)
            group = None if value is None else value.groups.get(request.group)
            if group is None:
                raise CommandError(
                    f"NOGROUP No such key '{_text(key)}' or consumer group '{_text(request.group)}' "
                    "in XREADGROUP with GROUP option"
                )
        if text == b"$":
            raise CommandError(
                "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of "
                "this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would "
                "just return an empty result set."
            )
        after = NEW_ENTRIES if text == b">" else parse_strict_id(text)
        targets.append((key, value, group, after))
    count = request.count or (BLOCKED_DEFAULT_COUNT if retrying else 0)
    reply = KeyedArrays()
    log: list[list[bytes]] = []
    for key, stream, group, after in targets:
        history = after != NEW_ENTRIES
        if not history:
            if not len(stream) or stream.last_entry_id <= group.last_delivered:
                if context.loading:
                    # kevy 1.23 logs XREADGROUP as sent and creates the consumer even when
                    # nothing is new (Redis 7.0 does not); its logs replay to its state.
                    group.consumer_for_delivery(request.consumer, context.now_ms)
                continue
            after = group.last_delivered
        consumer, created = group.consumer_for_delivery(request.consumer, context.now_ms)
        if created:
            log.append(stream_effects.consumer_created(key, group.name, consumer.name))
        if history:
            entries = _read_history(key, stream, group, consumer, after, count, context.now_ms, log)
        else:
            entries = _deliver_new(key, stream, group, consumer, after, count, request.no_ack, context.now_ms, log)
        reply.append([key, entries])
    if reply:
        return CommandOutcome(reply, tuple(log))
    assert not log
    return CommandOutcome(_nothing_to_serve(argv, request, keys, None, context))


def _deliver_new(
    key: bytes, stream: Stream, group: ConsumerGroup, consumer: Consumer, after: int, count: int,
    no_ack: bool, now_ms: int, log: list[list[bytes]],
) -> list:
    """Entries after `after` to `consumer`: the group advances; without NOACK each entry
    gets a PEL row held by the consumer, delivered now, once (even if another held it)."""
    entries = stream.range(after + 1, MAXIMUM_ID, count)
    moved = False
    for entry_id, _fields in entries:
        moved |= stream.advance_group(group, entry_id)
        if not no_ack:
            group.assign(entry_id, consumer, now_ms, 1)
            log.append(stream_effects.claimed(key, group.name, consumer.name, entry_id, now_ms, 1))
    if moved:
        log.append(stream_effects.group_moved(key, group))
    return entries_reply(entries)


def _read_history(
    key: bytes, stream: Stream, group: ConsumerGroup, consumer: Consumer, after: int, count: int,
    now_ms: int, log: list[list[bytes]],
) -> list:
    """The consumer's own pending entries after `after`: each one still in the stream is
    delivered again (time now, count + 1); one whose entry was deleted comes back as
    [id, null], untouched."""
    ids = list(consumer.pending.irange(minimum=after + 1))
    if count:
        ids = ids[:count]
    reply = []
    for entry_id in ids:
        fields = stream.entries.get(entry_id)
        if fields is None:
            reply.append([format_id(entry_id), None])
            continue
        row = group.pending[entry_id]
        row.delivery_time_ms = now_ms
        row.delivery_count = min(row.delivery_count + 1, MAXIMUM_DELIVERY_COUNT)
        log.append(stream_effects.claimed(key, group.name, consumer.name, entry_id, now_ms, row.delivery_count))
        reply.append(entry_reply(entry_id, fields))
    return reply


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
