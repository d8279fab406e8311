"""The loop's ticker, ten times a second: the server's periodic chores, in a fixed order.

What it models. Redis's `serverCron`: sample the command count for INFO's
`instantaneous_ops_per_sec` (`server_statistics.OpsRate`); reap expired keys a step at a time (never while clients are
paused, nor on a replica, which waits for its master's DEL); serve clients whose blocking
keys became ready; drive background persistence (commits, save points, auto-rewrite; not
while the data dir is still opening); under `everysec` ask the fsync thread for the shards
whose second is due; tick both ends of replication; and once a second close clients idle
longer than `timeout` (never subscribers, blocked clients or replicas, as Redis).

Guarantees: runs on the loop only; touches nothing a command could be in the middle of.
"""

from __future__ import annotations

from typing import Any

from kevy_persist import FsyncPolicy

__all__ = ["tick"]


def tick(server: Any, now_ms: int) -> None:
    owned = server.owned
    server.ops_rate.sample(now_ms, server.commands_processed())
    if not server.pause.active and not server.upstream.active:
        # Redis reaps nothing while clients are paused; a replica waits for its master's DEL
        for index in range(owned.slot_count):
            owned.expire_step(index)
    if server.blocking.ready_keys:
        server.blocking.serve_ready()
    if server.loading is None:
        server.persistence.drive()  # commits, save points, auto-rewrite (never while a job runs)
    durability = server.loop.durability
    if owned.config.appendfsync is FsyncPolicy.EVERYSEC and not durability.pending:
        due = frozenset(index for index in range(owned.slot_count) if owned.sync_due(index))
        if due:
            durability.request(due, [], [])
    server.master.tick(now_ms)
    server.upstream.tick(now_ms)
    if server.idle_timeout_s and now_ms // 1000 != (now_ms - 100) // 1000:
        close_idle_clients(server, now_ms)


def close_idle_clients(server: Any, now_ms: int) -> None:
    limit_ms = server.idle_timeout_s * 1000
    for client in list(server.loop.clients.values()):
        if client.blocked is not None or client.in_pubsub_mode() or client.replica_link is not None:
            continue  # Redis never times out subscribers, blocked clients or replicas
        if now_ms - client.last_interaction_monotonic_ms > limit_ms:
            server.loop.close_client(client, "idle timeout")
