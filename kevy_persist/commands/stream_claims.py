"""XCLAIM and XAUTOCLAIM: moving pending entries between consumers.

Redis 7.0's xclaimCommand / xautoclaimCommand, in their order and with their texts, quirks
included: XCLAIM parses IDs until the first argument that is not one, then options; FORCE
creates a row counted as delivered once before the claim counts it again (so FORCE
without JUSTID or RETRYCOUNT leaves a count of 2); a row whose entry was deleted is dropped
instead of claimed (XAUTOCLAIM lists those IDs; both count them against COUNT); IDLE/TIME
outside [0, now] mean now. Delivery counts are kept within the u32 the snapshot format has
(a RETRYCOUNT above 4294967295 is stored as that).

Both depend on the clock, so both are logged as their effect (stream_effects): each claim
as `XCLAIM ... 0 id TIME <delivery ms> RETRYCOUNT <count> FORCE JUSTID`, each dropped row
as XACK, and a group moved by LASTID as XGROUP SETID. While loading a log, a TIME is taken
as written (no clamp to the replay clock), so the replayed delivery time is the logged one.
"""

from __future__ import annotations

from itertools import islice

from kevy_persist.commands import stream_effects
from kevy_persist.commands.access import write_typed
from kevy_persist.commands.context import SYNTAX, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.numbers import parse_int
from kevy_persist.commands.stream_arguments import long_long, parse_strict_id, range_start
from kevy_persist.commands.stream_consumer_groups import no_such_key_or_group
from kevy_persist.commands.streams import entry_reply
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.stream import Stream
from kevy_persist.data.stream_groups import MAXIMUM_DELIVERY_COUNT, Consumer, ConsumerGroup
from kevy_persist.formats.stream_ids import format_id

AUTOCLAIM_ATTEMPTS_PER_COUNT = 10
AUTOCLAIM_MAXIMUM_COUNT = (2**63 - 1) // 16  # LONG_MAX / max(sizeof(streamID), attempts factor)


def _group_or_error(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> tuple[Stream, ConsumerGroup]:
    stream = write_typed(keyspace, argv[1], context, Stream)
    group = None if stream is None else stream.groups.get(argv[2])
    if group is None:
        raise no_such_key_or_group(argv[1], argv[2])
    return stream, group


def _capped(count: int) -> int:
    return min(count, MAXIMUM_DELIVERY_COUNT)


@command("xclaim", -6, "write fast")
def xclaim_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key = argv[1]
    stream, group = _group_or_error(keyspace, argv, context)
    minimum_idle = max(long_long(argv[4], "ERR Invalid min-idle-time argument for XCLAIM"), 0)
    ids: list[int] = []
    index = 5
    while index < len(argv):
        try:
            ids.append(parse_strict_id(argv[index]))
        except CommandError:
            break
        index += 1
    now_ms = context.now_ms
    force = just_id = False
    retry_count = -1
    delivery_ms = -1
    last_id = 0
    while index < len(argv):
        option = argv[index].upper()
        more = index + 1 < len(argv)
        if option == b"FORCE":
            force = True
        elif option == b"JUSTID":
            just_id = True
        elif option == b"IDLE" and more:
            index += 1
            delivery_ms = now_ms - long_long(argv[index], "ERR Invalid IDLE option argument for XCLAIM")
        elif option == b"TIME" and more:
            index += 1
            delivery_ms = long_long(argv[index], "ERR Invalid TIME option argument for XCLAIM")
        elif option == b"RETRYCOUNT" and more:
            index += 1
            retry_count = long_long(argv[index], "ERR Invalid RETRYCOUNT option argument for XCLAIM")
        elif option == b"LASTID" and more:
            index += 1
            last_id = parse_strict_id(argv[index])
        else:
            raise CommandError(f"ERR Unrecognized XCLAIM option '{argv[index].decode('utf-8', 'replace')}'")
        index += 1
    log: list[list[bytes]] = []
    if last_id > group.last_delivered:
        group.last_delivered = last_id
        log.append(stream_effects.group_moved(key, group))
    if delivery_ms < 0 or (delivery_ms > now_ms and not context.loading):
        delivery_ms = now_ms
    consumer: Consumer | None = None
    reply = []
    for entry_id in ids:
        row = group.pending.get(entry_id)
        fields = stream.entries.get(entry_id)
        if fields is None:
            if row is not None:
                group.acknowledge(entry_id)  # the entry is gone: drop its row
                log.append(stream_effects.dropped(key, group.name, [entry_id]))
            continue
        if row is None:
            if not force:
                continue
            count = 1  # a forced row starts as delivered once
        else:
            if minimum_idle and now_ms - row.delivery_time_ms < minimum_idle:
                continue
            count = row.delivery_count
        if consumer is None:
            consumer, _ = group.consumer_for_delivery(argv[3], now_ms)
        if retry_count >= 0:
            count = retry_count
        elif not just_id:
            count += 1
        count = _capped(count)
        group.assign(entry_id, consumer, delivery_ms, count)
        reply.append(format_id(entry_id) if just_id else entry_reply(entry_id, fields))
        log.append(stream_effects.claimed(key, group.name, consumer.name, entry_id, delivery_ms, count))
    return CommandOutcome(reply, tuple(log))


@command("xautoclaim", -6, "write fast")
def xautoclaim_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key = argv[1]
    minimum_idle = max(long_long(argv[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM"), 0)
    start = range_start(argv[5])
    count = 100
    just_id = False
    index = 6
    while index < len(argv):
        option = argv[index].upper()
        if option == b"COUNT" and index + 1 < len(argv):
            parsed = parse_int(argv[index + 1])
            if parsed is None or not 1 <= parsed <= AUTOCLAIM_MAXIMUM_COUNT:
                raise CommandError("ERR COUNT must be > 0")
            count = parsed
            index += 1
        elif option == b"JUSTID":
            just_id = True
        else:
            raise CommandError(SYNTAX)
        index += 1
    stream, group = _group_or_error(keyspace, argv, context)
    attempts = count * AUTOCLAIM_ATTEMPTS_PER_COUNT
    # The PEL changes while it is walked (rows are claimed or dropped), so the walk is over
    # a list of the IDs it can reach: at most one per attempt, plus the next-cursor ID.
    candidates = list(islice(group.pending.irange(minimum=start), attempts + 1))
    now_ms = context.now_ms
    consumer: Consumer | None = None
    claimed: list = []
    deleted: list[int] = []
    log: list[list[bytes]] = []
    position = 0
    while attempts and count and position < len(candidates):
        attempts -= 1
        entry_id = candidates[position]
        position += 1
        fields = stream.entries.get(entry_id)
        if fields is None:
            group.acknowledge(entry_id)
            deleted.append(entry_id)
            count -= 1
            continue
        row = group.pending[entry_id]
        if minimum_idle and now_ms - row.delivery_time_ms < minimum_idle:
            continue
        if consumer is None:
            consumer, _ = group.consumer_for_delivery(argv[3], now_ms)
        delivery_count = row.delivery_count if just_id else _capped(row.delivery_count + 1)
        group.assign(entry_id, consumer, now_ms, delivery_count)
        claimed.append(format_id(entry_id) if just_id else entry_reply(entry_id, fields))
        log.append(stream_effects.claimed(key, group.name, consumer.name, entry_id, now_ms, delivery_count))
        count -= 1
    if deleted:
        log.insert(0, stream_effects.dropped(key, group.name, deleted))
    cursor = format_id(candidates[position]) if position < len(candidates) else b"0-0"
    return CommandOutcome([cursor, claimed, [format_id(entry_id) for entry_id in deleted]], tuple(log))

