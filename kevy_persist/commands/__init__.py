"""Command semantics: `execute` runs one command, `replay` applies one logged argv.

`execute(keyspace, argv, context) -> CommandOutcome(reply, log)`: the reply in the model of
`replies.py` and the argvs to append to the log so that replaying them into the pre-state
gives exactly the post-state. Besides each command's own log entries, a `DEL key` is logged
first for every key that expiry reaped since the last command (lazily or by
`Keyspace.active_expire_step`), the way Redis propagates expiry: replay runs with expiry off,
so without those DELs a later write could land on a stale value.

`replay(keyspace, argv, now_ms)` runs a logged argv with expiry off and a non-random choice
source (Redis's loading mode). It accepts every verb in `COMMAND_TABLE`, which covers every
verb `execute` logs and every verb kevy 1.23 writes to its logs.
"""

from __future__ import annotations

from collections.abc import Callable

from kevy_persist.commands import (
    bitfield,
    bits,
    collection_scan,
    dump_restore,
    geo,
    geo_search,
    hashes,
    hyperloglog,
    keys,
    lcs,
    lists,
    random_members,
    scan,
    sets,
    sort,
    stream_claims,
    stream_consumer_groups,
    stream_info,
    stream_reads,
    streams,
    strings,
    zset_combine,
    zset_ranges,
    zsets,
)
from kevy_persist.commands.context import (
    CommandContext,
    CommandError,
    CommandOutcome,
    FirstChoice,
    RandomSource,
    wrong_arity,
)
from kevy_persist.commands.replies import OK, Double, ErrorReply, SimpleString
from kevy_persist.commands.table import COMMAND_TABLE, CommandSpec, lookup_spec
from kevy_persist.data.keyspace import Keyspace

__all__ = [
    "COMMAND_TABLE",
    "CommandContext",
    "CommandOutcome",
    "CommandSpec",
    "Double",
    "ErrorReply",
    "RandomSource",
    "SimpleString",
    "execute",
    "replay",
    "replayer_for",
]

_MODULES = (
    bitfield, bits, collection_scan, dump_restore, geo, geo_search, hashes, hyperloglog, keys, lcs, lists,
    random_members, scan, sets, sort, strings, zset_combine, zset_ranges, zsets,
    streams, stream_reads, stream_consumer_groups, stream_claims, stream_info,
)
_DEL = b"DEL"

# The hot-path dispatch: name as sent (lower and upper case) -> (handler, arity). Other
# casings fall back to `lookup_spec`.
_DISPATCH: dict[bytes, tuple] = {}
for _name, _spec in COMMAND_TABLE.items():
    _DISPATCH[_name] = _DISPATCH[_name.upper()] = (_spec.handler, _spec.arity)


def unknown_command_message(argv: list[bytes]) -> str:
    name = argv[0].decode("utf-8", "replace")
    arguments = "".join(f"'{argument.decode('utf-8', 'replace')[:128]}' " for argument in argv[1:])
    return f"ERR unknown command '{name[:128]}', with args beginning with: {arguments}"


def execute(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """Run one command; never raises for bad input (errors are replies)."""
    if not argv:
        return CommandOutcome(ErrorReply("ERR unknown command ''"))
    entry = _DISPATCH.get(argv[0])
    if entry is None:
        spec = lookup_spec(argv[0])
        entry = None if spec is None else (spec.handler, spec.arity)
    if entry is None:
        outcome = CommandOutcome(ErrorReply(unknown_command_message(argv)))
    else:
        handler, arity = entry
        argc = len(argv)
        if argc != arity and (arity > 0 or argc < -arity):
            outcome = CommandOutcome(ErrorReply(wrong_arity(argv[0])))
        else:
            try:
                outcome = handler(keyspace, argv, context)
            except CommandError as error:
                outcome = CommandOutcome(ErrorReply(error.message))
    expired = keyspace.take_expired_keys()
    if expired:
        outcome.log = tuple([_DEL, key] for key in expired) + outcome.log
    return outcome


_REPLAY_RANDOM = FirstChoice()


def replay(keyspace: Keyspace, argv: list[bytes], now_ms: int) -> object:
    """Apply one logged argv with expiry off; returns the reply (an ErrorReply if refused)."""
    context = CommandContext(now_ms, _REPLAY_RANDOM, loading=True)
    outcome = execute(keyspace, argv, context)
    return outcome.reply


def replayer_for(keyspace: Keyspace, now_ms: int) -> Callable[[list[bytes]], object]:
    """`replay` into `keyspace` at `now_ms` for a whole log: one loading context for every
    record (a context holds no per-command state), so replay builds no object per record."""
    context = CommandContext(now_ms, _REPLAY_RANDOM, loading=True)
    set_value = keyspace.set_value

    def replay_one(argv: list[bytes]) -> object:
        if len(argv) == 3 and argv[0] in _PLAIN_SET_NAMES:
            # The most logged record, applied as `set_command` does with three arguments
            # (any old value and TTL replaced); while loading nothing expires, so there is
            # no reaped key for `execute` to collect either.
            set_value(argv[1], argv[2])
            return OK
        return execute(keyspace, argv, context).reply

    return replay_one


_PLAIN_SET_NAMES = frozenset({b"SET", b"set"})
