"""The server's life: listen, run the loop, and the one orderly shutdown.

What it models. `start()` binds and runs the loop on its own thread (tests, embedding);
`serve_forever()` runs it on the caller's (the CLI's main thread, so SIGTERM's handler can
wake it). With a background open the port is bound first and the open starts after it.
`request_shutdown()` (SHUTDOWN, SIGTERM, SIGINT; callable from any thread) makes the loop stop
after the turn in hand; the loop's thread then stops accepting, stops following a master,
drains every reply it owes (up to `drain_timeout_ms` for slow readers), closes the
connections, cancels a load still in progress and calls `Store.shutdown(save=...)`.

Guarantees:
- shutdown happens once: later requests do nothing, and the first request's `save` wins;
- `wait_stopped()` returns True only once the store has been shut down (or failed to, the
  error kept in the server's `shutdown_error`); a bug in the loop still shuts the store
  down, kept in `loop_error` (the CLI's exit status 1).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kevy_persist import KevyError

from .loop import monotonic_ms
from .store_handover import log_opened, stop_loading

__all__ = ["Lifecycle"]

log = logging.getLogger("kevy_server")


class Lifecycle:
    """One server's listening, loop thread and shutdown; the server's methods delegate here."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.port: int | None = None  # bound by `listen`
        self.shutdown_started = False
        self._save_at_shutdown: bool | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        assert self._thread is None, "start() runs once"
        self.listen()
        self._thread = threading.Thread(target=self.run, name="kevy-loop", daemon=True)
        self._thread.start()
        if self.server.loading is not None:
            self.server.loading.start()

    def serve_forever(self) -> None:
        self.listen()
        if self.server.loading is not None:
            self.server.loading.start()
        self.run()

    def listen(self) -> None:
        server, config = self.server, self.server.config
        self.port = server.loop.listen(config.bind, config.port)
        if config.cluster_relay_socket is not None:
            server.loop.listen_local(config.cluster_relay_socket)
        if config.replicaof is not None and server.loading is None:
            server.upstream.follow(*config.replicaof)
        if server.loading is not None:
            log.info("kevy-server accepting on %s:%d, answering LOADING while the data dir %s opens",
                     config.bind, self.port, config.data_dir)
        else:
            log_opened(server)

    def run(self) -> None:
        try:
            self.server.loop.run()
        except Exception as error:  # noqa: BLE001 -- a bug in the loop must still shut the store down
            log.exception("the event loop failed; shutting down")
            self.server.loop_error = error
        finally:
            self.finish()

    def request_shutdown(self, save: bool | None) -> None:
        with self._lock:
            if self.shutdown_started:
                return
            self.shutdown_started = True
            self._save_at_shutdown = save
        self.server.loop.stop_requested = True
        self.server.loop.wake()

    def wait_stopped(self, timeout_s: float | None) -> bool:
        return self._stopped.wait(timeout_s)

    def finish(self) -> None:
        server = self.server
        try:
            server.loop.close_listener()
            server.upstream.close()
            server.loop.drain(monotonic_ms() + server.config.drain_timeout_ms)
        except Exception as error:  # noqa: BLE001
            log.exception("draining failed")
            server.shutdown_error = error
        finally:
            try:
                server.loop.close()
            except Exception:  # noqa: BLE001
                log.exception("closing the loop failed")
            try:
                stop_loading(server)
                server.store.shutdown(save=self._save_at_shutdown)
            except KevyError as error:
                log.error("store shutdown reported: %s", error)
                server.shutdown_error = server.shutdown_error or error
            finally:
                self._stopped.set()
                log.info("kevy-server stopped")
