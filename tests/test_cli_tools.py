"""`kevy-persist` on paths that are not data dirs, and on data dirs another process holds.

Method: the CLI's `main` in process (exit status, stderr text) on a missing path, a plain
file, and a dir a live `Store` holds; `kevy-persist reshard` against a held dir must refuse
and leave every file as it was.
"""

from __future__ import annotations

import pathlib

import pytest

from kevy_persist.tools.cli import main as cli_main


@pytest.mark.parametrize("command", ["dump", "check"])
def test_a_missing_path_is_refused_with_a_nonzero_exit(command: str, tmp_path: pathlib.Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A typo must not read as an empty, clean data dir: exit 2 and the path named."""
    missing = tmp_path / "no-such-dir"
    assert cli_main([command, str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{missing}: no such data dir" in captured.err
    assert not missing.exists()  # nothing was created


@pytest.mark.parametrize("command", ["dump", "check"])
def test_a_plain_file_is_refused_as_not_a_data_dir(command: str, tmp_path: pathlib.Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "a-file"
    plain.write_bytes(b"not a dir")
    assert cli_main([command, str(plain)]) == 2
    assert f"{plain}: not a data dir" in capsys.readouterr().err
