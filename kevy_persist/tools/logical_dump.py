"""The logical content of a keyspace as JSON-ready data (the fixtures' `expected.json` shape).

`{"keys": {hex key: {"type", "value", "has_ttl", "deadline_ms"}}}` with every byte string in
lowercase hex: strings as one hex string, hashes as an object, lists in order, sets sorted,
sorted sets as `[hex member, repr(score)]` pairs in score order, streams as kevy 1.23 reports
them: `{"entries": [[id, [field, value, ...]]], "last_id", "max_deleted_id", "entries_added",
"groups": [{"name", "last_delivered", "consumers": {name: pending count}, "pending": [[id,
consumer, delivery count]]}]}` (IDs as `ms-seq` text, groups by name, rows in ID order).
Two keyspaces hold the same data exactly when their dumps are equal, which is what the
fixture and re-shard tests rely on; times (deliveries, consumers last seen) are left out,
as the fixtures leave them out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kevy_persist.data.stream import Stream
from kevy_persist.formats.records import ValueKind
from kevy_persist.formats.snapshot_stream import StreamPayload
from kevy_persist.formats.stream_ids import format_id_text


def render_value(kind: ValueKind, value: Any) -> Any:
    if kind is ValueKind.STRING:
        return value.hex()
    if kind is ValueKind.HASH:
        return {field.hex(): item.hex() for field, item in sorted(value.items())}
    if kind is ValueKind.LIST:
        return [item.hex() for item in value]
    if kind is ValueKind.SET:
        return sorted(member.hex() for member in value)
    if kind is ValueKind.STREAM:
        return render_stream(Stream.from_payload(value) if isinstance(value, StreamPayload) else value)
    assert kind is ValueKind.ZSET, kind
    # `+ 0.0` folds -0.0 into 0.0: equal scores, and kevy reports both as 0.
    return [[member.hex(), repr(float(score) + 0.0)] for member, score in value.items()]


def render_stream(stream: Stream) -> dict[str, Any]:
    return {
        "entries": [[format_id_text(entry_id), [item.hex() for item in fields]] for entry_id, fields in stream.entry_items()],
        "entries_added": stream.entries_added,
        "groups": [
            {
                "consumers": {consumer.name.hex(): len(consumer.pending) for consumer in group.sorted_consumers()},
                "last_delivered": format_id_text(group.last_delivered),
                "name": group.name.hex(),
                "pending": [
                    [format_id_text(entry_id), row.consumer.hex(), row.delivery_count]
                    for entry_id, row in group.pending.items()
                ],
            }
            for group in stream.sorted_groups()
        ],
        "last_id": format_id_text(stream.last_id),
        "max_deleted_id": format_id_text(stream.max_deleted_id),
    }


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
