"""CLIENT KILL, PAUSE / UNPAUSE, REPLY, NO-EVICT: the CLIENT subcommands that act on
connections, with Redis 7.0's arguments, replies and error texts.

- CLIENT KILL addr:port (the old form: OK, or "ERR No such client"), or filters ID, TYPE
  (normal, master, replica/slave, pubsub), USER, ADDR, LADDR, SKIPME yes|no (yes by
  default): the number of clients closed. Another client is closed at once (what it had
  been sent stays sent); the caller itself, when it matches, after this reply.
- CLIENT PAUSE ms [WRITE|ALL] (ALL by default) holds back commands until the pause ends
  (the timeout, or CLIENT UNPAUSE): with ALL every command of every client waits --
  CLIENT UNPAUSE from another client too, as in Redis --, with WRITE only the commands that
  may change data (Redis's `write` and `may_replicate` flags; an EXEC whose queue holds one).
  A held client runs nothing after the held command (its order is kept) and resumes where it
  stopped. Pauses combine as Redis combines them: the later end and the stronger mode win.
  Monitors are never held (Redis exempts replicas), and the ticker stops reaping expired
  keys while a pause lasts (a key read meanwhile still expires lazily, which Redis avoids).
- CLIENT REPLY ON|OFF|SKIP: OFF drops every reply to this client from this command on
  (errors too), SKIP only the next command's; ON answers OK and replies again.
- CLIENT NO-EVICT ON|OFF: kept and shown by CLIENT LIST (flag `e`); kevy evicts nothing.
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.replies import OK

from .client import Client
from .connection_commands import CLIENT_SUBCOMMANDS, SYNTAX_ERROR, parse_integer
from .info import client_type
from .introspection import lookup
from .loop import NO_REPLY

__all__ = ["Pause"]

CLIENT_TYPES = {b"normal": "normal", b"master": "master", b"replica": "slave", b"slave": "slave", b"pubsub": "pubsub"}


class _Postponed:
    """`client.blocked` of a client whose command waits for the end of a pause."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "POSTPONED"


class Pause:
    POSTPONED = _Postponed()

    def __init__(self, server: Any) -> None:
        self.server = server
        self.mode: str | None = None  # "write" or "all" while a pause lasts
        self.end_ms = 0
        self.postponed: dict[Any, None] = {}

    @property
    def active(self) -> bool:
        return self.mode is not None

    def start(self, timeout_ms: int, mode: str) -> None:
        loop = self.server.loop
        end_ms = loop.now_ms + timeout_ms
        if self.mode != "all":
            self.mode = mode
        if end_ms > self.end_ms:
            self.end_ms = end_ms
            loop.add_timer(timeout_ms, self._check_end)
        if not Client.all_gated:
            Client.all_gated = True
            for client in self.server.sessions():
                client.update_gate()

    def _check_end(self) -> None:
        if self.mode is not None and self.server.loop.now_ms >= self.end_ms:
            self.end()

    def end(self) -> None:
        """The pause is over: held clients run, in the order they were held."""
        self.mode = None
        self.end_ms = 0
        Client.all_gated = False
        for client in self.server.sessions():
            client.update_gate()
        held, self.postponed = list(self.postponed), {}
        for client in held:
            if client.blocked is self.POSTPONED:
                client.blocked = None
                self.server.loop.resume(client)

    def holds(self, client: Any, argv: list[bytes]) -> bool:
        """Whether `argv` from `client` must wait for the end of the pause."""
        if self.mode is None or client.monitoring:
            return False
        if self.mode == "all":
            return True
        if argv[0].upper() == b"EXEC" and client.queued:
            return any(_may_write(queued) for queued in client.queued)
        return _may_write(argv)

    def postpone(self, client: Any, argv: list[bytes]) -> Any:
        """Hold `argv` (it runs again when the pause ends); the loop stops reading the
        client's other requests meanwhile."""
        client.backlog.appendleft(argv)
        client.blocked = self.POSTPONED
        self.postponed[client] = None
        record = self.server.stats.record_for(argv)
        if record is not None:
            record[0] -= 1  # the loop counts this request now; it is counted when it runs
        return NO_REPLY

    def forget(self, client: Any) -> None:
        self.postponed.pop(client, None)


def _may_write(argv: list[bytes]) -> bool:
    data = lookup(argv[0])
    if data is not None and data.subcommands and len(argv) > 1:
        data = lookup(argv[0] + b"|" + argv[1]) or data
    return data is not None and bool({"write", "may_replicate"} & data.flags)


# -- CLIENT KILL -------------------------------------------------------------------------------


