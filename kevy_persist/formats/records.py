"""The value kinds shared by the keyspace and the snapshot codec.

The numbers are the KEVYSNAP record opcodes (DESIGN §2), so a kind converts to and from an
opcode without a table. Native representations: string `bytes`, hash `dict[bytes, bytes]`,
list `collections.deque[bytes]`, set `set[bytes]`, zset `kevy_persist.data.zset.ZSet`, stream
`kevy_persist.data.stream.Stream`.
"""

from __future__ import annotations

import enum


class ValueKind(enum.IntEnum):
    STRING = 1
    HASH = 2
    LIST = 3
    SET = 4
    ZSET = 5
    STREAM = 6

    @property
    def type_name(self) -> str:
        """The name Redis's TYPE command replies with."""
        return self.name.lower()
