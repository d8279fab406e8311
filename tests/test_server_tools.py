"""Redis's own tools work against kevy-server: redis-cli and a tiny redis-benchmark run.

Method: an in-process server on an ephemeral loopback port; the tools run as child processes
with a timeout. Skipped when the tool is not on PATH.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from server_support import client, running_server

pytestmark = pytest.mark.timeout(60)


def run_tool(arguments: list[str]) -> str:
    finished = subprocess.run(arguments, capture_output=True, text=True, timeout=30)
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
def test_redis_cli_sets_gets_and_reads_info(tmp_path) -> None:
    """`redis-cli -p PORT set a 1` then `get a`; pipe mode; INFO and CONFIG GET as text."""
    with running_server(tmp_path / "data") as server:
        port = str(server.port)
        assert run_tool(["redis-cli", "-p", port, "set", "a", "1"]).strip() == "OK"
        assert run_tool(["redis-cli", "-p", port, "get", "a"]).strip() == "1"
        assert run_tool(["redis-cli", "-p", port, "incr", "a"]).strip() == "2"
        assert run_tool(["redis-cli", "-p", port, "get", "nothing"]).strip() == ""
        assert "appendfsync:everysec" in run_tool(["redis-cli", "-p", port, "info", "persistence"])
        assert run_tool(["redis-cli", "-p", port, "config", "get", "appendonly"]).split() == ["appendonly", "yes"]
        piped = subprocess.run(["redis-cli", "-p", port, "--pipe"], input="SET p1 x\r\nSET p2 y\r\n",
                               capture_output=True, text=True, timeout=30)
        assert piped.returncode == 0 and "errors: 0, replies: 2" in piped.stdout
        assert client(server).mget("p1", "p2") == [b"x", b"y"]


@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="redis-benchmark is not installed")
def test_redis_benchmark_runs_set_and_get(tmp_path) -> None:
    """`redis-benchmark -n 2000 -t set,get -q` completes and reports both tests."""
    with running_server(tmp_path / "data") as server:
        output = run_tool(["redis-benchmark", "-p", str(server.port), "-n", "2000", "-t", "set,get", "-q"])
        assert "SET:" in output and "GET:" in output, output
        assert len(client(server).get("key:__rand_int__")) == 3  # -d defaults to 3 bytes
