"""The event loop: one thread owns every socket, every shard and every client's state.

One turn (`turn`):
1. wait on epoll for ready sockets (at most until the next timer: the ticker, a blocked
   client's deadline);
2. for each readable client: one `recv`, parse every request it completes, run them in order
   (a client that blocks keeps the rest in its backlog), appending each encoded reply to the
   client's output for this turn; accept new connections; take finished fsync rounds;
3. end of turn (`end_turn`): write each shard's records of the turn with one write (before
   any reply of the turn leaves, so a process crash loses nothing acknowledged); under
   `appendfsync always` ask the fsync thread for one fsync per written shard and hold the
   turn's replies behind it; then send each client's replies of the turn in one `send`.

Timers run between turns: the ticker (`hz` 10: active expiry, the `everysec` fsync, the
background jobs' driver -- save points, auto-rewrite, commits --, idle-client timeouts,
output-buffer soft limits) and blocked clients' deadlines. Other threads hand work to the
loop with `call_soon_threadsafe` (a background job's worker finished, the data dir finished
opening): it runs after the turn in hand. Nothing here blocks on the disk except SAVE, a
background job's commit, a policy switch and shutdown, which wait for the fsync thread first.

Sending, holding and closing clients live in `output.py`, reading and splitting requests in
`reading.py`, the listener in `accepting.py` (all three mixed into `EventLoop`).
"""

from __future__ import annotations

import heapq
import logging
import select
import socket
from collections import deque
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

from kevy_persist import FsyncPolicy
from kevy_persist.commands import ErrorReply
from kevy_persist.commands.replies import OK, QUEUED

from .accepting import TICK_INTERVAL_MS, Accepting
from .blocking import NOT_READY
from .client import Client
from .durability import Durability, LoggedSlot, SyncWorker, slot_shards
from .output import Output, monotonic_ms
from .reading import Reading
from .replies import OK_BYTES, error_bytes

__all__ = ["NO_REPLY", "EventLoop", "monotonic_ms"]

log = logging.getLogger("kevy_server")

NO_REPLY = object()  # the request is answered by closing the connection (SHUTDOWN)

_IN = select.EPOLLIN
_OUT = select.EPOLLOUT


