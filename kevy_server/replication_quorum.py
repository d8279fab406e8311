"""min-replicas-to-write / min-replicas-max-lag: a master refuses writes without good replicas.

What it models: Redis 7.0's `repl_good_slaves_count` and `checkGoodReplicasStatus`. A good
replica is an online link whose last `REPLCONF ACK` (or its going online) is at most
`min-replicas-max-lag` seconds old. While `min-replicas-to-write` and `min-replicas-max-lag`
are both above 0, this server follows no master and fewer replicas are good, a write command
(Redis's `write` flag) is refused before it runs with Redis's text `-NOREPLICAS Not enough
good replicas to write.` (inside MULTI that dooms the transaction; an EXEC whose queue writes
is discarded with `EXECABORT Transaction discarded because of: NOREPLICAS ...`, as Redis's
`rejectCommand` does). Reads, PING and PUBLISH are served.

The count is refreshed where Redis refreshes it: on the replication tick (Redis: once a
second), when a replica goes online or leaves, and when a setting changes -- so a replica that
went silent still counts until the first tick after its lag passed the limit, as in Redis.
The dispatcher is told when the refusal starts and stops (`set_replica_refusal`), so while
writes are accepted they keep the fast path.
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands import ErrorReply

__all__ = ["NOREPLICAS", "QUORUM_SETTINGS", "WriteQuorum", "check_quorum_setting"]

NOREPLICAS = ErrorReply("NOREPLICAS Not enough good replicas to write.")
QUORUM_SETTINGS = frozenset({"min-replicas-to-write", "min-replicas-max-lag"})
_INT_MAX = 2147483647


class WriteQuorum:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.to_write = server.config.min_replicas_to_write
        self.max_lag_s = server.config.min_replicas_max_lag_s
        self.good = 0
        self.refusal: ErrorReply | None = None

    @property
    def enabled(self) -> bool:
        """INFO shows `min_slaves_good_slaves` (and writes may be refused) only then."""
        return self.to_write > 0 and self.max_lag_s > 0

    def refresh(self) -> None:
        server = self.server
        self.good = server.master.good_replicas(self.max_lag_s)
        refusing = self.enabled and not server.upstream.active and self.good < self.to_write
        refusal = NOREPLICAS if refusing else None
        if refusal is not self.refusal or server.dispatcher.replica_refusal is not refusal:
            self.refusal = refusal
            server.dispatcher.set_replica_refusal(refusal)

    def parameters(self) -> dict[str, str]:
        return {"min-replicas-to-write": str(self.to_write), "min-replicas-max-lag": str(self.max_lag_s)}

    def apply(self, name: str, value: int) -> None:
        if name == "min-replicas-to-write":
            self.to_write = value
        else:
            self.max_lag_s = value
        self.refresh()


def check_quorum_setting(name: str, value: str) -> tuple[ErrorReply | None, Any]:
    """(refusal, parsed value): an integer in 0..2147483647, with Redis's texts."""
    prefix = f"ERR CONFIG SET failed (possibly related to argument '{name}') - "
    try:
        number = int(value)
    except ValueError:
        return ErrorReply(prefix + "argument couldn't be parsed into an integer"), None
    if not 0 <= number <= _INT_MAX:
        return ErrorReply(prefix + f"argument must be between 0 and {_INT_MAX} inclusive"), None
    return None, number
