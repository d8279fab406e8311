"""The registry of server-level verbs: commands that are not in the store's command table.

Each verb is registered with `@verb(name, arity, flags, keys)` by the module that implements
it (connection, server, pub/sub, blocking, transaction verbs) and looked up by the
dispatcher. A handler takes `(server, client, argv)` and returns a reply in the model of
`replies.py` (or `NO_REPLY`). Arity follows Redis (positive exact, negative minimum) and is
checked by the dispatcher before the handler runs.

Flags, as Redis names them:
- `no-auth`: may run before AUTH (AUTH, HELLO, QUIT, RESET);
- `no-multi`: refused inside MULTI ("Command not allowed inside a transaction");
- `pubsub`: allowed in RESP2 subscribed mode (the subscribe family, PING, QUIT, RESET);
- `transaction`: runs at once inside MULTI instead of being queued (EXEC, DISCARD, MULTI,
  WATCH, QUIT, RESET);
- `blocking`, `write`, `readonly`, `admin`, ...: reported by COMMAND INFO.
`keys(argv)` names the key arguments, for routing inside EXEC and for COMMAND GETKEYS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from kevy_persist.commands import ErrorReply

__all__ = ["SUBCOMMANDS", "VERBS", "Verb", "dispatch_subcommand", "subcommands", "unknown_subcommand", "verb"]

Handler = Callable[[Any, Any, list[bytes]], Any]


@attrs.frozen
class Verb:
    name: str
    arity: int
    flags: frozenset[str]
    handler: Handler = attrs.field(eq=False, repr=False)
    keys: Callable[[list[bytes]], list[bytes]] | None = attrs.field(default=None, eq=False, repr=False)
    first_key: int = 0
    last_key: int = 0
    key_step: int = 0

    def key_arguments(self, argv: list[bytes]) -> list[bytes]:
        return self.keys(argv) if self.keys is not None else []


# Upper-case bytes name -> Verb.
VERBS: dict[bytes, Verb] = {}

# Container verb (lower case) -> {subcommand name, upper-case bytes: (arity, handler)}: what
# the container implements (COMMAND INFO and COMMAND LIST show these, ACL rules name them).
SubcommandTable = dict[bytes, tuple[int, Handler]]
SUBCOMMANDS: dict[str, SubcommandTable] = {}


def subcommands(container: str, table: SubcommandTable) -> SubcommandTable:
    """Register `table` as the subcommands of server verb `container`; returns it."""
    SUBCOMMANDS[container.lower()] = table
    return table


def dispatch_subcommand(server: Any, client: Any, argv: list[bytes], table: SubcommandTable) -> Any:
    """Run argv[1] of a container verb: Redis's unknown-subcommand and arity errors first."""
    entry = table.get(argv[1].upper())
    if entry is None:
        return unknown_subcommand(argv)
    arity, run = entry
    error = subcommand_arity(argv, arity)
    return error if error is not None else run(server, client, argv)


def verb(
    name: str,
    arity: int,
    flags: str = "",
    keys: Callable[[list[bytes]], list[bytes]] | None = None,
    key_range: tuple[int, int, int] = (0, 0, 0),
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        key = name.upper().encode()
        assert key not in VERBS, f"{name} registered twice"
        VERBS[key] = Verb(name.lower(), arity, frozenset(flags.split()), handler, keys, *key_range)
        return handler

    return register


def unknown_subcommand(argv: list[bytes]) -> ErrorReply:
    """Redis 7.0's reply to a subcommand it does not know."""
    sub = argv[1].decode("utf-8", "replace")[:128] if len(argv) > 1 else ""
    return ErrorReply(f"ERR unknown subcommand '{sub}'. Try {argv[0].decode('utf-8', 'replace').upper()} HELP.")


def subcommand_arity(argv: list[bytes], arity: int) -> ErrorReply | None:
    """The arity error for `container|sub` (e.g. 'client|setname'), or None when it fits."""
    argc = len(argv)
    if argc == arity or (arity < 0 and argc >= -arity):
        return None
    name = f"{argv[0].decode('utf-8', 'replace')}|{argv[1].decode('utf-8', 'replace')}".lower()
    return ErrorReply(f"ERR wrong number of arguments for '{name}' command")
