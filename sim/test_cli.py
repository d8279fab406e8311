"""`python -m sim` as a newcomer meets it: usage errors, not tracebacks; every option explained.

Method: the CLI's parser and `main` in process. An unknown workload is a usage error (exit
status 2) naming every workload; every option of every sub-command carries a help text; the
sweep summary says what its two image counts count.
"""

from __future__ import annotations

import argparse

import pytest

from sim.__main__ import build_parser, main
from sim.workloads import all_workloads


@pytest.mark.parametrize("command", [["sweep", "--profile", "strict"], ["replay", "--profile", "strict",
                                     "--cut", "0", "--image", "0"], ["selfcheck"]])
def test_an_unknown_workload_is_a_usage_error_naming_the_workloads(command, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command[0], "--workload", "no-such-workload", *command[1:]])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "usage:" in error and "unknown workload 'no-such-workload'" in error
    assert "Traceback" not in error
    for workload in all_workloads():
        assert workload.name in error


def test_every_option_of_every_command_has_a_help_text() -> None:
    parser = build_parser()
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    missing = []
    for name, subparser in commands.choices.items():
        assert any(choice.dest == name and choice.help for choice in commands._choices_actions), name
        for action in subparser._actions:
            if action.option_strings and action.dest != "help" and not action.help:
                missing.append(f"{name} {action.option_strings[0]}")
    assert not missing, missing


def test_the_sweep_summary_says_what_each_image_count_counts(capsys) -> None:
    assert main(["sweep", "--workload", "open-hole-marked", "--profile", "strict"]) == 0
    output = capsys.readouterr().out
    assert "images checked: verdicts" in output and "distinct images: disk images recovered" in output
