"""HyperLogLog commands: PFADD, PFCOUNT, PFMERGE over Redis's HYLL strings (data/hyperloglog.py).

What they model: Redis 7.0, including the bytes stored, so GET of an HLL key returns what
Redis would hold and PFCOUNT answers what Redis answers. A string that is not an HLL is
refused with Redis's `WRONGTYPE Key is not a valid HyperLogLog string value.`; damaged
sparse opcodes with `INVALIDOBJ Corrupted HLL object detected` (then nothing is stored,
where Redis would keep the registers it had already raised).

Logging: all three are deterministic and logged as given. PFADD and PFMERGE when they
write (PFADD only when a register grew or the key was created). PFCOUNT of one key stores
the cardinality it computed in the header's cache, as Redis does (and propagates): that
PFCOUNT is logged too, so a replayed value has the same bytes. PFCOUNT of several keys
changes nothing. Several keys must live on one shard (the store refuses CROSSSLOT).
"""

from __future__ import annotations

from kevy_persist.commands.access import read_typed
from kevy_persist.commands.context import CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.replies import OK
from kevy_persist.commands.table import command
from kevy_persist.data.hyperloglog import (
    REGISTER_COUNT,
    HyperLogLog,
    InvalidHyperLogLog,
    empty_sparse,
    is_hyperloglog,
    register_maximum,
)
from kevy_persist.data.hyperloglog_estimate import estimate
from kevy_persist.data.keyspace import Keyspace

NOT_HYPERLOGLOG = "WRONGTYPE Key is not a valid HyperLogLog string value."
CORRUPTED = "INVALIDOBJ Corrupted HLL object detected"


def _read(keyspace: Keyspace, key: bytes, context: CommandContext) -> HyperLogLog | None:
    """The HLL at `key` as a private mutable copy, None if missing; refuses other values."""
    value = read_typed(keyspace, key, context, bytes)
    if value is None:
        return None
    if not is_hyperloglog(value):
        raise CommandError(NOT_HYPERLOGLOG)
    return HyperLogLog(bytearray(value))


def _registers(hyperloglog: HyperLogLog) -> bytearray:
    try:
        return hyperloglog.registers()
    except InvalidHyperLogLog:
        raise CommandError(CORRUPTED) from None


@command("pfadd", -2, "write fast")
def pfadd_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key = argv[1]
    hyperloglog = _read(keyspace, key, context)
    updated = 0
    if hyperloglog is None:
        hyperloglog = HyperLogLog(empty_sparse())
        updated = 1
    try:
        for element in argv[2:]:
            updated += hyperloglog.add(element)
    except InvalidHyperLogLog:
        raise CommandError(CORRUPTED) from None
    if not updated:
        return CommandOutcome(0)
    hyperloglog.invalidate_cache()
    keyspace.set_value(key, bytes(hyperloglog.data), keep_deadline=True)
    return CommandOutcome(1, (argv,))


@command("pfcount", -2, "readonly may_replicate", 1, -1)
def pfcount_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    if len(argv) > 2:
        union = bytes(REGISTER_COUNT)
        for key in argv[1:]:
            hyperloglog = _read(keyspace, key, context)
            if hyperloglog is not None:
                union = register_maximum(union, _registers(hyperloglog))
        return CommandOutcome(estimate(union))
    key = argv[1]
    hyperloglog = _read(keyspace, key, context)
    if hyperloglog is None:
        return CommandOutcome(0)
    cached = hyperloglog.cached_cardinality()
    if cached is not None:
        return CommandOutcome(cached)
    cardinality = estimate(_registers(hyperloglog))
    hyperloglog.store_cardinality(cardinality)
    keyspace.set_value(key, bytes(hyperloglog.data), keep_deadline=True)
    return CommandOutcome(cardinality, ([b"PFCOUNT", key],))


@command("pfmerge", -2, "write", 1, -1)
def pfmerge_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """PFMERGE target source...: the target (itself one of the inputs) holds the union."""
    union = bytes(REGISTER_COUNT)
    any_dense = False
    for key in argv[1:]:
        hyperloglog = _read(keyspace, key, context)
        if hyperloglog is not None:
            any_dense = any_dense or hyperloglog.is_dense
            union = register_maximum(union, _registers(hyperloglog))
    target = argv[1]
    hyperloglog = _read(keyspace, target, context) or HyperLogLog(empty_sparse())
    try:
        if any_dense:
            hyperloglog.to_dense()
        hyperloglog.raise_registers_ascending(union)
    except InvalidHyperLogLog:
        raise CommandError(CORRUPTED) from None
    hyperloglog.invalidate_cache()
    keyspace.set_value(target, bytes(hyperloglog.data), keep_deadline=True)
    return CommandOutcome(OK, (argv,))
