"""Which arguments of a command are keys, by the command table's key positions.

The store routes a command to the shard that owns its keys; a transaction backs up the keys
it will touch. Unknown commands and commands without keys name none.
"""

from __future__ import annotations

from kevy_persist.commands.table import lookup_spec


def command_keys(argv: list[bytes]) -> list[bytes]:
    spec = lookup_spec(argv[0]) if argv else None
    if spec is None:
        return []
    # key_indexes also names the keys that a numkeys argument counts (ZUNIONSTORE, LMPOP...).
    return [argv[position] for position in spec.key_indexes(argv)]
