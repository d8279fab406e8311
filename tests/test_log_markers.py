"""Marker records read the same in both forms, and no client command can forge one.

Method: Hypothesis over epochs and kinds for the epoch marker in both formats; the store
refuses DEL/UNLINK of reserved keys; a format-1 log's markers are ordinary DEL frames.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kevy_persist import CommandError, Store, StoreConfig
from kevy_persist.formats.log_markers import (
    EpochMarker,
    epoch_marker_argv,
    is_epoch_marker,
    is_transaction_begin,
    is_transaction_commit,
    names_reserved_key,
    parse_epoch_marker,
    transaction_begin_argv,
    transaction_commit_argv,
)


@given(st.integers(0, 2**63), st.sampled_from(["base", "incr"]), st.sampled_from([1, 2]))
def test_epoch_marker_round_trips_in_both_forms(epoch: int, kind: str, format_version: int) -> None:
    marker = EpochMarker(epoch, kind)
    argv = epoch_marker_argv(marker, format_version)
    assert is_epoch_marker(argv)
    assert parse_epoch_marker(argv) == marker
    assert (argv[0] == b"DEL") == (format_version == 1)


@pytest.mark.parametrize("format_version", [1, 2])
def test_transaction_brackets_are_recognised_and_distinct(format_version: int) -> None:
    begin, commit = transaction_begin_argv(format_version), transaction_commit_argv(format_version)
    assert is_transaction_begin(begin) and not is_transaction_commit(begin)
    assert is_transaction_commit(commit) and not is_transaction_begin(commit)
    assert not is_epoch_marker(begin)


def test_ordinary_commands_are_not_markers() -> None:
    for argv in ([b"DEL", b"key"], [b"DEL", b"\x00KEV"], [b"SET", b"\x00KEVYEPOCH:1:incr", b"v"], []):
        assert not is_epoch_marker(argv) and not is_transaction_begin(argv)
        assert parse_epoch_marker(argv) is None


def test_malformed_epoch_marker_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError):
        parse_epoch_marker([b"DEL", b"\x00KEVYEPOCH:x:incr"])


def test_clients_cannot_delete_reserved_keys() -> None:
    """A DEL naming `\\0KEVY...` would read back as a marker, so the store refuses it."""
    assert names_reserved_key([b"unlink", b"a", b"\x00KEVYMULTI"])
    assert not names_reserved_key([b"DEL", b"a"])
    with Store.open(StoreConfig(ticker="manual")) as store:
        with pytest.raises(CommandError, match="reserved"):
            store.delete("\x00KEVYEXEC")
        assert store.delete("ordinary") == 0
