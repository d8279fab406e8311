"""Connection- and server-level verbs that are not in the store's command table.

Each handler takes `(session, argv)` and returns a reply in the model of
`kevy_persist.commands.replies` (or `NO_REPLY`: send nothing, as SHUTDOWN does). `HANDLERS`
maps the upper-case verb to its handler; every other verb goes to the store.

What the persistence verbs promise:
- SAVE: synchronous snapshot of every shard, then a fresh log; OK once the files are durable.
- BGSAVE / BGREWRITEAOF: run synchronously here (the client waits) and then answer the Redis
  texts "Background saving started" / "Background append only file rewriting started".
- SHUTDOWN [NOSAVE|SAVE]: SAVE first when asked (or by default when the log is off, since
  nothing else would keep the data); then the server stops accepting, drains connections and
  calls `Store.shutdown()`, which fsyncs every log. The client gets no reply (the connection
  closes), as with Redis. A failed save answers an error and the server keeps running.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

from kevy_persist import KevyError
from kevy_persist.commands import COMMAND_TABLE, ErrorReply, SimpleString
from kevy_persist.commands.context import wrong_arity
from kevy_persist.commands.replies import OK, PONG

from . import info
from .info import REDIS_VERSION

NO_REPLY = object()  # the request is answered by closing the connection

Handler = Callable[[Any, list[bytes]], Any]
HANDLERS: dict[bytes, Handler] = {}

SYNTAX_ERROR = ErrorReply("ERR syntax error")
NOT_AN_INTEGER = ErrorReply("ERR value is not an integer or out of range")
WRONGPASS = ErrorReply("WRONGPASS invalid username-password pair or user is disabled.")
NO_PASSWORD = ErrorReply(
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)


def _verb(name: str, arity: int) -> Callable[[Handler], Handler]:
    """Register a handler with a Redis arity (positive exact, negative minimum)."""

    def register(handler: Handler) -> Handler:
        def checked(session: Any, argv: list[bytes]) -> Any:
            argc = len(argv)
            if argc != arity and (arity > 0 or argc < -arity):
                return ErrorReply(wrong_arity(argv[0]))
            return handler(session, argv)

        HANDLERS[name.encode()] = checked
        return handler

    return register


def _integer(text: bytes) -> int | None:
    digits = text[1:] if text[:1] == b"-" else text
    return int(text) if digits.isdigit() and len(digits) < 20 else None


@_verb("PING", -1)
def ping(session: Any, argv: list[bytes]) -> Any:
    if len(argv) > 2:
        return ErrorReply(wrong_arity(argv[0]))
    return PONG if len(argv) == 1 else argv[1]


@_verb("ECHO", 2)
def echo(session: Any, argv: list[bytes]) -> Any:
    return argv[1]


@_verb("SELECT", 2)
def select(session: Any, argv: list[bytes]) -> Any:
    database = _integer(argv[1])
    if database is None:
        return NOT_AN_INTEGER
    return OK if database == 0 else ErrorReply("ERR DB index is out of range")


@_verb("AUTH", -2)
def auth(session: Any, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        return SYNTAX_ERROR
    if len(argv) == 2 and session.server.requirepass is None:
        return NO_PASSWORD  # Redis's answer to the one-argument form without a password
    return _authenticate(session, argv[1] if len(argv) == 3 else b"default", argv[-1])


def _authenticate(session: Any, username: bytes, password: bytes) -> Any:
    """Only the `default` user exists; without requirepass it takes any password (nopass)."""
    required = session.server.requirepass
    if username != b"default":
        return WRONGPASS
    if required is None:
        return OK
    if not hmac.compare_digest(password, required.encode()):
        return WRONGPASS
    session.authenticated = True
    return OK


@_verb("HELLO", -1)
def hello(session: Any, argv: list[bytes]) -> Any:
    """HELLO [2 [AUTH user pass] [SETNAME name]]; only RESP2 is spoken (3 -> NOPROTO)."""
    if len(argv) >= 2:
        version = _integer(argv[1])
        if version is None:
            return ErrorReply("ERR Protocol version is not an integer or out of range")
        if version != 2:
            return ErrorReply("NOPROTO sorry, this protocol version is not supported")
    index = 2
    while index < len(argv):
        option = argv[index].upper()
        if option == b"AUTH" and index + 2 < len(argv):
            reply = _authenticate(session, argv[index + 1], argv[index + 2])
            if isinstance(reply, ErrorReply):
                return reply
            index += 3
        elif option == b"SETNAME" and index + 1 < len(argv):
            session.name = argv[index + 1]
            index += 2
        else:
            return ErrorReply(f"ERR Syntax error in HELLO option '{option.decode('utf-8', 'replace')}'")
    if not session.authenticated:
        return ErrorReply("NOAUTH HELLO must be called with the client already authenticated, "
                          "otherwise the HELLO <proto> AUTH <user> <pass> option can be used")
    return [
        b"server", b"redis", b"version", REDIS_VERSION.encode(), b"proto", 2,
        b"id", session.client_id, b"mode", b"standalone", b"role", b"master", b"modules", [],
    ]


@_verb("CLIENT", -2)
def client(session: Any, argv: list[bytes]) -> Any:
    subcommand = argv[1].upper()
    if subcommand == b"ID" and len(argv) == 2:
        return session.client_id
    if subcommand == b"GETNAME" and len(argv) == 2:
        return session.name
    if subcommand == b"SETNAME" and len(argv) == 3:
        if any(byte <= 32 or byte >= 127 for byte in argv[2]):
            return ErrorReply("ERR Client names cannot contain spaces, newlines or special characters.")
        session.name = argv[2] or None
        return OK
    if subcommand == b"SETINFO" and len(argv) == 4:
        return OK  # library name and version: accepted and not kept
    if subcommand == b"LIST" and len(argv) == 2:
        return "".join(info.client_line(other) for other in session.server.sessions()).encode()
    if subcommand == b"INFO" and len(argv) == 2:
        return info.client_line(session).encode()
    return ErrorReply(f"ERR unknown subcommand or wrong number of arguments for '{argv[1].decode('utf-8', 'replace')}'")


@_verb("COMMAND", -1)
def command(session: Any, argv: list[bytes]) -> Any:
    """COMMAND, COUNT, LIST, INFO name..., DOCS (empty: enough for redis-cli)."""
    names = _all_command_names()
    subcommand = argv[1].upper() if len(argv) > 1 else None
    if subcommand is None:
        return [_command_entry(name) for name in names]
    if subcommand == b"COUNT" and len(argv) == 2:
        return len(names)
    if subcommand == b"LIST" and len(argv) == 2:
        return [name.encode() for name in names]
    if subcommand == b"INFO":
        known = set(names)
        return [_command_entry(name) if name in known else None
                for name in (argument.decode("utf-8", "replace").lower() for argument in argv[2:])]
    if subcommand == b"DOCS":
        return []
    return ErrorReply(f"ERR unknown subcommand or wrong number of arguments for '{argv[1].decode('utf-8', 'replace')}'")


def _all_command_names() -> list[str]:
    server_names = {name.decode().lower() for name in HANDLERS}
    server_names |= {"multi", "exec", "discard", "watch", "unwatch", "quit"}
    return sorted(server_names | {name.decode() for name in COMMAND_TABLE})


def _command_entry(name: str) -> list[Any]:
    spec = COMMAND_TABLE.get(name.encode())
    if spec is None:
        return [name.encode(), -1, [SimpleString("admin" if name in ("shutdown", "config") else "fast")], 0, 0, 0]
    flags = [SimpleString(flag) for flag in sorted(spec.flags)]
    return [name.encode(), spec.arity, flags, spec.first_key, spec.last_key, spec.key_step]


@_verb("INFO", -1)
def info_command(session: Any, argv: list[bytes]) -> Any:
    sections = [argument.decode("utf-8", "replace").lower() for argument in argv[1:]]
    return info.info_text(session.server, sections).encode()


@_verb("CONFIG", -2)
def config(session: Any, argv: list[bytes]) -> Any:
    subcommand = argv[1].upper()
    if subcommand == b"GET" and len(argv) >= 3:
        return info.config_get(session.server, argv[2:])
    if subcommand == b"SET" and len(argv) >= 4 and len(argv) % 2 == 0:
        return info.config_set(session.server, argv[2:])
    if subcommand == b"RESETSTAT" and len(argv) == 2:
        return OK
    return ErrorReply(f"ERR unknown subcommand or wrong number of arguments for '{argv[1].decode('utf-8', 'replace')}'")


@_verb("SAVE", 1)
def save(session: Any, argv: list[bytes]) -> Any:
    session.server.save()
    return OK


@_verb("BGSAVE", -1)
def bgsave(session: Any, argv: list[bytes]) -> Any:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].upper() != b"SCHEDULE"):
        return SYNTAX_ERROR
    session.server.save()  # synchronous: see the module docstring
    return SimpleString("Background saving started")


@_verb("BGREWRITEAOF", 1)
def bgrewriteaof(session: Any, argv: list[bytes]) -> Any:
    if not session.server.config.appendonly:
        return ErrorReply("ERR the append only file is off (appendonly no)")
    session.server.store.rewrite_log()  # synchronous: see the module docstring
    return SimpleString("Background append only file rewriting started")


@_verb("LASTSAVE", 1)
def lastsave(session: Any, argv: list[bytes]) -> Any:
    return session.server.last_save_unix


@_verb("TIME", 1)
def time_command(session: Any, argv: list[bytes]) -> Any:
    now_us = time.time_ns() // 1000
    return [str(now_us // 1_000_000).encode(), str(now_us % 1_000_000).encode()]


@_verb("SHUTDOWN", -1)
def shutdown(session: Any, argv: list[bytes]) -> Any:
    server = session.server
    save_requested: bool | None = None
    for argument in argv[1:]:
        option = argument.upper()
        if option == b"SAVE":
            save_requested = True
        elif option == b"NOSAVE":
            save_requested = False
        elif option not in (b"NOW", b"FORCE"):
            return SYNTAX_ERROR
    if save_requested is None:
        save_requested = not server.config.appendonly
    if save_requested:
        try:
            server.save()
        except KevyError:
            return ErrorReply("ERR Errors trying to SHUTDOWN. Check logs.")
    server.request_shutdown(save=False)
    session.closing = True
    return NO_REPLY
