"""The logical content of a keyspace as JSON-ready data (the fixtures' `expected.json` shape).

`{"keys": {hex key: {"type", "value", "has_ttl", "deadline_ms"}}}` with every byte string in
lowercase hex: strings as one hex string, hashes as an object, lists in order, sets sorted,
sorted sets as `[hex member, repr(score)]` pairs in score order. Two keyspaces hold the same
data exactly when their dumps are equal, which is what the fixture and re-shard tests rely on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kevy_persist.formats.records import ValueKind


def render_value(kind: ValueKind, value: Any) -> Any:
    if kind is ValueKind.STRING:
        return value.hex()
    if kind is ValueKind.HASH:
        return {field.hex(): item.hex() for field, item in sorted(value.items())}
    if kind is ValueKind.LIST:
        return [item.hex() for item in value]
    if kind is ValueKind.SET:
        return sorted(member.hex() for member in value)
    assert kind is ValueKind.ZSET, kind
    # `+ 0.0` folds -0.0 into 0.0: equal scores, and kevy reports both as 0.
    return [[member.hex(), repr(float(score) + 0.0)] for member, score in value.items()]


def render_entries(entries: Iterable[tuple[bytes, ValueKind, Any, int | None]]) -> dict[str, Any]:
    """Render `(key, kind, value, deadline_ms)` entries, e.g. `Keyspace.iter_entries()`."""
    keys: dict[str, Any] = {}
    for key, kind, value, deadline_ms in entries:
        kind = ValueKind(kind)
        keys[key.hex()] = {
            "type": kind.type_name,
            "value": render_value(kind, value),
            "has_ttl": deadline_ms is not None,
            "deadline_ms": deadline_ms,
        }
    return {"keys": dict(sorted(keys.items()))}


def logical_content(rendered: dict[str, Any]) -> dict[str, Any]:
    """Drop what the fixtures do not record (exact deadlines) for comparison with them."""
    return {
        key: {name: field for name, field in entry.items() if name != "deadline_ms"}
        for key, entry in rendered["keys"].items()
    }
