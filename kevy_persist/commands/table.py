"""The command table: one `CommandSpec` per verb, filled by the per-type modules.

Arity follows Redis (positive = exact argc including the name, negative = at least that
many). Keys follow Redis's (first_key, last_key, key_step) convention, with last_key -1 for
"through the last argument" and 0 for keyless commands. `writes` marks commands that may
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

    def key_positions(self, argc: int) -> list[int]:
        """Indexes of the key arguments in an argv of length `argc`."""
        if self.first_key == 0:
            return []
        last = self.last_key if self.last_key > 0 else argc + self.last_key
        return list(range(self.first_key, min(last, argc - 1) + 1, self.key_step))


# Lower-case bytes name -> spec. Filled at import time by `command` below.
COMMAND_TABLE: dict[bytes, CommandSpec] = {}


def command(
    name: str,
    arity: int,
    flags: str,
    first_key: int = 1,
    last_key: int = 1,
    key_step: int = 1,
) -> Callable[[Handler], Handler]:
    """Register a handler. `flags` is space separated; 'write' makes it a logged write."""
    flag_set = frozenset(flags.split())
    writes = "write" in flag_set

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
            loggable=writes,
            handler=handler,
        )
        return handler

    return register


def lookup_spec(name: bytes) -> CommandSpec | None:
    spec = COMMAND_TABLE.get(name)
    if spec is None:
        spec = COMMAND_TABLE.get(name.lower())
    return spec
