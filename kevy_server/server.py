"""`KevyServer`: a threaded RESP server over the embedded `Store` (one thread per connection).

Threads: one accept loop, one thread per client connection, and the store's own ticker.
Commands on different shards run in parallel as far as the GIL allows; commands on one shard
take that shard's lock (`Store`), and under `appendfsync always` writers from different
connections share group-committed fsyncs.

Lifecycle: `start()` binds and starts accepting; `request_shutdown()` (SHUTDOWN, SIGTERM,
SIGINT) starts a drain on a separate thread: stop accepting, let every connection finish the
batch it is answering (`stop_reading`), wait up to `drain_timeout_ms`, optionally SAVE, then
`Store.shutdown()`, which fsyncs every log. `wait_stopped()` returns once that is done.

Guarantees:
- A reply a client has received for a write is covered by the store's policy: under
  `always`, the record was fsynced before the reply was sent; after a completed shutdown,
  every acknowledged write is on disk whatever the policy (shutdown fsyncs).
- At most `maxclients` connections are served; one more gets
  `-ERR max number of clients reached` and is closed.
- Shutdown happens once; later requests to shut down do nothing.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from typing import Any

from kevy_persist import KevyError, Store
from kevy_persist.store.config import MetricEvent

from .config import ServerConfig
from .connection import Connection
from .session import Session

log = logging.getLogger("kevy_server")

MAX_CLIENTS_REPLY = b"-ERR max number of clients reached\r\n"
LISTEN_BACKLOG = 511


class KevyServer:
    """Open the store, then `start()`; or `serve_forever()` in a program's main thread."""

    def __init__(self, config: ServerConfig, store: Store | None = None) -> None:
        self.config = config
        self.requirepass = config.requirepass  # CONFIG SET may change these two
        self.maxclients = config.maxclients
        self._lock = threading.Lock()
        self._metric_counts: dict[str, int] = {}
        self.store = store if store is not None else Store.open(config.store_config(metrics=self._record_metric))
        self.started_monotonic_ms = time.monotonic_ns() // 1_000_000
        self.last_save_unix = int(time.time())
        self.connections_received = 0
        self.rejected_connections = 0
        self._closed_commands = 0
        self._connections: dict[Connection, threading.Thread] = {}
        self._next_client_id = 1
        self._listener: socket.socket | None = None
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._accept_thread: threading.Thread | None = None
        self._shutdown_started = False
        self._stopped = threading.Event()
        self.shutdown_error: BaseException | None = None

    # -- statistics ---------------------------------------------------------------------------

    def _record_metric(self, event: MetricEvent) -> None:
        with self._lock:
            self._metric_counts[event.name] = self._metric_counts.get(event.name, 0) + 1
            if event.name == "expired":
                keys = int(event.fields.get("keys", 0))
                self._metric_counts["expired_keys"] = self._metric_counts.get("expired_keys", 0) + keys

    def metric_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._metric_counts)

    def sessions(self) -> list[Session]:
        with self._lock:
            return [connection.session for connection in self._connections]

    def commands_processed(self) -> int:
        with self._lock:
            live = sum(connection.session.commands_processed for connection in self._connections)
            return self._closed_commands + live

    @property
    def port(self) -> int:
        assert self._listener is not None, "start() first"
        return self._listener.getsockname()[1]

    # -- persistence verbs --------------------------------------------------------------------

    def save(self) -> None:
        """Synchronous SAVE of every shard; records the time for LASTSAVE."""
        self.store.save()
        self.last_save_unix = int(time.time())

    # -- accepting ----------------------------------------------------------------------------

    def start(self) -> None:
        """Bind, listen and start the accept loop on its own thread."""
        assert self._listener is None, "start() runs once"
        family = socket.AF_INET6 if ":" in self.config.bind else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.config.bind, self.config.port))
        listener.listen(LISTEN_BACKLOG)
        listener.setblocking(False)
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_reader, selectors.EVENT_READ, "wake")
        self._accept_thread = threading.Thread(target=self._accept_loop, name="kevy-accept", daemon=True)
        self._accept_thread.start()
        log.info("kevy-server listening on %s:%d (data dir %s)", self.config.bind, self.port, self.config.data_dir)

    def serve_forever(self) -> None:
        """`start()`, then block until a shutdown has completed."""
        self.start()
        while not self.wait_stopped(0.5):
            pass

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._shutdown_started:
            for key, _ in self._selector.select():
                if key.data == "wake" or self._shutdown_started:
                    return
                try:
                    sock, address = self._listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    log.exception("accept failed")
                    continue
                self._admit(sock, address)

    def _admit(self, sock: socket.socket, address: Any) -> None:
        sock.setblocking(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self.connections_received += 1
            if len(self._connections) >= self.maxclients:
                self.rejected_connections += 1
                refused = True
            else:
                refused = False
                client_id = self._next_client_id
                self._next_client_id += 1
                text = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
                connection = Connection(sock, Session(self, client_id, text), self.config.max_request_bytes, self._forget)
                thread = threading.Thread(target=connection.run, name=f"kevy-client-{client_id}", daemon=True)
                self._connections[connection] = thread
        if refused:
            try:
                sock.settimeout(1.0)
                sock.sendall(MAX_CLIENTS_REPLY)
            except OSError:
                pass
            finally:
                sock.close()
            return
        thread.start()

    def _forget(self, connection: Connection) -> None:
        with self._lock:
            self._connections.pop(connection, None)
            self._closed_commands += connection.session.commands_processed

    # -- shutdown -----------------------------------------------------------------------------

    def request_shutdown(self, save: bool = False) -> None:
        """Start the drain-and-close on its own thread (callable from any thread or handler)."""
        with self._lock:
            if self._shutdown_started:
                return
            self._shutdown_started = True
        threading.Thread(target=self._shutdown, args=(save,), name="kevy-shutdown", daemon=True).start()

    def shutdown(self, save: bool = False, timeout_s: float | None = None) -> bool:
        """Request a shutdown and wait for it; True once the store is shut down."""
        self.request_shutdown(save)
        return self.wait_stopped(timeout_s)

    def wait_stopped(self, timeout_s: float | None = None) -> bool:
        return self._stopped.wait(timeout_s)

    def _shutdown(self, save: bool) -> None:
        try:
            self._stop_accepting()
            self._drain()
            if save:
                self.save()
        except KevyError as error:
            log.error("save at shutdown failed: %s", error)
            self.shutdown_error = error
        finally:
            try:
                self.store.shutdown()
            except KevyError as error:
                log.error("store shutdown reported: %s", error)
                self.shutdown_error = self.shutdown_error or error
            finally:
                self._stopped.set()
                log.info("kevy-server stopped")

    def _stop_accepting(self) -> None:
        try:
            self._wake_writer.send(b"x")
        except OSError:
            pass
        if self._accept_thread is not None:
            self._accept_thread.join()
        self._selector.close()
        for closable in (self._listener, self._wake_reader, self._wake_writer):
            if closable is not None:
                closable.close()

    def _drain(self) -> None:
        with self._lock:
            connections = list(self._connections.items())
        for connection, _ in connections:
            connection.stop_reading()
        deadline = time.monotonic() + self.config.drain_timeout_ms / 1000
        current = threading.current_thread()
        for connection, thread in connections:
            if thread is current or not thread.is_alive():
                continue
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("client %s did not finish within the drain timeout", connection.session.address)
                connection.force_close()
