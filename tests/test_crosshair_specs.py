"""specs/formats_spec.py: its contracts hold under Hypothesis, and CrossHair finds no
counterexample within a small budget (skipped when crosshair is not installed)."""

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

SPEC_PATH = os.path.join(os.path.dirname(__file__), "..", "specs", "formats_spec.py")
_spec = importlib.util.spec_from_file_location("formats_spec", SPEC_PATH)
formats_spec = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(formats_spec)

argvs = st.lists(st.binary(max_size=20), min_size=1, max_size=3)


@given(argvs, st.data())
def test_resp_and_aof_contracts_hold_for_random_argvs(argv, data):
    assert formats_spec.resp_round_trip(argv) == argv
    assert formats_spec.encoder_follows_the_grammar(argv) == argv
    assert formats_spec.aof_v2_record_round_trip(argv) == argv
    assert formats_spec.aof_v2_header_states_length_and_checksum(argv[:2])
    assert formats_spec.frame_size_matches_formula(argv) == 3 + len(str(len(argv))) + sum(
        5 + len(str(len(a))) + len(a) for a in argv
    )
    frame_size = formats_spec.frame_size_matches_formula(argv)
    assert formats_spec.resp_prefix_needs_more(argv, data.draw(st.integers(0, frame_size - 1)))


@given(st.binary(max_size=20), st.binary(max_size=40), st.none() | st.integers(0, 2**64 - 1))
def test_snapshot_string_contract_holds(key, value, deadline_ms):
    from kevy_persist.formats.records import ValueKind

    assert formats_spec.snapshot_string_round_trip(key, value, deadline_ms) == (
        key, ValueKind.STRING, value, deadline_ms,
    )


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.booleans())
def test_trailer_and_marker_contracts_hold(epoch, offset, incremental):
    from kevy_persist.formats.aof_format import EpochMarker
    from kevy_persist.formats.positions import LogPosition

    assert formats_spec.snapshot_trailer_round_trip(epoch, offset) == LogPosition(epoch, offset)
    assert formats_spec.epoch_marker_round_trip(epoch, incremental) == EpochMarker(
        epoch, "incr" if incremental else "base"
    )


@given(st.integers(0, 2**64 - 1), st.binary(max_size=80) | st.integers(-(2**40), 2**40).map(lambda n: b"%d" % n))
def test_rdb_contracts_hold(length, value):
    from kevy_persist.formats.records import ValueKind

    assert formats_spec.rdb_length_round_trip(length) == length
    assert formats_spec.rdb_string_round_trip(value) == value
    assert formats_spec.dump_payload_round_trip(value) == (ValueKind.STRING, value)


@pytest.mark.skipif(
    importlib.util.find_spec("crosshair") is None and shutil.which("crosshair") is None,
    reason="crosshair-tool is not installed",
)
def test_crosshair_finds_no_counterexample_in_a_small_budget():
    """Method: `crosshair check --analysis_kind=PEP316` with 1 s per condition; any reported
    counterexample (a line with 'error:') fails the test and is shown."""
    completed = subprocess.run(
        [sys.executable, "-m", "crosshair", "check", "--analysis_kind=PEP316",
         "--per_condition_timeout=1", os.path.abspath(SPEC_PATH)],
        capture_output=True, text=True, timeout=300,
        cwd=os.path.join(os.path.dirname(__file__), ".."),
    )
    assert "error:" not in completed.stdout, completed.stdout
    assert completed.returncode == 0, completed.stdout + completed.stderr
