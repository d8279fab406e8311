"""Serving while the data dir opens: Redis's LOADING state, its INFO fields and progress lines.

What it models. Redis listens before it loads its files and answers `-LOADING` to every
command not flagged `loading` (PING, GET, DBSIZE, SAVE...), while INFO, CONFIG, CLIENT,
HELLO, AUTH, SUBSCRIBE, SHUTDOWN and the like run; INFO persistence then says `loading:1`
with the bytes loaded, the percentage and an ETA. kevy-server does the same:

1. `KevyServer(open_in_background=True)` starts on an empty in-memory store of one shard
   (nothing is ever written to it: every command that could touch it is refused) and a
   dispatcher whose LOADING gate is set, and binds its port;
2. `Loading.start` opens the real store on a thread (`Store.open(progress=...)`); the
   progress callback records (bytes read, total) for INFO and logs a line every
   `PROGRESS_LOG_SECONDS` of a long open;
3. when the open ends, the thread hands `finish` to the loop (`call_soon_threadsafe`); on
   the loop, between turns, the server adopts the store (`KevyServer.adopt_store`): the
   single-owner path, a dispatcher without the gate, the settings changed meanwhile (CONFIG
   SET appendfsync / save / auto-aof-rewrite-*), and every WATCH taken during the load is
   marked touched (the keyspace it watched was the empty one);
4. a failed open (corrupt file, a dir another process holds) is logged and shuts the server
   down with `open_error` set (the CLI's exit status 2); a SHUTDOWN or SIGTERM during the
   load cancels it at the next progress report (the data dir's lock is released, nothing
   was written) before the server stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kevy_persist import Store, StoreConfig
from kevy_persist.commands import ErrorReply
from kevy_persist.errors import KevyError

__all__ = ["LOADING_REPLY", "Loading", "LoadingCancelledError"]

log = logging.getLogger("kevy_server")

LOADING_REPLY = ErrorReply("LOADING kevy is loading the dataset in memory")
PROGRESS_LOG_SECONDS = 5.0


class LoadingCancelledError(KevyError):
    """The server was asked to stop while its data dir was still opening."""


class Loading:
    """One background open of the server's data dir (see the module docstring)."""

    def __init__(self, store_config: StoreConfig, on_done: Callable[[Store | None, BaseException | None], None],
                 hand_over: Callable[[Callable[[], None]], None]) -> None:
        self._store_config = store_config
        self._on_done = on_done  # runs on the loop: (store, None) or (None, error)
        self._hand_over = hand_over  # the loop's call_soon_threadsafe
        self.started_unix = int(time.time())
        self._started_monotonic = time.monotonic()
        self._last_log_monotonic = self._started_monotonic
        self.loaded_bytes = 0
        self.total_bytes = 0
        self.cancelled = False
        self._thread: threading.Thread | None = None
        # How the store is opened (a test may wrap it to hold the open at a progress report).
        self.open_store: Callable[..., Store] = Store.open

    def start(self) -> None:
        self._thread = threading.Thread(target=self._open, name="kevy-open", daemon=True)
        self._thread.start()

    def cancel_and_wait(self) -> None:
        """Stop the open at its next progress report and wait for the thread (shutdown)."""
        self.cancelled = True
        if self._thread is not None:
            self._thread.join()

    def _open(self) -> None:
        store: Store | None = None
        error: BaseException | None = None
        try:
            store = self.open_store(self._store_config, progress=self._progress)
        except BaseException as failure:  # noqa: BLE001 -- handed to the loop, which stops the server
            error = failure
        if self.cancelled and store is not None:
            store.shutdown(save=False)  # a stop arrived after the last progress report
            store, error = None, LoadingCancelledError("cancelled by a shutdown")
        self._hand_over(lambda: self._on_done(store, error))

    def _progress(self, done_bytes: int, total_bytes: int) -> None:
        """On the opening thread: record the figures, log now and then, honour a cancel."""
        if self.cancelled:
            raise LoadingCancelledError("cancelled by a shutdown")
        self.loaded_bytes, self.total_bytes = done_bytes, total_bytes
        now = time.monotonic()
        if now - self._last_log_monotonic >= PROGRESS_LOG_SECONDS:
            self._last_log_monotonic = now
            log.info("loading the data dir: %d of %d bytes (%.2f%%), about %d s left",
                     done_bytes, total_bytes, self.percent(), self.eta_seconds())

    def percent(self) -> float:
        return 100.0 * self.loaded_bytes / self.total_bytes if self.total_bytes else 0.0

    def eta_seconds(self) -> int:
        """Redis's estimate: the time so far, scaled by what remains (1 until something is read)."""
        elapsed = time.monotonic() - self._started_monotonic
        if not self.loaded_bytes:
            return 1
        return int(elapsed * (self.total_bytes - self.loaded_bytes) / self.loaded_bytes)

    def info_fields(self) -> list[tuple[str, Any]]:
        """INFO persistence's loading fields, Redis's names (`loading_rdb_used_mem` left out:
        kevy does not know the memory its files will take)."""
        return [
            ("loading_start_time", self.started_unix),
            ("loading_total_bytes", self.total_bytes),
            ("loading_loaded_bytes", self.loaded_bytes),
            ("loading_loaded_perc", f"{self.percent():.2f}"),
            ("loading_eta_seconds", self.eta_seconds()),
        ]
