"""The hand-over after a background open: the server swaps its placeholder for the real store.

What it models. With `open_in_background=True` the server serves an empty placeholder store
while `loading.py` opens the data dir on a thread. When the open ends, the thread hands
`loaded` to the loop, which runs it between two turns, so no command ever sees half a
hand-over:
- the open failed: the error is logged (unless it was our own cancellation) and kept as the
  server's `open_error`, and the server shuts down without saving;
- a shutdown has begun meanwhile: nothing was served from the opened store, so it is shut
  down unsaved;
- otherwise `adopt_store`: the settings CONFIG SET changed during the load move onto the
  opened store, the placeholder is shut down, the single-owner path, persistence, dispatcher
  (without the LOADING gate, keeping READONLY), the replicas' quorum and the change observer
  follow the new store, every WATCH taken meanwhile is marked touched, and only then does a
  configured `replicaof` start following (its RDB replaces the opened data).

`stop_loading` is the other end: a stop during the load cancels the open and runs the
hand-over it may have queued, so whatever it opened is closed before the server stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kevy_persist import KevyError, Store
from kevy_persist.store.store import single_owner

from .dispatch import Dispatcher

__all__ = ["adopt_store", "hand_to_loop", "loaded", "log_opened", "stop_loading"]

log = logging.getLogger("kevy_server")


def hand_to_loop(server: Any, callback: Callable[[], None]) -> None:
    """From the opening thread: run `callback` on the loop, between turns."""
    server.loop.call_soon_threadsafe(callback)


def loaded(server: Any, store: Store | None, error: BaseException | None) -> None:
    """On the loop, between turns: the data dir has opened (or failed to)."""
    if server.loading is None:
        return
    if server.shutdown_started:  # stopping: nothing was served from it, nothing to save
        server.loading = None
        if store is not None:
            store.shutdown(save=False)
        return
    if error is not None or store is None:
        server.loading = None
        if not isinstance(error, KevyError) or "cancelled" not in str(error):
            log.error("cannot open the data dir %s: %s", server.config.data_dir, error)
        server.open_error = error
        server.request_shutdown(save=False)
        return
    adopt_store(server, store)


def adopt_store(server: Any, store: Store) -> None:
    """Serve `store` from now on (replacing the loading placeholder)."""
    placeholder, server.store = server.store, store
    if store.config.appendfsync is not placeholder.config.appendfsync:
        store.set_appendfsync(placeholder.config.appendfsync)  # a CONFIG SET during the load
    if placeholder.config.save_points != store.config.save_points:
        store.set_save_points(placeholder.config.save_points)
    store.set_auto_rewrite(placeholder.config.auto_rewrite_percentage,
                           placeholder.config.auto_rewrite_min_size_bytes)
    placeholder.shutdown(save=False)
    server.owned = single_owner(store)
    server.loop.owned = server.owned
    server.persistence.attach(store)
    read_only = server.dispatcher.read_only
    server.dispatcher = Dispatcher(server)
    server.dispatcher.set_read_only(read_only)
    server.master.quorum.refresh()
    server.watches.dataset_replaced()
    server.refresh_observer()
    server.loading = None
    log_opened(server)
    if server.config.replicaof is not None and not server.upstream.active:
        server.upstream.follow(*server.config.replicaof)  # only now: its RDB replaces the opened data


def log_opened(server: Any) -> None:
    report = server.store.open_report
    log.info("opened %d shard(s) (%s): replayed %d commands (%d bytes), dropped %d bytes in %d ms",
             server.store.shard_count, server.store.config.routing.value, report.replayed_commands,
             report.replayed_bytes, report.dropped_bytes, report.elapsed_ms)
    log.info("kevy-server listening on %s:%d (data dir %s)", server.config.bind, server.port, server.config.data_dir)
    log.info("ready to accept connections")


def stop_loading(server: Any) -> None:
    """A stop during the load: cancel the open, close what it may have opened meanwhile."""
    loading = server.loading
    if loading is None:
        return
    loading.cancel_and_wait()
    for callback in server.loop.take_calls():  # the open's hand-over, if it got that far
        callback()
    server.loading = None
