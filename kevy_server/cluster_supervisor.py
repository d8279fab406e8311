"""`kevy-server --cluster`: the supervisor of one shard process per shard, and the main port.

Cluster mode (kevy 1.23's `--cluster`; `specs/cluster.md`) serves shard `i` of the data dir
from its own process, listening at `port_base + i` (default `port + 1 + i`), so the shards
share nothing -- not even the interpreter lock -- and throughput grows with cores. This
process:

1. re-homes the dir once to `n` shards routed by slots (the Rust kevy does the same when a
   dir enters cluster mode; `n` is `--shards`, else the recorded count, else 1), by opening
   and closing it as a `Store`;
2. takes the dir's `LOCK` and holds it until it exits, so a second server, a second
   supervisor or `kevy-persist reshard` is refused as before; each shard process checks that
   its supervisor holds it and takes its own `LOCK-{i}` (`layout.ownership`);
3. starts the shard processes (`python -m kevy_server.cluster_shard`), waits until each
   accepts connections, then serves the main port with the relay (`cluster_proxy.py`, which
   reaches each shard process on a unix socket in a temp dir of its own) and logs
   `listening on HOST:PORT`;
4. watches them: a shard process that dies (a crash, SIGKILL) is logged as a WARNING with
   its exit status and started again after a back-off (0.1 s, doubling up to 5 s while it
   keeps dying within 10 s of its start); the others, and their files, are not touched. A
   shard process that exits with status 0 was told to (SHUTDOWN on its port): the whole
   cluster shuts down;
5. on SIGTERM / SIGINT / SHUTDOWN on the main port: closes the main port, sends SIGTERM to
   every shard process (each drains and fsyncs as a standalone server does), waits, releases
   the dir. Exit status 0, or 1 when a shard process did not exit cleanly.
A shard process whose supervisor dies gets SIGTERM (PR_SET_PDEATHSIG) and stops.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

import attrs

from kevy_persist import KevyError, Routing, Store
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.layout.ownership import take_ownership

from .accepting import LISTEN_BACKLOG
from .cluster_proxy import MainPortRelay
from .cluster_topology import advertised_host
from .config import ServerConfig
from .server import DENIED_REPLY, is_loopback

__all__ = ["ShardProcesses", "run_cluster"]

log = logging.getLogger("kevy_server")

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0
STABLE_AFTER_S = 10.0


def prepare_dir(config: ServerConfig) -> int:
    """Re-home the dir to the cluster's layout (slots); the shard count it now has."""
    if config.data_dir is None:
        return config.shard_count or 1
    store_config = attrs.evolve(config.store_config(), routing=Routing.SLOTS)
    store = Store.open(store_config)
    try:
        return store.shard_count
    finally:
        store.shutdown()


def child_arguments(config: ServerConfig, logging_choices: dict[str, Any]) -> list[str]:
    fields = {}
    for field in attrs.fields(ServerConfig):
        value = getattr(config, field.name)
        fields[field.name] = value.value if hasattr(value, "value") else value
    return [sys.executable, "-m", "kevy_server.cluster_shard", json.dumps({"config": fields, "logging": logging_choices})]


@attrs.define
class ShardProcess:
    index: int
    config: ServerConfig
    process: subprocess.Popen | None = None
    started_s: float = 0.0
    backoff_s: float = FIRST_BACKOFF_S
    restart_at_s: float | None = None