def _kill(server: Any, client: Any, argv: list[bytes]) -> Any:
    if len(argv) == 3:  # CLIENT KILL addr:port
        address = argv[2].decode("utf-8", "replace")
        for other in server.sessions():
            if other.address == address:
                _close(server, client, other)
                return OK
        return ErrorReply("ERR No such client")
    if len(argv) % 2:
        return SYNTAX_ERROR
    filters: list[Any] = []
    skip_me = True
    for index in range(2, len(argv), 2):
        option, value = argv[index].upper(), argv[index + 1]
        if option == b"ID":
            number = parse_integer(value)
            if number is None or number <= 0:
                return ErrorReply("ERR client-id should be greater than 0")
            filters.append(lambda other, number=number: other.client_id == number)
        elif option == b"TYPE":
            kind = CLIENT_TYPES.get(value.lower())
            if kind is None:
                return ErrorReply(f"ERR Unknown client type '{value.decode('utf-8', 'replace')}'")
            filters.append(lambda other, kind=kind: client_type(other) == kind)
        elif option == b"USER":
            if server.acl.user(value) is None:
                return ErrorReply(f"ERR No such user '{value.decode('utf-8', 'replace')}'")
            filters.append(lambda other, name=value: user_name(other) == name)
        elif option == b"ADDR":
            filters.append(lambda other, text=value.decode("utf-8", "replace"): other.address == text)
        elif option == b"LADDR":
            filters.append(lambda other, text=value.decode("utf-8", "replace"): other.local_address == text)
        elif option == b"SKIPME":
            choice = value.lower()
            if choice not in (b"yes", b"no"):
                return SYNTAX_ERROR
            skip_me = choice == b"yes"
        else:
            return SYNTAX_ERROR
    killed = 0
    for other in server.sessions():
        if (skip_me and other is client) or not all(test(other) for test in filters):
            continue
        _close(server, client, other)
        killed += 1
    return killed


def _close(server: Any, caller: Any, target: Any) -> None:
    if target is caller:
        target.closing = True  # after this reply
        target.close_reason = "killed by CLIENT KILL"
    else:
        server.loop.close_client(target, "killed by CLIENT KILL")


def user_name(client: Any) -> bytes:
    return client.user.name if client.user is not None else b"default"


# -- PAUSE, REPLY, NO-EVICT ------------------------------------------------------------------------


def _pause(server: Any, client: Any, argv: list[bytes]) -> Any:
    timeout_ms = parse_integer(argv[2])
    if timeout_ms is None:
        return ErrorReply("ERR timeout is not an integer or out of range")
    if timeout_ms < 0:
        return ErrorReply("ERR timeout is negative")
    mode = "all"
    if len(argv) == 4:
        choice = argv[3].upper()
        if choice not in (b"WRITE", b"ALL"):
            return ErrorReply("ERR CLIENT PAUSE mode must be WRITE or ALL")
        mode = choice.decode().lower()
    elif len(argv) > 4:
        return SYNTAX_ERROR
    server.pause.start(timeout_ms, mode)
    return OK


def _unpause(server: Any, client: Any, argv: list[bytes]) -> Any:
    if server.pause.active:
        server.pause.end()
    return OK


def _reply(server: Any, client: Any, argv: list[bytes]) -> Any:
    choice = argv[2].upper()
    if choice == b"ON":
        client.reply_off = False
        client.skip_replies = 0
        client.update_gate()
        return OK
    if choice == b"OFF":
        client.reply_off = True
    elif choice == b"SKIP":
        if not client.reply_off:
            client.skip_replies = SKIP_NEXT
    else:
        return SYNTAX_ERROR
    client.update_gate()
    # OFF and SKIP have no reply of their own; inside EXEC they still take their place in
    # its array (Redis sends nothing there and shifts the array's later replies).
    return OK if server.dispatcher.in_exec else NO_REPLY


# `client.skip_replies`: SKIP_NEXT after CLIENT REPLY SKIP; SKIP_THIS while the command it
# skips runs (Redis's CLIENT_REPLY_SKIP_NEXT and CLIENT_REPLY_SKIP).
SKIP_NEXT, SKIP_THIS = 2, 1


def silence(client: Any, reply: Any) -> Any:
    """After a command of a client under CLIENT REPLY OFF / SKIP: its reply, or none; a
    pending SKIP moves on to the next command."""
    if client.reply_off:
        reply = NO_REPLY
    elif client.skip_replies == SKIP_THIS:
        reply = NO_REPLY
    if client.skip_replies:
        client.skip_replies -= 1
        if not client.skip_replies:
            client.update_gate()
    return reply


def _no_evict(server: Any, client: Any, argv: list[bytes]) -> Any:
    choice = argv[2].upper()
    if choice not in (b"ON", b"OFF"):
        return SYNTAX_ERROR
    client.no_evict = choice == b"ON"
    return OK


CLIENT_SUBCOMMANDS.update({
    b"KILL": (-3, _kill),
    b"PAUSE": (-3, _pause),
    b"UNPAUSE": (2, _unpause),
    b"REPLY": (3, _reply),
    b"NO-EVICT": (3, _no_evict),
})