class EventLoop(Accepting, Reading, Output):
    """Runs `server`'s connections; `run()` returns once a shutdown has been carried out."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.owned = server.owned
        self.poller = select.epoll()
        self.clients: dict[int, Client] = {}
        self.turn_clients: list[Client] = []
        self.logged_slots: list[LoggedSlot] = []
        self.holding: dict[Client, None] = {}
        self.resumable: deque[Client] = deque()
        self.listener: socket.socket | None = None
        self.local_listener: socket.socket | None = None
        self._local_listener_fd = -1
        self._listener_paused = False
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self.poller.register(self._wake_reader.fileno(), _IN)
        self._sync_notify_reader, sync_notify_writer = socket.socketpair()
        self._sync_notify_reader.setblocking(False)
        self._sync_notify_fd = self._sync_notify_reader.fileno()
        self._sync_notify_writer = sync_notify_writer
        self._listener_fd = -1
        self.poller.register(self._sync_notify_reader.fileno(), _IN)
        # Through `self.owned` at each call: the server may adopt another store (after LOADING).
        self.durability = Durability(SyncWorker(lambda index: self.owned.sync(index), sync_notify_writer),
                                     self._sync_failed)
        self._timers: list[tuple[int, int, Callable[[], None]]] = []
        self._calls: deque[Callable[[], None]] = deque()  # from other threads (call_soon_threadsafe)
        self._timer_sequence = 0
        self.now_ms = monotonic_ms()
        self.stop_requested = False
        self.turns = 0
        self.log_writes = 0
        self.input_bytes = 0  # INFO's total_net_input_bytes / total_reads_processed
        self.reads = 0
        self._last_accept_warning_ms = -10_000
        # Other descriptors the loop serves (the link to a master this server replicates).
        self._watched: dict[int, Callable[[int], None]] = {}

    def wake(self) -> None:
        """Interrupt the wait (any thread, signal handlers included)."""
        try:
            self._wake_writer.send(b"w")
        except (BlockingIOError, OSError):
            pass  # already woken, or closed

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the loop after its current turn (any thread)."""
        self._calls.append(callback)
        self.wake()

    def take_calls(self) -> list[Callable[[], None]]:
        """The calls handed over and not run yet (a shutdown runs them itself)."""
        calls = list(self._calls)
        self._calls.clear()
        return calls

    def _run_calls(self) -> None:
        while self._calls:
            callback = self._calls.popleft()
            try:
                callback()
            except Exception:  # noqa: BLE001 -- a failed hand-over must not stop the loop
                log.exception("a call handed to the loop failed")
        self.end_turn()

    def add_timer(self, delay_ms: int, callback: Callable[[], None]) -> None:
        self._timer_sequence += 1
        heapq.heappush(self._timers, (self.now_ms + delay_ms, self._timer_sequence, callback))

    def watch_descriptor(self, fd: int, events: int, callback: Callable[[int], None]) -> None:
        """Serve `fd` from now on: `callback(mask)` runs in the turn it is ready."""
        if fd in self._watched:
            self.poller.modify(fd, events)
        else:
            self.poller.register(fd, events)
        self._watched[fd] = callback

    def unwatch_descriptor(self, fd: int) -> None:
        if self._watched.pop(fd, None) is not None:
            try:
                self.poller.unregister(fd)
            except (OSError, ValueError):
                pass

    def run(self) -> None:
        while not self.stop_requested:
            self.turn()

    def turn(self) -> None:
        timeout_ms = self._next_deadline_ms() - monotonic_ms()
        events = self.poller.poll(max(0.0, timeout_ms / 1000) if timeout_ms < 3_600_000 else -1)
        self.turns += 1
        self.now_ms = monotonic_ms()
        self.owned.refresh_clock()
        clients = self.clients
        synced = False
        for fd, mask in events:
            client = clients.get(fd)
            if client is not None:
                if mask & _OUT:
                    self._send_unsent(client)
                if mask & ~_OUT and not client.read_closed and clients.get(fd) is client:
                    self._read(client)
            elif fd == self._listener_fd:
                self._accept()
            elif fd == self._local_listener_fd:
                self._accept(self.local_listener)
            elif fd == self._sync_notify_fd:
                self._drain(self._sync_notify_reader)
                synced = True
            elif fd in self._watched:
                self._watched[fd](mask)
            else:
                self._drain(self._wake_reader)
        if self.resumable:
            self._resume_unblocked()
        if self.server.master.links:
            self.server.master.pump()
        self.end_turn()
        if synced:
            self._absorb_syncs()
        if self._calls:
            self._run_calls()
        if (self._timers and self._timers[0][0] <= self.now_ms) or self.server.blocking.active:
            self._run_timers()

    def _next_deadline_ms(self) -> int:
        deadline = self._timers[0][0] if self._timers else self.now_ms + 3_600_000
        blocked = self.server.blocking.next_deadline_ms()
        if blocked is not None and blocked < deadline:
            deadline = blocked
        if self.resumable:
            return 0
        return deadline

    def _run_timers(self) -> None:
        self.now_ms = monotonic_ms()
        ran = False
        while self._timers and self._timers[0][0] <= self.now_ms:
            _, _, callback = heapq.heappop(self._timers)
            callback()
            ran = True
        if self.server.blocking.expire_waiters(self.now_ms):
            ran = True
        if ran:
            self._resume_unblocked()
            self.end_turn()

    @staticmethod
    def _drain(sock: socket.socket) -> None:
        try:
            while sock.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def run_requests(self, client: Client, requests: Any, start: int) -> None:
        """Run `requests[start:]` for `client` in order; the rest goes to its backlog if it
        blocks, closes or starts a shutdown."""
        output = client.output
        if not output:
            self.turn_clients.append(client)
        server = self.server
        handle = server.dispatcher.handle
        logged = self.owned.logged_shards
        blocking = server.blocking
        slots = self.logged_slots
        # Statistics (`command_stats.py`): one clock reading per command; the common case --
        # a known command that answered no error -- is counted here without a call.
        stats = server.stats
        by_name = stats.by_name
        tracking = stats.tracking
        monitors = server.monitors.clients
        previous = perf_counter_ns()
        for position in range(start, len(requests)):
            argv = requests[position]
            mark = len(logged)
            reply = handle(client, argv)
            if reply is OK:  # the most common reply, the same bytes in RESP2 and RESP3
                output.append(OK_BYTES)
                count = len(logged)
                if count != mark:
                    slots.append((output, len(output) - 1, mark, count))
            elif reply is not NO_REPLY:
                try:
                    output.append(client.encode(reply))
                except Exception:  # noqa: BLE001 -- a reply the encoder cannot render costs that reply, not the loop
                    output.append(_unencodable(reply))
                count = len(logged)
                if count != mark:
                    slots.append((output, len(output) - 1, mark, count))
            now = perf_counter_ns()
            elapsed = now - previous
            previous = now
            record = by_name.get(argv[0])
            if record.__class__ is list and reply.__class__ is not ErrorReply and reply is not QUEUED:
                record[0] += 1
                record[1] += elapsed
                if tracking:
                    stats.track(record, elapsed)
            else:
                record = stats.after(server, argv, reply, elapsed)
            if elapsed >= stats.slow_ns and reply is not QUEUED:  # read each time: CONFIG SET may change it
                stats.slow(client, argv, elapsed, record, reply)
            if monitors:
                server.feed_monitors(client, argv, reply)
            if blocking.ready_keys:
                blocking.serve_ready()
                previous = perf_counter_ns()  # serving other clients is not this one's time
            if client.blocked is not None or client.closing or self.stop_requested:
                client.backlog.extend(requests[position + 1 :])
                return

    def resume(self, client: Client) -> None:
        """`client` was unblocked: run its backlog in this turn."""
        if client.backlog and self.is_open(client):
            self.resumable.append(client)

    def _resume_unblocked(self) -> None:
        while self.resumable:
            client = self.resumable.popleft()
            if not self.is_open(client) or client.blocked is not None:
                continue
            while client.backlog and client.blocked is None and not client.closing:
                argv = client.backlog.popleft()
                if argv.__class__ is str:  # a protocol error read after the requests before it
                    self._protocol_error(client, argv)  # type: ignore[arg-type]
                    break
                self.run_requests(client, [argv], 0)
            if client.read_closed and not client.backlog and client.blocked is None:
                client.closing = True
                self._close_if_done(client)

    def attempt_for(self, client: Client, attempt: Callable[[bytes], Any], key: bytes) -> Any:
        """Try to serve a blocked `client` from `key`; when served, its reply joins this
        turn's output (tracked like any reply whose command logged records)."""
        owned = self.owned
        logged = owned.logged_shards
        mark = len(logged)
        previous = owned.selected
        owned.select(client.database)  # the waiter's database (`attempt` routes by key there)
        try:
            reply = attempt(key)
        except Exception as error:  # noqa: BLE001 -- a bug costs this client a reply, not the loop
            log.exception("serving a blocked client failed")
            reply = ErrorReply(f"ERR internal error: {type(error).__name__}")
        finally:
            owned.select(previous)
        if reply is NOT_READY:
            return reply
        try:
            data = client.encode(reply)
        except Exception:  # noqa: BLE001
            data = _unencodable(reply)
        self.emit(client, data)
        if len(logged) != mark:
            self.logged_slots.append((client.output, len(client.output) - 1, mark, len(logged)))
        return reply

    def end_turn(self) -> None:
        tracking = self.server.tracking
        if tracking.pending_broadcast:
            tracking.end_of_turn()  # CLIENT TRACKING BCAST: once per turn, as Redis per cycle
        owned = self.owned
        always = owned.config.appendfsync is FsyncPolicy.ALWAYS
        barrier = self._write_turn(always) if owned.has_pending() else 0
        if not barrier and always:
            barrier = self.durability.barrier_for_reads()
        turn_clients = self.turn_clients
        if not turn_clients:
            return
        self.turn_clients = []
        clients = self.clients
        for client in turn_clients:
            if barrier or client.held or client.unsent or client.closing:
                self._flush_turn(client, barrier)
                continue
            # The common case, inline: nothing held, nothing queued, send the turn's replies.
            chunks = client.output
            if not chunks or clients.get(client.fd) is not client:
                client.output = []
                continue
            client.output = []
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            try:
                sent = client.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.close_client(client, "write error")
                continue
            self.output_bytes += sent
            self.writes += 1
            if sent < len(data):
                client.unsent = bytearray(memoryview(data)[sent:])
                self._update_events(client)
                self._check_backpressure(client)

    def _write_turn(self, always: bool) -> int:
        """One write per shard of the turn's records; under `always`, the fsync request that
        the turn's replies wait for (its barrier), else 0."""
        owned = self.owned
        logged = list(owned.logged_shards)  # write_pending starts a new list
        slots = self.logged_slots
        self.logged_slots = []
        written, failed = owned.write_pending()
        self.log_writes += len(written) + len(failed)
        if failed:
            for slot in slots:
                for shard in sorted(slot_shards(slot, logged)):
                    if shard in failed:
                        self._encode_error(slot[0], slot[1], failed[shard])
                        break
            for index, reason in failed.items():
                self.server.record_write_failure(index, reason)
        if not always or not written:
            return 0
        written_set = frozenset(written)
        waiting = slots if len(owned.shards) == 1 else [
            slot for slot in slots if written_set.intersection(slot_shards(slot, logged))
        ]
        return self.durability.request(written_set, waiting, logged)

    def _sync_failed(self, index: int, reason: str) -> None:
        log.error("fsync of shard %d failed: %s", index, reason)
        self.server.record_fsync_failure(index, reason)
        if self.owned.config.appendfsync is FsyncPolicy.ALWAYS:
            self.owned.after_failed_sync(index)
            self.server.master.disconnect_all("an fsync failed")  # the stream holds undone writes

    def write_pending_now(self) -> None:
        """Write every shard's pending records now (mid-turn, without waiting for an fsync):
        a background job is frozen only when the log holds everything the keyspace shows.
        Under `always` the turn's replies still wait for the fsync this requests (`end_turn`
        holds them behind the last unfinished sync)."""
        if self.owned.has_pending():
            self._write_turn(self.owned.config.appendfsync is FsyncPolicy.ALWAYS)

    def quiesce(self) -> None:
        """Write every pending record and wait for every fsync; release held replies.

        Before SAVE, a rewrite, a policy switch or shutdown: nothing of the log may be in
        flight while the store replaces or closes it.
        """
        if self.owned.has_pending():
            self._write_turn(self.owned.config.appendfsync is FsyncPolicy.ALWAYS)
        self.durability.worker.wait_idle()
        self._absorb_syncs()

    def _tick(self) -> None:
        self.add_timer(TICK_INTERVAL_MS, self._tick)
        self.owned.refresh_clock()
        try:
            self.server.tick(self.now_ms)
        except Exception:  # noqa: BLE001 -- housekeeping must never stop the loop
            log.exception("tick failed")

    def close(self) -> None:
        self.durability.worker.stop()
        for closable in (self._wake_reader, self._wake_writer, self._sync_notify_reader, self._sync_notify_writer):
            closable.close()
        self.poller.close()


def _unencodable(reply: Any) -> bytes:
    log.exception("a reply could not be encoded: %r", type(reply))
    return error_bytes("ERR internal error: the reply could not be encoded")
