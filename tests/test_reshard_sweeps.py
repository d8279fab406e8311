"""Re-shard under crashes: per cut, discard before the commit point, roll forward after it.

Method: for each re-shard workload (sim/workloads/reshard.py) and crash profile, the run is
cut before every step; every crash image the profile allows (capped, then seeded samples)
is recovered by the real `reconcile_layout` and checked by `ReshardChecker` (keyspace
unchanged, layout complete). `cut_outcomes` gives the verdict kinds per cut with the
history at that cut: `discard` may only appear while the commit is not required, `roll-forward`
only once the journal write was issued, and both must appear. The nested-crash sweep (recovery
itself crashed at each of its steps) runs through `sim.explorer.sweep`. The raw-record codec
and the inline KevyHash are checked against the decoder and `kevy_hash` with Hypothesis.
Replay a failure with the `python -m sim replay ...` line of the sweep summary.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kevy_persist.errors import CorruptionError
from kevy_persist.formats.records import ValueKind
from kevy_persist.formats.snapshot_decode import decode_snapshot
from kevy_persist.formats.snapshot_format import HEADER_SIZE, TRAILER_SIZE, encode_snapshot
from kevy_persist.formats.snapshot_raw import raw_record_batches
from kevy_persist.layout.routing import Routing, router_for
from kevy_persist.reshard.protocol import TRANSITIONS, Phase, PhaseTracker, ProtocolViolation
from kevy_persist.reshard.route import route_records
from sim.cut_outcomes import cut_outcomes
from sim.explorer import SweepConfig, sweep
from sim.profiles import PROFILE_NAMES, Limits
from sim.report import format_summary

WORKLOADS = ["reshard-grow-1-3", "reshard-shrink-3-2", "reshard-2-4", "reshard-kevyhash-slots",
             "reshard-slots-kevyhash", "reshard-over-journal-2-3-4"]
CUT_LIMITS = {"strict": Limits(64, 16), "ext4-ordered": Limits(32, 8), "weakest": Limits(24, 6)}


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_each_cut_discards_before_and_rolls_forward_after_the_commit_point(workload, profile):
    """No violation at any cut; both outcomes occur, each on its side of the commit point."""
    rows = cut_outcomes(workload, profile, limits=CUT_LIMITS[profile])
    kinds_by_side = {"before-journal": set(), "journal-in-flight": set(), "committed": set()}
    for cut, (required, issued), kinds in rows:
        assert not [kind for kind in kinds if kind.startswith("VIOLATION")], (cut, kinds)
        side = "committed" if required >= 1 else "journal-in-flight" if issued >= 1 else "before-journal"
        kinds_by_side[side].update(kinds)
    assert kinds_by_side["before-journal"] == {"discard"}
    assert "discard" not in kinds_by_side["committed"]
    assert "roll-forward" in kinds_by_side["committed"]
    assert "complete" in kinds_by_side["committed"]


NESTED_PROFILES = [
    "strict", "ext4-ordered",
    # sim/test_sweeps.py sweeps every workload under `weakest` with nesting in the default
    # tier already; this larger one is in the exhaustive tier.
    pytest.param("weakest", marks=pytest.mark.exhaustive),
]


@pytest.mark.parametrize("profile", NESTED_PROFILES)
@pytest.mark.parametrize("workload", ["reshard-shrink-3-2", "reshard-kevyhash-slots"])
def test_nested_crash_sweep_finds_no_violation(workload, profile):
    """Recovery crashed at each of its own steps (nested) must still satisfy the oracle."""
    result = sweep(SweepConfig(workload, profile, limits=Limits(24, 6), nested_limits=Limits(6, 3)))
    assert result.violation_count == 0, format_summary(result)
    assert result.outcomes.get("discard") and result.outcomes.get("roll-forward")


def test_phase_table_allows_exactly_its_transitions():
    """Every (phase, next) pair: allowed iff listed in TRANSITIONS; otherwise ProtocolViolation."""
    for current in Phase:
        for requested in Phase:
            tracker = PhaseTracker()
            tracker.phase = current
            if requested in TRANSITIONS[current]:
                tracker.advance(requested)
                assert tracker.phase is requested
            else:
                with pytest.raises(ProtocolViolation):
                    tracker.advance(requested)


key_strategy = st.binary(min_size=0, max_size=40)
value_strategy = st.one_of(
    st.tuples(st.just(ValueKind.STRING), st.binary(max_size=20)),
    st.tuples(st.just(ValueKind.HASH), st.dictionaries(st.binary(max_size=5), st.binary(max_size=5), max_size=3)),
    st.tuples(st.just(ValueKind.LIST), st.lists(st.binary(max_size=5), max_size=3)),
    st.tuples(st.just(ValueKind.SET), st.sets(st.binary(max_size=5), max_size=3)),
)
entries_strategy = st.dictionaries(
    key_strategy, st.tuples(value_strategy, st.one_of(st.none(), st.integers(0, 2**63))), max_size=30
)


def _entries(drawn):
    return [(key, kind, value, deadline) for key, ((kind, value), deadline) in drawn.items()]


@settings(max_examples=150, deadline=None)
@given(entries_strategy, st.integers(1, 7), st.sampled_from(list(Routing)), st.integers(1, 5))
def test_routed_raw_records_are_the_records_in_their_new_shards(drawn, shard_count, routing, batch_records):
    """route_records splits the file's record bytes exactly by `Router.shard_for_key` (the
    inline KevyHash agrees with kevy_hash for every key length), preserving order; the raw
    batches name the same keys, in order, as the full decoder."""
    data = encode_snapshot(_entries(drawn), None)
    decoded = decode_snapshot(data).records
    assert [key for keys, _ in raw_record_batches(data, batch_records=batch_records) for key in keys] == [
        record[0] for record in decoded
    ]
    router = router_for(shard_count, routing)
    buckets = [b"" for _ in range(shard_count)]
    for routed, count, _ in route_records(data, "<test>", shard_count, routing, batch_records=batch_records):
        for index, bucket in enumerate(routed):
            buckets[index] += b"".join(bucket)
    for index in range(shard_count):
        mine = [entry for entry in _entries(drawn) if router.shard_for_key(entry[0]) == index]
        expected = encode_snapshot(mine, None)
        assert buckets[index] == expected[HEADER_SIZE : len(expected) - 1 - TRAILER_SIZE]


@settings(max_examples=60, deadline=None)
@given(entries_strategy, st.data())
def test_damaged_snapshot_raises_corruption_never_anything_else(drawn, data):
    """Any truncation or flipped byte is reported as CorruptionError, with one exception the
    format defines (specs/snapshot-format.md, "Trailer"): a cut exactly after the end byte is
    a kevy 1.23 file without our trailer, whose records are whole -- it routes every record."""
    encoded = bytes(encode_snapshot(_entries(drawn), None))
    position = data.draw(st.integers(0, len(encoded) - 1))
    _assert_damage_is_corruption_or_kevy_format(drawn, encoded, position, cut=data.draw(st.booleans()))


def _assert_damage_is_corruption_or_kevy_format(drawn, encoded: bytes, position: int, cut: bool) -> None:
    trailer_less = encoded[: len(encoded) - TRAILER_SIZE]
    damaged = encoded[:position] if cut else encoded[:position] + bytes([encoded[position] ^ 0x41]) + encoded[position + 1 :]
    for shard_count in (1, 3):
        try:
            routed_count = sum(count for _, count, _ in route_records(damaged, "<damaged>", shard_count, Routing.KEVYHASH))
        except CorruptionError:
            continue
        assert damaged in (encoded, trailer_less), (position, cut)
        assert routed_count == len(drawn)
    if damaged == trailer_less:
        assert decode_snapshot(damaged).trailer is None  # kevy 1.23's file: valid, no recorded position


@pytest.mark.parametrize("drawn", [{}, {b"k": ((ValueKind.STRING, b"v"), None)},
                                   {b"": ((ValueKind.HASH, {b"f": b"g"}), None), b"a": ((ValueKind.LIST, [b"x"]), 5)}])
def test_every_cut_and_flip_of_small_snapshots_is_corruption_or_kevy_format(drawn):
    """The property above at every position of a few small files, so the case that once made it
    flaky -- `encode_snapshot([], None)[:10]`, the trailer cut off -- runs on every test run:
    that cut is kevy 1.23's format (specs/snapshot-format.md, "Damage") and routes every record."""
    encoded = bytes(encode_snapshot(_entries(drawn), None))
    assert encoded[: len(encoded) - TRAILER_SIZE][-1] == 0  # kevy's files end at the end byte
    for position in range(len(encoded)):
        for cut in (True, False):
            _assert_damage_is_corruption_or_kevy_format(drawn, encoded, position, cut)
