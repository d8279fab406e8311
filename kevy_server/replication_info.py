"""INFO replication: Redis 7.0's fields, in its order, for a master and for a replica.

A master lists `connected_slaves` (then `min_slaves_good_slaves` while min-replicas-to-write
is on, as Redis) and one `slaveN:ip=..,port=..,state=..,offset=..,lag=..`
line per replica (state `wait_bgsave` / `send_bulk` / `online`, offset the last ACK, lag the
seconds since it); a replica adds `master_host`, `master_port`, `master_link_status`,
`master_last_io_seconds_ago`, `master_sync_in_progress`, its offsets and, while the link is
down, `master_link_down_since_seconds`. Both end with the history: ids, offsets, backlog.
"""

from __future__ import annotations

from typing import Any

__all__ = ["replication_fields"]


def replication_fields(server: Any) -> list[tuple[str, Any]]:
    """INFO replication, in Redis 7.0's order."""
    master, upstream = server.master, server.upstream
    now_ms = server.loop.now_ms
    fields: list[tuple[str, Any]] = []
    if upstream.active:
        fields += [
            ("role", "slave"),
            ("master_host", upstream.host),
            ("master_port", upstream.port),
            ("master_link_status", "up" if upstream.link_up else "down"),
            ("master_last_io_seconds_ago", (now_ms - upstream.last_io_ms) // 1000 if upstream.link_up else -1),
            ("master_sync_in_progress", int(upstream.sync_in_progress)),
            ("slave_read_repl_offset", upstream.offset),
            ("slave_repl_offset", upstream.offset),
        ]
        if upstream.down_since_ms is not None:
            fields.append(("master_link_down_since_seconds", (now_ms - upstream.down_since_ms) // 1000))
        fields += [("slave_priority", 100), ("slave_read_only", 1), ("replica_announced", 1)]
    else:
        fields.append(("role", "master"))
    online = list(master.links.values())
    fields.append(("connected_slaves", len(online)))
    if master.quorum.enabled:
        fields.append(("min_slaves_good_slaves", master.quorum.good))
    for number, link in enumerate(online):
        lag = (now_ms - link.ack_monotonic_ms) // 1000 if link.ack_monotonic_ms else 0
        state = "online" if link.state == "online_on_ack" else link.state  # Redis shows it online
        line = f"ip={link.host},port={link.listening_port},state={state},offset={link.ack_offset},lag={lag}"
        fields.append((f"slave{number}", line))
    replid = master.replid
    offset = master.offset
    if upstream.active:
        replid = upstream.master_replid or master.replid
        offset = max(upstream.offset, 0)
    backlog = master.backlog
    fields += [
        ("master_failover_state", "no-failover"),
        ("master_replid", replid),
        ("master_replid2", master.replid2),
        ("master_repl_offset", offset),
        ("second_repl_offset", master.second_offset),
        ("repl_backlog_active", int(backlog is not None)),
        ("repl_backlog_size", master.backlog_size_bytes),
        ("repl_backlog_first_byte_offset", backlog.first_byte_offset if backlog is not None else 0),
        ("repl_backlog_histlen", backlog.histlen if backlog is not None else 0),
    ]
    return fields
