"""CLIENT TRACKING: server-assisted client-side caching, with Redis 7.0's invalidation messages.

A tracking client is told when a key it may have cached changes:
- default mode: every key a read-only command of the client named (its keys as the
  command's key finder names them) is remembered in a table key -> clients; a change to the
  key (any write, an expiry, a flush) sends each of them one invalidation and forgets the key
  for them (they must read it again to hear of the next change);
- OPTIN: only the keys of the command right after `CLIENT CACHING yes` are remembered;
  OPTOUT: every command's, except the one right after `CLIENT CACHING no` (inside MULTI the
  choice holds until EXEC);
- BCAST [PREFIX p...]: nothing is remembered; every changed key that starts with one of the
  client's prefixes (any key without a prefix) is sent, batched per prefix once per command
  of the writer, as Redis batches them per event-loop cycle;
- NOLOOP: changes made by the client itself are not sent to it.
Messages: to a RESP3 client, the push `[invalidate, [key...]]`; with REDIRECT id to another
client, that client gets them -- a RESP3 push, or for a RESP2 client in subscribed mode the
message `[message, __redis__:invalidate, [key...]]` (a RESP2 client not subscribed, or a
tracking RESP2 client without REDIRECT, gets nothing, as in Redis). A flush sends a null
instead of the key list. When the redirect client has gone, a RESP3 tracking client gets
`[tracking-redir-broken, id]` instead and CLIENT LIST shows flag R. The client that changed
a key it tracks hears of it after the reply of the command that changed it.

The key table is bounded by `tracking-table-max-keys` (Redis's default, 1,000,000; 0: no
bound): past it, the oldest remembered keys are invalidated and forgotten.
"""

from __future__ import annotations

from typing import Any

import attrs

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.key_positions import command_keys
from kevy_persist.commands.replies import OK, QUEUED, MemberSet

from .connection_commands import CLIENT_SUBCOMMANDS, SYNTAX_ERROR, parse_integer
from .introspection import lookup
from .loop import NO_REPLY
from .replies import Multiple, Push, ReplyMap

__all__ = ["Tracking", "TrackingState"]

CHANNEL = b"__redis__:invalidate"
DEFAULT_MAX_KEYS = 1_000_000


@attrs.define
class TrackingState:
    redirect: int = 0  # client id, 0: none
    broadcast: bool = False
    prefixes: tuple[bytes, ...] = ()
    opt_in: bool = False
    opt_out: bool = False
    no_loop: bool = False
    caching: bool | None = None  # CLIENT CACHING yes/no for the next command
    redirect_broken: bool = False


