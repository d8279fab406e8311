"""Checkers: oracles that judge a recovered state, independent of the code under test.

`PrefixChecker` (log and save workloads). After recovery the state must equal the plain-dict
model (`sim.model`) at one prefix p of the operation history -- no holes, nothing applied
twice -- with `required <= p <= issued` at the cut: every operation whose acknowledgement
depended on a completed fsync survives, and nothing not yet issued appears. Outcome kinds:
`complete` (p = issued), `prefix` (required <= p < issued); violations: `lost-acknowledged`
(a prefix shorter than required), `not-a-prefix` (no prefix matches: a hole, a double
application, a wrong value), `refused:<Error>` (recovery raised a kevy error) and
`recovery-crashed:<Exception>` (recovery raised anything else).

An operation that failed (returned an error) may be skipped in the prefix: an error does not
say whether the write took effect (a write refused after an fsync failure did not; a write
whose fsync failed did, in memory, and a later SAVE may make it durable).

Under the `bitflip` fault synced bytes were damaged at rest, so recovery may also refuse with
a `CorruptionError` (`refused-corruption`, accepted) or keep a shorter prefix
(`degraded-prefix`) -- where the workload locates the flip (`Workload.damage_of`, a log's
record by the oracle's own framing walk, `sim.log_frames`), only a prefix that loses
operations from the damaged record on, and only when no valid record follows it
(`lost-after-damage`, `lost-before-damage` otherwise); where it cannot, any prefix. A state
that is no prefix at all is still a violation, and so is a recovery that
succeeded but left files its next recovery refuses (`recovery-unstable`, judged by the
explorer on nested crashes).

`LayoutChecker` (shards.meta workloads): the recovered layout must be one of the layouts
written so far, no older than the last one whose write completed, and every file it names
must be present and readable (the workload's recovery reports that as part of its state).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from .model import CanonicalState, states_with_omissions


@attrs.frozen
class Outcome:
    """What recovery of one image produced: a canonical state, or a failure kind + detail."""

    state: object = None
    failure: str = ""  # "" | "refused:<Class>" | "recovery-crashed:<Class>"
    detail: str = ""


@attrs.frozen
class Verdict:
    kind: str
    ok: bool
    detail: str = ""


class PrefixChecker:
    """Judges against the model's states per prefix; operations that failed (returned an
    error) may be skipped, since an error does not say whether the write took effect."""

    def __init__(self, operations: Sequence, *, bitflip: bool = False,
                 failed: frozenset[int] = frozenset()) -> None:
        self.operations = list(operations)
        self.bitflip = bitflip
        self.failed = failed
        self._prefixes: dict[CanonicalState, list[int]] = {}
        for prefix, states in enumerate(states_with_omissions(self.operations, failed)):
            for state in states:
                self._prefixes.setdefault(state, []).append(prefix)

    def with_failures(self, failed: frozenset[int]) -> PrefixChecker:
        if failed == self.failed:
            return self
        return PrefixChecker(self.operations, bitflip=self.bitflip, failed=failed)

    def check(self, outcome: Outcome, freeze: tuple[int, int]) -> Verdict:
        required, issued = freeze
        if outcome.failure:
            if self.bitflip and outcome.failure in ("refused:CorruptionError", "refused:UnsupportedRecordError"):
                return Verdict("refused-corruption", True, outcome.detail)
            return Verdict(outcome.failure, False, outcome.detail)
        prefixes = self._prefixes.get(outcome.state)
        if not prefixes:
            return Verdict("not-a-prefix", False, f"state {outcome.state!r} is no prefix of the history")
        if any(required <= prefix <= issued for prefix in prefixes):
            return Verdict("complete" if issued in prefixes else "prefix", True)
        if self.bitflip and any(prefix <= issued for prefix in prefixes):
            return Verdict("degraded-prefix", True)
        best = max((prefix for prefix in prefixes if prefix <= issued), default=None)
        if best is None:
            return Verdict("not-a-prefix", False, f"state matches prefix {prefixes} beyond issued {issued}")
        return Verdict("lost-acknowledged", False,
                       f"state is prefix {best} but {required} operations were acknowledged durable")


    def check_damaged(self, outcome: Outcome, freeze: tuple[int, int], damage) -> Verdict:
        """Under a located bit flip (`sim.log_frames.Damage`): a prefix shorter than required
        only when the lost operations start at the damaged record and no valid record follows
        it -- a flip that silently drops records after it, or operations before it, fails."""
        verdict = self.check(outcome, freeze)
        if verdict.kind != "degraded-prefix":
            return verdict
        required, issued = freeze
        prefixes = [prefix for prefix in self._prefixes[outcome.state] if prefix <= issued]
        if damage.valid_after:
            return Verdict("lost-after-damage", False,
                           f"state is prefix {max(prefixes)} of {required} acknowledged, dropped at a flip in the "
                           f"record of operation {damage.first_lost_operation} with valid records after it")
        if not any(prefix >= damage.first_lost_operation for prefix in prefixes):
            return Verdict("lost-before-damage", False,
                           f"state is prefix {max(prefixes)}: operations before the damaged record "
                           f"({damage.first_lost_operation}) were lost")
        return verdict


class LayoutChecker:
    """States are `(layout, problems)`: the layout read back and the files it names that
    are missing or unreadable. Freeze = (required, issued) over the list of layouts written."""

    def __init__(self, layouts: Sequence[object], *, bitflip: bool = False) -> None:
        self.layouts = list(layouts)  # index p = the layout after p writes (index 0: initial)
        self.bitflip = bitflip

    def with_failures(self, failed: frozenset[int]) -> LayoutChecker:
        return self  # the layout is "the latest write": a failed one is simply in [required, issued]

    def check(self, outcome: Outcome, freeze: tuple[int, int]) -> Verdict:
        required, issued = freeze
        if outcome.failure:
            if self.bitflip and outcome.failure.startswith("refused:"):
                return Verdict("refused-corruption", True, outcome.detail)
            return Verdict(outcome.failure, False, outcome.detail)
        layout, problems = outcome.state
        if problems and self.bitflip:
            return Verdict("refused-corruption", True, f"damaged shard file detected: {problems}")
        if problems:
            return Verdict("layout-incomplete", False, f"layout {layout!r}: {problems}")
        matches = [index for index, candidate in enumerate(self.layouts) if candidate == layout]
        if not matches:
            if self.bitflip:
                # kevy's shards.meta has no checksum: a flipped digit reads as another valid
                # layout. Harmless here (every file it names is present and readable, the
                # shards are empty); with data, opening refuses it by routing a sample of keys
                # (opening._refuse_misrouted_keys) and stray files (_refuse_stray_files).
                return Verdict("meta-flip-undetectable", True, f"layout {layout!r} read from a damaged meta")
            return Verdict("unknown-layout", False, f"layout {layout!r} was never written")
        if any(required <= index <= issued for index in matches):
            return Verdict("complete" if issued in matches else "prefix", True)
        if self.bitflip:
            return Verdict("degraded-prefix", True)
        return Verdict("lost-acknowledged", False,
                       f"layout {layout!r} is older than the last completed write ({required})")


class RecordedLayoutChecker:
    """States are `(recorded, keyspace)`: the layout `shards.meta` names as recovery finds it
    (before opening: None when there is no meta) and what the inner checker judges.

    The oracle: once the store's open returned (the first operation was issued), the dir's
    recorded layout is the store's. kevy 1.23 reads a dir's layout from `shards.meta` only
    (without one it infers `n` shards routed by KevyHash from the file names), so a store
    that opened a fresh dir and lost its meta in a crash would be misread by kevy 1.23 under
    any other routing (`layout-not-recorded`). Then the inner checker judges the keyspace."""

    def __init__(self, inner, expected: object) -> None:
        self.inner = inner
        self.expected = expected

    def with_failures(self, failed: frozenset[int]) -> RecordedLayoutChecker:
        inner = self.inner.with_failures(failed)
        return self if inner is self.inner else RecordedLayoutChecker(inner, self.expected)

    def check(self, outcome: Outcome, freeze: tuple) -> Verdict:
        if outcome.failure:
            return self.inner.check(outcome, freeze)
        recorded, keyspace = outcome.state
        if freeze[1] >= 1 and recorded != self.expected:
            return Verdict("layout-not-recorded", False,
                           f"the store's open returned, then a crash left shards.meta naming {recorded!r}, "
                           f"not {self.expected!r} (kevy 1.23 reads the layout from it)")
        return self.inner.check(Outcome(state=keyspace), freeze)