class ShardProcesses:
    """The shard processes of one cluster: start, watch, restart, stop."""

    def __init__(self, config: ServerConfig, shard_count: int, logging_choices: dict[str, Any],
                 supervisor_pid: int, runtime_dir: str) -> None:
        self.logging_choices = logging_choices
        self.shards = [
            ShardProcess(index, attrs.evolve(
                config, port=config.cluster_port(index), shard_count=shard_count, routing=Routing.SLOTS,
                cluster=True, cluster_shard=index, cluster_supervisor_pid=supervisor_pid,
                cluster_relay_socket=os.path.join(runtime_dir, f"shard-{index}.sock"),
            )) for index in range(shard_count)
        ]
        self.restarts = 0

    def start(self, shard: ShardProcess) -> None:
        assert shard.config.cluster_relay_socket is not None
        with contextlib.suppress(FileNotFoundError):  # a dead process's socket: bind would fail
            os.unlink(shard.config.cluster_relay_socket)
        shard.process = subprocess.Popen(child_arguments(shard.config, self.logging_choices))
        shard.started_s = time.monotonic()
        shard.restart_at_s = None
        log.info("shard %d: process %d serving port %d", shard.index, shard.process.pid, shard.config.port)

    def start_all(self) -> None:
        for shard in self.shards:
            self.start(shard)

    def wait_ready(self, host: str) -> None:
        """Until every shard accepts connections; RuntimeError when one exits first."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        for shard in self.shards:
            while True:
                assert shard.process is not None
                if shard.process.poll() is not None:
                    raise RuntimeError(f"shard {shard.index} exited with status {shard.process.returncode} at start")
                try:
                    socket.create_connection((host, shard.config.port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"shard {shard.index} did not listen on port {shard.config.port}") from None
                    time.sleep(0.05)

    def watch(self) -> bool:
        """Restart dead shard processes (logged); False when one asked for the cluster to stop."""
        now = time.monotonic()
        for shard in self.shards:
            process = shard.process
            if shard.restart_at_s is not None:
                if now >= shard.restart_at_s:
                    self.start(shard)
                continue
            assert process is not None
            status = process.poll()
            if status is None:
                continue
            if status == 0:
                log.info("shard %d: process %d exited cleanly (SHUTDOWN): stopping the cluster", shard.index, process.pid)
                return False
            lived_s = now - shard.started_s
            shard.backoff_s = FIRST_BACKOFF_S if lived_s >= STABLE_AFTER_S else min(shard.backoff_s * 2, MAX_BACKOFF_S)
            shard.restart_at_s = now + shard.backoff_s
            self.restarts += 1
            log.warning("shard %d: process %d died (%s) after %.1f s; restarting it in %.1f s, the other shards "
                        "keep serving", shard.index, process.pid, _describe_status(status), lived_s, shard.backoff_s)
        return True

    def stop_all(self) -> int:
        """SIGTERM every shard process and wait; 0 when all exited cleanly."""
        running = [shard.process for shard in self.shards if shard.process is not None and shard.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        failed = 0
        for process in running:
            try:
                failed |= process.wait(timeout=STOP_TIMEOUT_S) != 0
            except subprocess.TimeoutExpired:
                log.error("shard process %d did not stop in %d s: killing it", process.pid, STOP_TIMEOUT_S)
                process.kill()
                process.wait()
                failed = 1
        return int(failed)


def _describe_status(status: int) -> str:
    if status < 0:
        try:
            return f"signal {signal.Signals(-status).name}"
        except ValueError:
            return f"signal {-status}"
    return f"exit status {status}"


class Supervisor:
    def __init__(self, config: ServerConfig, logging_choices: dict[str, Any], supervisor_pid: int) -> None:
        self.config = config
        self.stopping = False
        shard_count = prepare_dir(config)
        self.lock = take_ownership(OsFileSystem(), config.data_dir) if config.data_dir is not None else None
        self.host = advertised_host(config.bind)
        # The relay's unix sockets (a path under 108 bytes, so not inside any data dir).
        self.runtime_dir = tempfile.mkdtemp(prefix="kevy-cluster-")
        self.children = ShardProcesses(config, shard_count, logging_choices, supervisor_pid, self.runtime_dir)
        self.selector = selectors.DefaultSelector()
        paths = [shard.config.cluster_relay_socket for shard in self.children.shards]
        self.relay = MainPortRelay(self.selector, shard_count, paths, config.max_request_bytes, self.request_stop)
        self.listener: socket.socket | None = None

    def request_stop(self, *_: Any) -> None:
        self.stopping = True

    def serve(self) -> int:
        try:
            self.children.start_all()
            self.children.wait_ready(self.host)
            family = socket.AF_INET6 if ":" in self.config.bind else socket.AF_INET
            listener = self.listener = socket.socket(family, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.config.bind, self.config.port))
            listener.listen(LISTEN_BACKLOG)
            listener.setblocking(False)
            self.selector.register(listener, selectors.EVENT_READ, self._accept)
            log.info("cluster of %d shard processes ready (ports %d-%d)", len(self.children.shards),
                     self.children.shards[0].config.port, self.children.shards[-1].config.port)
            log.info("listening on %s:%d", self.config.bind, listener.getsockname()[1])
            next_watch = 0.0
            while not self.stopping:
                for key, mask in self.selector.select(timeout=0.1):
                    key.data(mask)
                self.relay.flush()
                now = time.monotonic()
                if now >= next_watch:
                    next_watch = now + 0.1
                    if not self.children.watch():
                        break
        finally:
            status = self._stop()
        return status

    def _accept(self, mask: int) -> None:
        assert self.listener is not None
        for _ in range(64):
            try:
                sock, address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                log.warning("main port: accept failed: %s", error)
                return
            if self.config.protected_mode and not self.config.requirepass and not is_loopback(address):
                try:
                    sock.send(DENIED_REPLY)
                finally:
                    sock.close()
                continue
            self.relay.add_client(sock)

    def _stop(self) -> int:
        log.info("stopping the cluster")
        self.relay.close_all()
        if self.listener is not None:
            self.selector.unregister(self.listener)
            self.listener.close()
        status = self.children.stop_all()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)
        if self.lock is not None:
            self.lock.release()
        return status


def run_cluster(config: ServerConfig, logging_choices: dict[str, Any], supervisor_pid: int) -> int:
    """The CLI's cluster mode; the process's exit status."""
    if config.port == 0 and config.cluster_port_base == 0:
        print("kevy-server: cannot start: cluster mode needs a fixed --port (shards listen at port + 1 + i) "
              "or a [cluster] port_base", file=sys.stderr)
        return 2
    try:
        supervisor = Supervisor(config, logging_choices, supervisor_pid)
    except (KevyError, ValueError, OSError) as error:
        print(f"kevy-server: cannot start: {error}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    try:
        return supervisor.serve()
    except (RuntimeError, OSError) as error:
        print(f"kevy-server: cluster: {error}", file=sys.stderr)
        return 2