class Tracking:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.table: dict[bytes, dict[int, None]] = {}  # key -> client ids
        self.prefixes: dict[bytes, dict[Any, None]] = {}  # BCAST prefix -> clients
        self.pending_broadcast: dict[bytes, dict[bytes, Any]] = {}  # prefix -> changed key -> writer
        self.pending_self: list[bytes] = []
        self.current: Any = None  # the tracking client whose command runs (NOLOOP, self)
        self.clients = 0
        self.max_keys = DEFAULT_MAX_KEYS

    @property
    def active(self) -> bool:
        return self.clients > 0

    # -- turning it on and off ---------------------------------------------------------------

    def enable(self, client: Any, state: TrackingState) -> None:
        if client.tracking is None:
            self.clients += 1
        else:
            self._drop_prefixes(client)
        client.tracking = state
        if state.broadcast:
            for prefix in state.prefixes or (b"",):
                self.prefixes.setdefault(prefix, {})[client] = None
        client.update_gate()
        self.server.refresh_observer()

    def disable(self, client: Any) -> None:
        if client.tracking is None:
            return
        self._drop_prefixes(client)
        client.tracking = None
        self.clients -= 1
        client.update_gate()
        self.server.refresh_observer()

    def _drop_prefixes(self, client: Any) -> None:
        state = client.tracking
        if state is None or not state.broadcast:
            return
        for prefix in state.prefixes or (b"",):
            subscribers = self.prefixes.get(prefix)
            if subscribers is not None:
                subscribers.pop(client, None)
                if not subscribers:
                    del self.prefixes[prefix]

    def forget(self, client: Any) -> None:
        """The client is gone (ids in the key table are dropped lazily, as Redis does)."""
        self.disable(client)

    # -- reads and changes ---------------------------------------------------------------------

    def after_command(self, client: Any, argv: list[bytes], reply: Any) -> Any:
        """`client` (tracking) ran `argv`: remember its keys if it read them. Returns the
        reply to send: what its own command invalidated follows the command's reply."""
        state = client.tracking
        self.current = None
        pending, self.pending_self = self.pending_self, []
        if state is None or reply is QUEUED:
            return reply
        self.remember_if_read(client, argv, reply)
        is_caching = argv[0].upper() == b"CLIENT" and len(argv) > 1 and argv[1].upper() == b"CACHING"
        if not is_caching and client.queued is None:
            state.caching = None
        if not pending or state.redirect or client.protocol != 3:
            if pending:
                self._send(client, pending)  # to the redirect target: no reply to follow
            return reply
        push = Push([b"invalidate", pending])
        if reply is NO_REPLY:
            self._emit(client, push)
            return reply
        return Multiple([reply, push])

    def remember_if_read(self, client: Any, argv: list[bytes], reply: Any) -> None:
        state = client.tracking
        if state is None or state.broadcast or reply.__class__ is ErrorReply or not _read_only(argv):
            return
        if state.opt_in:
            remember = state.caching is True
        elif state.opt_out:
            remember = state.caching is not False
        else:
            remember = True
        if not remember:
            return
        table = self.table
        for key in command_keys(argv):
            table.setdefault(key, {})[client.client_id] = None
        if self.max_keys and len(table) > self.max_keys:
            for key in list(table)[: len(table) - self.max_keys]:
                self._invalidate_key(key, None)

    def touched(self, key: bytes) -> None:
        """`key` changed (the store's change observer)."""
        if key in self.table:
            self._invalidate_key(key, self.current)
        if self.prefixes:
            for prefix, subscribers in self.prefixes.items():
                if key.startswith(prefix):
                    pending = self.pending_broadcast.setdefault(prefix, {})
                    pending.setdefault(key, self.current)

    def _invalidate_key(self, key: bytes, writer: Any) -> None:
        ids = self.table.pop(key)
        for client_id in ids:
            client = self.server.client_by_id(client_id)
            if client is None or client.tracking is None or client.tracking.broadcast:
                continue
            if writer is client:
                if not client.tracking.no_loop:
                    self.pending_self.append(key)  # sent after the reply of the writer's command
                continue
            self._send(client, [key])

    def flushed(self, turn: int) -> None:
        """Every key is gone (FLUSHALL / FLUSHDB): every tracking client is told, once per
        turn however many shards were flushed."""
        if self._flushed_turn == turn:
            return
        self._flushed_turn = turn
        self.table.clear()
        self.pending_broadcast.clear()
        for client in self.server.sessions():
            if client.tracking is not None:
                self._send(client, None)

    _flushed_turn = -1

    def end_of_turn(self) -> None:
        """Send the broadcast invalidations of the turn, one message per prefix (Redis
        sends them once per event-loop cycle); NOLOOP clients do not hear of their own."""
        pending, self.pending_broadcast = self.pending_broadcast, {}
        for prefix, keys in pending.items():
            for client in list(self.prefixes.get(prefix, ())):
                state = client.tracking
                chosen = [key for key, writer in keys.items() if not (state.no_loop and writer is client)]
                if chosen:
                    self._send(client, chosen)

    def _send(self, client: Any, keys: list[bytes] | None) -> None:
        state = client.tracking
        target = client
        if state.redirect:
            target = self.server.client_by_id(state.redirect)
            if target is None:
                state.redirect_broken = True
                if client.protocol == 3:
                    self._emit(client, Push([b"tracking-redir-broken", state.redirect]))
                return
        if target.protocol == 3:
            self._emit(target, Push([b"invalidate", keys]))
        elif state.redirect and target.in_pubsub_mode():
            self._emit(target, Push([b"message", CHANNEL, keys]))

    def _emit(self, target: Any, message: Push) -> None:
        loop = self.server.loop
        if loop.is_open(target):
            loop.emit(target, target.encode(message))

    # -- statistics -------------------------------------------------------------------------------

    def total_items(self) -> int:
        return sum(len(ids) for ids in self.table.values())


def _read_only(argv: list[bytes]) -> bool:
    data = lookup(argv[0])
    return data is not None and "readonly" in data.flags and not data.subcommands


# -- CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO ------------------------------------------


