"""Keys as the server's registries hold them: a key of one database.

WATCH, blocked clients and the change observer speak of keys of a database: Redis's
`(db, key)`. Database 0's keys stay plain `bytes` (the common case costs nothing: no tuple
is built and the registries' hot paths are unchanged); a key of database n >= 1 is the
tuple `(n, key)`. The two never collide (a tuple never equals bytes).
"""

from __future__ import annotations

from typing import Any

__all__ = ["database_of", "raw_key", "scoped"]


def scoped(database: int, key: bytes) -> Any:
    return key if database == 0 else (database, key)


def database_of(scoped_key: Any) -> int:
    return scoped_key[0] if scoped_key.__class__ is tuple else 0


def raw_key(scoped_key: Any) -> bytes:
    return scoped_key[1] if scoped_key.__class__ is tuple else scoped_key
