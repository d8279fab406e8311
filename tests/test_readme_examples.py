"""Every README example runs as written.

Method: the README's fenced blocks, in order, in one empty working directory: each
```python block is executed on its own (a fresh namespace, so a block cannot lean on another's
variables; the files earlier blocks wrote are there, as for a reader who runs them in order),
and each `kevy-persist` line of a ```sh block runs as a command (the console script this
environment installed) and must exit 0. A block that cannot run here is listed in `NOT_RUN`
with the reason, and the test fails on any block that is neither run nor listed, so a new
example cannot slip by. Python blocks print what they print; their comments' claims about
replies are checked where they state one (`# [-1, 1]`).
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import re
import shlex
import subprocess
import sys

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
# Blocks that cannot run inside a test, by their first line.
NOT_RUN = {
    "pip install -e . && kevy-server": "installs the package and serves until stopped (CI runs the test command)",
    "kevy-server --port 6379 --dir ./kevy-data --appendfsync always    # or: python -m kevy_server ...":
        "serves on the fixed port 6379 until stopped (tests/test_server*.py start servers on free ports)",
    "kevy-server --cluster --shards 2 --port 7000 --dir ./kevy-data   # shards at 7001 and 7002":
        "serves a cluster on fixed ports until stopped (tests/test_cluster.py starts one on free ports and "
        "runs redis-cli -c and redis-benchmark --cluster against it)",
}


def _blocks() -> list[tuple[str, str]]:
    return [(match.group(1), match.group(2)) for match in FENCE.finditer(README.read_text(encoding="utf-8"))]


def _kevy_persist_command() -> list[str]:
    script = pathlib.Path(sys.executable).parent / "kevy-persist"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kevy_persist.tools.cli"]


def test_every_readme_example_runs_as_written(tmp_path: pathlib.Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    ran = 0
    for language, text in _blocks():
        first_line = text.splitlines()[0]
        if first_line in NOT_RUN:
            continue
        if language == "python":
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(text, f"README.md block {first_line!r}", "exec"), {"__name__": "__readme__"})
            for claim in re.findall(r"print\(.*\)\s+# (\[[^\]]*\])", text):
                assert claim in printed.getvalue(), (claim, printed.getvalue())
            ran += 1
        elif language == "sh" and all(line.startswith("kevy-persist ") for line in text.splitlines()):
            for line in text.splitlines():
                arguments = shlex.split(line.split("#", 1)[0])[1:]
                finished = subprocess.run([*_kevy_persist_command(), *arguments], capture_output=True,
                                          text=True, timeout=120, env={**os.environ})
                assert finished.returncode == 0, (line, finished.stdout, finished.stderr)
            ran += 1
        else:
            raise AssertionError(f"README block {first_line!r} is neither run nor listed in NOT_RUN")
    assert ran >= 3
