"""`StoreOpenReport`: what `Store.open` found and did, totalled over the shards.

It is a value, not an exception (STYLE, "Errors carry evidence"): torn log tails, cut
corruption and the re-shard's torn sources are counted in `dropped_bytes`, and
`quarantine_paths` says where each dropped piece is kept, so a caller can log or refuse
on the figures. Built once by the store at open; frozen.
"""

from __future__ import annotations

import attrs

from kevy_persist.engine.shard import ShardOpenReport
from kevy_persist.reshard.reconcile import ReshardReport

__all__ = ["StoreOpenReport"]


@attrs.frozen
class StoreOpenReport:
    """What opening found and did: totals over the shards, each shard's own report, the
    re-shard it ran (None when the recorded layout was kept), the time taken.

    `dropped_bytes` counts every byte opening left out of the state: torn log tails (and,
    with `truncate_corruption`, cut corruption), including the torn tails of re-shard
    sources; `quarantine_paths` says where each of them is kept.
    """

    shards: tuple[ShardOpenReport, ...]
    elapsed_ms: int
    replayed_commands: int
    replayed_bytes: int
    dropped_bytes: int
    discarded_transaction_bytes: int
    corruption_found: bool
    reshard: ReshardReport | None = None
    quarantine_paths: tuple[str, ...] = ()

    @classmethod
    def from_shards(cls, shards: tuple[ShardOpenReport, ...], elapsed_ms: int,
                    reshard: ReshardReport | None = None) -> StoreOpenReport:
        torn_sources = reshard.torn_sources if reshard is not None else ()
        return cls(
            shards=shards,
            elapsed_ms=elapsed_ms,
            replayed_commands=sum(report.replayed_commands for report in shards),
            replayed_bytes=sum(report.replayed_bytes for report in shards),
            dropped_bytes=sum(report.dropped_bytes for report in shards) + sum(
                torn.dropped_bytes for torn in torn_sources),
            discarded_transaction_bytes=sum(report.discarded_transaction_bytes for report in shards),
            corruption_found=any(report.corruption_offset is not None for report in shards),
            reshard=reshard,
            quarantine_paths=tuple(torn.kept_in for torn in torn_sources) + tuple(
                report.quarantine_path for report in shards if report.quarantine_path is not None),
        )
