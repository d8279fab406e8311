"""The command table: one `CommandSpec` per verb, filled by the per-type modules.

Arity follows Redis (positive = exact argc including the name, negative = at least that
many). Keys follow Redis's (first_key, last_key, key_step) convention, with last_key -1 for
"through the last argument" and 0 for keyless commands. Commands whose keys are counted by a
`numkeys` argument (ZUNIONSTORE, LMPOP, SINTERCARD...) have the flag `movablekeys` and a
`key_finder`; `key_indexes(argv)` answers for every command and is what routing must use. `writes` marks commands that may
change the keyspace; `loggable` marks those whose outcome may carry log argvs. Every verb a
loggable command can put in a log must itself be in this table, so replay can apply it (the
replay-walk test checks both).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

Handler = Callable[[Any, list[bytes], Any], Any]


@attrs.frozen
class CommandSpec:
    name: str
    arity: int
    flags: frozenset[str]
    first_key: int
    last_key: int
    key_step: int
    writes: bool
    loggable: bool
    handler: Handler = attrs.field(eq=False, repr=False)
    key_finder: Callable[[list[bytes]], list[int]] | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def single_key(self) -> bool:
        """The only key is argv[1] whenever there is one (GET, SET, INCR, LPUSH, HSET...): the
        request path checks that argument alone (reserved keys, cluster slots)."""
        return self.key_finder is None and self.first_key == 1 and self.last_key == 1

    def key_positions(self, argc: int) -> list[int]:
        """Indexes of the fixed-position key arguments in an argv of length `argc`."""
        if self.first_key == 0:
            return []
        last = self.last_key if self.last_key > 0 else argc + self.last_key
        return list(range(self.first_key, min(last, argc - 1) + 1, self.key_step))

    def key_indexes(self, argv: list[bytes]) -> list[int]:
        """Indexes of every key argument of `argv`, numkeys-counted ones included."""
        if self.key_finder is not None:
            return self.key_finder(argv)
        return self.key_positions(len(argv))


def numkeys_finder(numkeys_index: int, fixed: tuple[int, ...] = ()) -> Callable[[list[bytes]], list[int]]:
    """Keys = the `fixed` positions plus the `numkeys` keys after argv[numkeys_index].

    A malformed count names only what is certainly a key; the command then refuses itself.
    """

    def find(argv: list[bytes]) -> list[int]:
        positions = [position for position in fixed if position < len(argv)]
        text = argv[numkeys_index] if numkeys_index < len(argv) else b""
        count = int(text) if text.isdigit() and len(text) < 19 else 0
        last = min(numkeys_index + count, len(argv) - 1)
        return positions + list(range(numkeys_index + 1, last + 1))

    return find


# Lower-case bytes name -> spec. Filled at import time by `command` below.
COMMAND_TABLE: dict[bytes, CommandSpec] = {}


def command(
    name: str,
    arity: int,
    flags: str,
    first_key: int = 1,
    last_key: int = 1,
    key_step: int = 1,
    key_finder: Callable[[list[bytes]], list[int]] | None = None,
) -> Callable[[Handler], Handler]:
    """Register a handler. `flags` is space separated; 'write' makes it a logged write, and
    'may_replicate' (Redis's flag for PFCOUNT) a read whose outcome may carry log argvs."""
    flag_set = frozenset(flags.split())
    writes = "write" in flag_set
    loggable = writes or "may_replicate" in flag_set

    def register(handler: Handler) -> Handler:
        key = name.lower().encode()
        assert key not in COMMAND_TABLE, f"{name} registered twice"
        COMMAND_TABLE[key] = CommandSpec(
            name=name.lower(),
            arity=arity,
            flags=flag_set,
            first_key=first_key,
            last_key=last_key,
            key_step=key_step,
            writes=writes,
            loggable=loggable,
            handler=handler,
            key_finder=key_finder,
        )
        return handler

    return register


def lookup_spec(name: bytes) -> CommandSpec | None:
    spec = COMMAND_TABLE.get(name)
    if spec is None:
        spec = COMMAND_TABLE.get(name.lower())
    return spec
