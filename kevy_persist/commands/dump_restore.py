"""DUMP and RESTORE with Redis's payload: one RDB value + RDB version (u16 LE) + CRC-64.

A payload DUMPed by Redis 7.0 RESTOREs here and ours RESTOREs there, streams included (the
codec is `formats.rdb_format` / `formats.rdb_decode`; payloads of RDB version up to 10 are
read, 10 is written). Replies and errors are Redis 7.0's, in its order: options (REPLACE, ABSTTL,
IDLETIME s, FREQ f -- IDLETIME and FREQ exclude each other), then BUSYKEY, then the TTL, then
the footer ("DUMP payload version or checksum are wrong"), then the value ("Bad data
format"). IDLETIME and FREQ are validated and then have no effect: kevy keeps no LRU/LFU.

Logging. RESTORE is logged as Redis propagates it: `RESTORE key <deadline ms | 0> payload
REPLACE [ABSTTL]` -- a relative TTL becomes the absolute deadline, REPLACE makes the replay
independent of what the key held (the command succeeded, so the key was either absent or
replaced), and IDLETIME / FREQ are dropped. A TTL already in the past stores nothing: the
reply is OK and, when REPLACE removed an existing key, `DEL key` is logged. Replay (loading
mode) keeps a deadline that has passed, as every logged deadline is kept.
"""

from __future__ import annotations

from kevy_persist.commands.access import integer_argument
from kevy_persist.commands.context import SYNTAX, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.numbers import INT64_MAX
from kevy_persist.commands.replies import OK
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace, native_from_snapshot
from kevy_persist.errors import (
    ChecksumMismatchError,
    CorruptionError,
    UnsupportedValueError,
    UnsupportedVersionError,
)
from kevy_persist.formats.rdb_decode import decode_dump_payload, verify_dump_payload
from kevy_persist.formats.rdb_format import encode_dump_payload

BUSYKEY = "BUSYKEY Target key name already exists."
BAD_FOOTER = "ERR DUMP payload version or checksum are wrong"
BAD_DATA = "ERR Bad data format"


@command("dump", 2, "readonly")
def dump_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    entry = keyspace.get_entry(argv[1], context.lookup_now_ms)
    if entry is None:
        return CommandOutcome(None)
    kind, value, _ = entry
    try:
        return CommandOutcome(encode_dump_payload(argv[1], kind, value))
    except UnsupportedValueError as error:
        # Only what no RDB can hold gets here (a stream time past 2^63-1 ms, say).
        raise CommandError(f"ERR DUMP of this {error.type_name} value is not possible: {error.reason}") from None


def _restore_options(argv: list[bytes]) -> tuple[bool, bool]:
    """(REPLACE, ABSTTL) after checking every option as Redis does."""
    replace = absttl = False
    idle_given = frequency_given = False
    index = 4
    while index < len(argv):
        option = argv[index].upper()
        has_argument = index + 1 < len(argv)
        if option == b"REPLACE":
            replace = True
        elif option == b"ABSTTL":
            absttl = True
        elif option == b"IDLETIME" and has_argument and not frequency_given:
            if integer_argument(argv[index + 1]) < 0:
                raise CommandError("ERR Invalid IDLETIME value, must be >= 0")
            idle_given = True
            index += 1
        elif option == b"FREQ" and has_argument and not idle_given:
            if not 0 <= integer_argument(argv[index + 1]) <= 255:
                raise CommandError("ERR Invalid FREQ value, must be >= 0 and <= 255")
            frequency_given = True
            index += 1
        else:
            raise CommandError(SYNTAX)
        index += 1
    return replace, absttl


@command("restore", -4, "write")
def restore_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key, payload = argv[1], argv[3]
    replace, absttl = _restore_options(argv)
    exists = keyspace.lookup(key, context.lookup_now_ms) is not None
    if exists and not replace:
        raise CommandError(BUSYKEY)
    ttl_ms = integer_argument(argv[2])
    if ttl_ms < 0:
        raise CommandError("ERR Invalid TTL value, must be >= 0")
    try:
        verify_dump_payload(payload)
    except (ChecksumMismatchError, UnsupportedVersionError):
        raise CommandError(BAD_FOOTER) from None
    try:
        kind, value = decode_dump_payload(payload)
    except CorruptionError:
        raise CommandError(BAD_DATA) from None
    deadline_ms = ttl_ms if absttl or not ttl_ms else ttl_ms + context.now_ms
    if deadline_ms > INT64_MAX:
        raise CommandError("ERR invalid expire time in 'restore' command")
    deleted = exists and keyspace.delete(key)
    if deadline_ms and deadline_ms <= context.now_ms and not context.loading:
        return CommandOutcome(OK, ([b"DEL", key],) if deleted else ())
    keyspace.set_value(key, native_from_snapshot(kind, value))
    if deadline_ms:
        keyspace.set_deadline(key, deadline_ms)
        logged = [b"RESTORE", key, b"%d" % deadline_ms, payload, b"REPLACE", b"ABSTTL"]
    else:
        logged = [b"RESTORE", key, b"0", payload, b"REPLACE"]
    return CommandOutcome(OK, (logged,))
