"""`ShardedPrefixChecker`: the prefix oracle applied to each shard of a multi-shard workload.

What it judges. Shards have independent files, so after a crash each shard keeps its own
prefix of the history: shard 0 may keep more of its writes than shard 1. The recovered state
is split by key into shards; for each shard s the state must equal the plain-dict model
(`sim.model`) of s's own operations at one prefix p_s -- no hole, nothing applied twice,
a transaction block whole or not at all -- with

    required_s <= p_s <= issued_s

where issued_s counts s's operations issued before the cut and required_s those that must
survive it: every one below the global `required` (an acknowledgement that waited for every
shard) or below the shard's own requirement (a background job's commit made that shard
durable up to its operation). Operations that failed may be skipped, as in `PrefixChecker`.

Outcome kinds as `PrefixChecker` (`complete` when every shard is complete, else `prefix`);
a violation's detail names the shard. Under the `bitflip` fault a refusal to open
(`CorruptionError`) and a shorter prefix on any shard are accepted; a state that is no
prefix at all is not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .checkers import Outcome, Verdict
from .model import canonical

ACCEPTED_UNDER_BITFLIP = ("refused:CorruptionError", "refused:UnsupportedRecordError", "refused:HistoryGapError")


class ShardedPrefixChecker:
    def __init__(
        self,
        operations: Sequence[Any],
        *,
        shard_count: int,
        shard_of_operation: Callable[[Any], int | None],
        shard_of_key: Callable[[bytes], int],
        apply_operation: Callable[[dict, Any], None],
        bitflip: bool = False,
        failed: frozenset[int] = frozenset(),
    ) -> None:
        self.operations = list(operations)
        self.shard_count = shard_count
        self.shard_of_operation = shard_of_operation
        self.shard_of_key = shard_of_key
        self.apply_operation = apply_operation
        self.bitflip = bitflip
        self.failed = failed
        # Per shard: the global indexes of its operations, and state -> local prefixes.
        self._indexes: list[list[int]] = [[] for _ in range(shard_count)]
        for index, operation in enumerate(self.operations):
            shard = shard_of_operation(operation)
            if shard is not None:
                self._indexes[shard].append(index)
        self._prefixes = [self._prefixes_of(shard) for shard in range(shard_count)]

    def _prefixes_of(self, shard: int) -> dict[tuple, list[int]]:
        """State -> the local prefixes (counts of the shard's operations) that produce it."""
        models: dict[tuple, dict] = {canonical({}): {}}
        prefixes: dict[tuple, list[int]] = {canonical({}): [0]}
        for local, index in enumerate(self._indexes[shard], start=1):
            following: dict[tuple, dict] = {}
            for state, current in models.items():
                applied = dict(current)
                self.apply_operation(applied, self.operations[index])
                following[canonical(applied)] = applied
                if index in self.failed:
                    following[state] = current
            models = following
            for state in models:
                prefixes.setdefault(state, []).append(local)
        return prefixes

    def with_failures(self, failed: frozenset[int]) -> ShardedPrefixChecker:
        if failed == self.failed:
            return self
        return ShardedPrefixChecker(
            self.operations, shard_count=self.shard_count, shard_of_operation=self.shard_of_operation,
            shard_of_key=self.shard_of_key, apply_operation=self.apply_operation, bitflip=self.bitflip,
            failed=failed,
        )

    def check(self, outcome: Outcome, freeze: tuple) -> Verdict:
        required, issued = freeze[0], freeze[1]
        by_shard = dict(freeze[2]) if len(freeze) > 2 else {}
        if outcome.failure:
            if self.bitflip and outcome.failure in ACCEPTED_UNDER_BITFLIP:
                return Verdict("refused-corruption", True, outcome.detail)
            return Verdict(outcome.failure, False, outcome.detail)
        items_by_shard: list[list] = [[] for _ in range(self.shard_count)]
        for key, value in outcome.state:
            items_by_shard[self.shard_of_key(key)].append((key, value))
        kinds = set()
        for shard in range(self.shard_count):
            indexes = self._indexes[shard]
            shard_required = max(required, by_shard.get(shard, 0))
            local_required = sum(1 for index in indexes if index < shard_required)
            local_issued = sum(1 for index in indexes if index < issued)
            state = tuple(sorted(items_by_shard[shard]))
            prefixes = self._prefixes[shard].get(state)
            if not prefixes:
                return Verdict("not-a-prefix", False, f"shard {shard}: state {state!r} is no prefix of its history")
            if any(local_required <= prefix <= local_issued for prefix in prefixes):
                kinds.add("complete" if local_issued in prefixes else "prefix")
                continue
            if self.bitflip and any(prefix <= local_issued for prefix in prefixes):
                kinds.add("degraded-prefix")
                continue
            best = max((prefix for prefix in prefixes if prefix <= local_issued), default=None)
            if best is None:
                return Verdict("not-a-prefix", False,
                               f"shard {shard}: state matches prefix {prefixes} beyond issued {local_issued}")
            return Verdict("lost-acknowledged", False,
                           f"shard {shard}: state is prefix {best} of its operations but {local_required} "
                           f"were acknowledged durable")
        for kind in ("degraded-prefix", "prefix"):
            if kind in kinds:
                return Verdict(kind, True)
        return Verdict("complete", True)
