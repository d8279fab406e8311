"""SIGKILL cycles under concurrent `always` writers, with a re-shard attempted on the live dir.

Method: 20 cycles of: start `kevy-server --appendfsync always --shards 2` as a child process;
check the state it recovered against everything acknowledged so far; let 50 client threads
(one connection each) write -- each INCRs its own counter and RPUSHes unique values
`w<writer>:<sequence>` to one of five shared lists -- while `kevy-persist reshard DIR --shards
3` runs against the live dir (it must be refused, naming the server's pid, every time); then
SIGKILL the server mid-stream. A write is acknowledged when its reply arrived; each writer has
at most one write whose fate is unknown when the server dies.

What is checked at every restart (and once more at the end): every acknowledged write is
present exactly once -- a counter equals its acknowledged INCRs, plus at most the one in
flight; every acknowledged value is in its list once, in its writer's order, with no value
that was never sent -- and a write found absent after a restart never appears later. An
unknown write found present becomes acknowledged from then on. The layout stays 2 shards.
"""

from __future__ import annotations

import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

CYCLES = 20
WRITERS = 50
LISTS = 5
WRITE_SECONDS = 0.4

pytestmark = pytest.mark.timeout(600)


class Ledger:
    """What the writers were told, per writer: acknowledged INCRs and RPUSHes, and the one
    write (if any) still in flight when the server died."""

    def __init__(self) -> None:
        self.acknowledged_increments = [0] * WRITERS
        self.acknowledged_values: list[list[bytes]] = [[] for _ in range(WRITERS)]
        self.in_flight: list[tuple[str, bytes] | None] = [None] * WRITERS
        self.sequence = [0] * WRITERS
        self.gone: set[bytes] = set()  # unknown writes found absent: they must never appear

    @staticmethod
    def list_of(writer: int) -> str:
        return f"list:{writer % LISTS}"


def _write(port: int, writer: int, ledger: Ledger, stop: threading.Event) -> None:
    client = redis.Redis(port=port, protocol=2, socket_timeout=10, socket_connect_timeout=10,
                         retry=Retry(NoBackoff(), 0))
    try:
        while not stop.is_set():
            sequence = ledger.sequence[writer]
            ledger.sequence[writer] = sequence + 1  # a value is never sent twice, across cycles too
            if sequence % 2 == 0:
                ledger.in_flight[writer] = ("incr", b"")
                client.incr(f"counter:{writer}")
                ledger.acknowledged_increments[writer] += 1
            else:
                value = b"w%d:%d" % (writer, sequence)
                ledger.in_flight[writer] = ("rpush", value)
                client.rpush(Ledger.list_of(writer), value)
                ledger.acknowledged_values[writer].append(value)
            ledger.in_flight[writer] = None
    except (redis.ConnectionError, redis.TimeoutError, ConnectionError, OSError):
        pass  # the server was killed: the write in flight (if any) has an unknown fate
    finally:
        client.close()


def _start(data_dir: pathlib.Path, log_path: pathlib.Path) -> tuple[subprocess.Popen, int]:
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "kevy_server", "--port", "0", "--dir", str(data_dir),
         "--appendfsync", "always", "--shards", "2"],
        stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"listening on [^ ]*:(\d+)", log_path.read_text())
        if found:
            return process, int(found.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.02)
    process.kill()
    raise AssertionError(f"kevy-server did not start: {log_path.read_text()}")


def _verify(port: int, ledger: Ledger) -> None:
    """Check the recovered state against the ledger, then settle the unknown writes."""
    client = redis.Redis(port=port, protocol=2, socket_timeout=10)
    assert client.info("persistence")["shards"] == 2
    for writer in range(WRITERS):
        value = int(client.get(f"counter:{writer}") or 0)
        acknowledged = ledger.acknowledged_increments[writer]
        unknown = 1 if ledger.in_flight[writer] == ("incr", b"") else 0
        assert acknowledged <= value <= acknowledged + unknown, (writer, value, acknowledged)
        ledger.acknowledged_increments[writer] = value
    lists = {index: client.lrange(f"list:{index}", 0, -1) for index in range(LISTS)}
    for index, values in lists.items():
        assert len(values) == len(set(values)), f"list:{index} holds a value twice"
        assert not set(values) & ledger.gone, f"list:{index}: a write found absent came back"
    for writer in range(WRITERS):
        mine = [value for value in lists[writer % LISTS] if value.startswith(b"w%d:" % writer)]
        pending = ledger.in_flight[writer]
        unknown = pending[1] if pending is not None and pending[0] == "rpush" else None
        acknowledged = ledger.acknowledged_values[writer]
        expected = acknowledged + ([unknown] if unknown is not None and unknown in mine else [])
        assert mine == expected, (writer, mine[-3:], acknowledged[-3:], unknown)
        if unknown is not None and unknown not in mine:
            ledger.gone.add(unknown)
        ledger.acknowledged_values[writer] = expected
        ledger.in_flight[writer] = None
    client.close()


def _attempt_reshard(data_dir: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kevy_persist.tools.cli", "reshard", str(data_dir), "--shards", "3"],
                          capture_output=True, text=True, timeout=120)


def test_sigkill_cycles_lose_no_acknowledged_write_and_every_reshard_is_refused(tmp_path: pathlib.Path) -> None:
    data_dir = tmp_path / "data"
    ledger = Ledger()
    refusals = 0
    for cycle in range(CYCLES):
        process, port = _start(data_dir, tmp_path / f"server-{cycle}.log")
        try:
            _verify(port, ledger)
            stop = threading.Event()
            writers = [threading.Thread(target=_write, args=(port, writer, ledger, stop), daemon=True)
                       for writer in range(WRITERS)]
            for thread in writers:
                thread.start()
            started = time.monotonic()
            resharded = _attempt_reshard(data_dir)  # against the live dir, writers running
            assert resharded.returncode == 2, resharded
            assert f"data dir in use by process {process.pid}" in resharded.stderr, resharded.stderr
            refusals += 1
            time.sleep(max(0.0, WRITE_SECONDS - (time.monotonic() - started)))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        stop.set()
        for thread in writers:
            thread.join(timeout=30)
            assert not thread.is_alive()
    process, port = _start(data_dir, tmp_path / "server-final.log")
    try:
        _verify(port, ledger)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert refusals == CYCLES
    total = sum(ledger.acknowledged_increments) + sum(len(values) for values in ledger.acknowledged_values)
    assert total > CYCLES * WRITERS, f"only {total} writes acknowledged in {CYCLES} cycles"
    print(f"{CYCLES} SIGKILL cycles: {total} acknowledged writes, all present once; "
          f"{len(ledger.gone)} in-flight writes lost (never acknowledged); {refusals} re-shards refused")