def _tracking(server: Any, client: Any, argv: list[bytes]) -> Any:
    choice = argv[2].upper()
    if choice not in (b"ON", b"OFF"):
        return SYNTAX_ERROR
    state = TrackingState()
    prefixes: list[bytes] = []
    index = 3
    while index < len(argv):
        option = argv[index].upper()
        more = index + 1 < len(argv)
        if option == b"REDIRECT" and more:
            if state.redirect:
                return ErrorReply("ERR A client can only redirect to a single other client")
            number = parse_integer(argv[index + 1])
            if number is None:
                return ErrorReply("ERR value is not an integer or out of range")
            if server.client_by_id(number) is None:
                return ErrorReply("ERR The client ID you want redirect to does not exist")
            state.redirect = number
            index += 2
        elif option == b"BCAST":
            state.broadcast = True
            index += 1
        elif option == b"OPTIN":
            state.opt_in = True
            index += 1
        elif option == b"OPTOUT":
            state.opt_out = True
            index += 1
        elif option == b"NOLOOP":
            state.no_loop = True
            index += 1
        elif option == b"PREFIX" and more:
            prefixes.append(argv[index + 1])
            index += 2
        else:
            return SYNTAX_ERROR
    if choice == b"OFF":
        server.tracking.disable(client)
        return OK
    if state.opt_in and state.opt_out:
        return ErrorReply("ERR You can't specify both OPTIN mode and OPTOUT mode")
    if prefixes and not state.broadcast:
        return ErrorReply("ERR PREFIX option requires BCAST mode to be enabled")
    current = client.tracking
    if current is not None:
        if current.broadcast != state.broadcast:
            return ErrorReply(
                "ERR You can't switch BCAST mode on/off before disabling tracking for this client, "
                "and then re-enabling it with a different mode."
            )
        if (current.opt_in and state.opt_out) or (current.opt_out and state.opt_in):
            return ErrorReply(
                "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, "
                "and then re-enabling it with a different mode."
            )
    existing = list(current.prefixes) if current is not None else []
    for position, prefix in enumerate(prefixes):
        for label, others in (("an existing", existing), ("another provided", prefixes[position + 1 :])):
            for other in others:
                if prefix.startswith(other) or other.startswith(prefix):
                    return ErrorReply(
                        f"ERR Prefix '{prefix.decode('utf-8', 'replace')}' overlaps with {label} prefix "
                        f"'{other.decode('utf-8', 'replace')}'. Prefixes for a single client must not overlap."
                    )
    if current is not None and state.broadcast:
        prefixes = list(current.prefixes) + prefixes
    state.prefixes = tuple(prefixes)
    server.tracking.enable(client, state)
    return OK


def _caching(server: Any, client: Any, argv: list[bytes]) -> Any:
    choice = argv[2].upper()
    state = client.tracking
    if state is None or not (state.opt_in or state.opt_out):
        return ErrorReply("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or "
                          "OPTOUT mode enabled")
    if choice == b"YES":
        if not state.opt_in:
            return ErrorReply("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
        state.caching = True
    elif choice == b"NO":
        if not state.opt_out:
            return ErrorReply("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
        state.caching = False
    else:
        return SYNTAX_ERROR
    return OK


def _getredir(server: Any, client: Any, argv: list[bytes]) -> Any:
    state = client.tracking
    return -1 if state is None else state.redirect


def _tracking_info(server: Any, client: Any, argv: list[bytes]) -> Any:
    state = client.tracking
    if state is None:
        flags = [b"off"]
    else:
        flags = [b"on"]
        for present, name in ((state.broadcast, b"bcast"), (state.opt_in, b"optin"), (state.opt_out, b"optout"),
                              (state.caching is True, b"caching-yes"), (state.caching is False, b"caching-no"),
                              (state.no_loop, b"noloop"), (state.redirect_broken, b"broken_redirect")):
            if present:
                flags.append(name)
    redirect = -1 if state is None else state.redirect
    prefixes = list(state.prefixes) if state is not None else []
    return ReplyMap([b"flags", MemberSet(flags), b"redirect", redirect, b"prefixes", prefixes])


CLIENT_SUBCOMMANDS.update({
    b"TRACKING": (-3, _tracking),
    b"CACHING": (3, _caching),
    b"GETREDIR": (2, _getredir),
    b"TRACKINGINFO": (2, _tracking_info),
})
