"""Helpers for the cluster-mode tests (not a test module).

- `running_cluster` starts `python -m kevy_server --cluster` (a supervisor and its shard
  processes) on free consecutive ports with its log in a file, waits until the main port
  answers PING, and always stops it (SIGTERM, bounded wait, then SIGKILL).
- `raw_call` sends one request over a fresh socket and returns the reply's exact bytes (the
  end found by `ReplyScanner`); `skeleton` reduces raw RESP to its type structure, so replies
  whose values differ (node ids, ports) can be compared with Redis's shape for shape.
- `reference_cluster_node` starts `redis-server --cluster-enabled yes` owning all 16384 slots.

Every wait has a deadline and every socket a timeout: a hung server fails, never hangs.
"""

from __future__ import annotations

import contextlib
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

from kevy_persist.formats.resp import encode_command
from kevy_server.reply_frames import ReplyScanner

START_DEADLINE_S = 60.0
_NAME = re.compile(rb"[a-z][a-z_-]*")  # field names and words (role, health) are kept by `skeleton`


def free_port_run(count: int, below: int = 60000) -> int:
    """A port P with P .. P + count - 1 all free on loopback (at the time of asking), < `below`."""
    for _ in range(200):
        base = random.randrange(20000, below - count)
        probes = []
        try:
            for port in range(base, base + count):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise AssertionError("no run of free ports")


def free_port_run_at(port: int) -> None:
    """Raise AssertionError unless `port` is free on loopback."""
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", port))
    except OSError:
        raise AssertionError(f"port {port} is taken") from None
    finally:
        probe.close()


def raw_call(port: int, *argv: bytes | str, hello3: bool = False) -> bytes:
    """The exact bytes of the reply to `argv` (after `HELLO 3` when asked)."""
    request = [argument.encode() if isinstance(argument, str) else argument for argument in argv]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        replies = 1
        payload = encode_command(request)
        if hello3:
            payload = encode_command([b"HELLO", b"3"]) + payload
            replies = 2
        sock.sendall(payload)
        buffer, scanner, frames = bytearray(), ReplyScanner(), []
        while len(frames) < replies:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before the reply to {request!r}"
            buffer += chunk
            frames += scanner.scan(buffer)
        start = frames[-2][0] if replies == 2 else 0
        return bytes(buffer[start:frames[-1][0]])


def skeleton(data: bytes) -> object:
    """RESP reduced to types: aggregates keep their element skeletons, scalars become their
    type byte (maps keep their keys, so field names and their order are compared too)."""
    value, end = _skeleton_at(data, 0)
    assert end == len(data), "one reply expected"
    return value


def _skeleton_at(data: bytes, position: int) -> tuple[object, int]:
    line_end = data.index(b"\r\n", position)
    kind, header = chr(data[position]), data[position + 1:line_end]
    position = line_end + 2
    if kind in "$=!":
        length = int(header)
        if length < 0:
            return kind + "null", position
        body = data[position:position + length]
        named = kind == "$" and _NAME.fullmatch(body) is not None
        return (kind, body) if named else kind, position + length + 2
    if kind in "*~>%|":
        count = int(header) * (2 if kind in "%|" else 1)
        items = []
        for _ in range(max(count, 0)):
            item, position = _skeleton_at(data, position)
            items.append(item)
        return (kind, items), position
    return kind, position


@attrs.define
class Cluster:
    process: subprocess.Popen
    port: int
    shard_ports: list[int]
    data_dir: Path
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text()

    def shard_pid(self, index: int) -> int:
        info = raw_call(self.shard_ports[index], "INFO", "server").decode()
        return int(info.split("process_id:")[1].split("\r\n")[0])


def wait_until_serving(port: int, deadline_s: float = START_DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            if raw_call(port, "PING") == b"+PONG\r\n":
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing serves port {port}")
        time.sleep(0.05)


@contextlib.contextmanager
def running_cluster(tmp_path: Path, shard_count: int, *options: str) -> Iterator[Cluster]:
    base = free_port_run(shard_count + 1)
    data_dir, log_path = tmp_path / "data", tmp_path / "cluster.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kevy_server", "--cluster", "--shards", str(shard_count), "--port", str(base),
             "--dir", str(data_dir), *options], stdout=log, stderr=subprocess.STDOUT)
    cluster = Cluster(process, base, [base + 1 + index for index in range(shard_count)], data_dir, log_path)
    try:
        wait_until_serving(base)
        yield cluster
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def reference_cluster_node(tmp_path: Path) -> Iterator[int | None]:
    """A redis-server in cluster mode owning every slot; None when none is installed."""
    path = shutil.which("redis-server")
    if path is None:
        yield None
        return
    # Redis Cluster also listens on the bus port, port + 10000: it must exist (and be free),
    # or the node exits at start.
    while True:
        port = free_port_run(1, below=55535)
        with contextlib.suppress(AssertionError):
            free_port_run_at(port + 10000)
            break
    process = subprocess.Popen(
        [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--cluster-enabled", "yes", "--cluster-config-file", str(tmp_path / "nodes.conf"), "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_serving(port, 10)
        assert raw_call(port, "CLUSTER", "ADDSLOTSRANGE", "0", "16383") == b"+OK\r\n"
        deadline = time.monotonic() + 10
        while b"cluster_state:ok" not in raw_call(port, "CLUSTER", "INFO"):
            assert time.monotonic() < deadline, "the reference node never reached cluster_state:ok"
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
