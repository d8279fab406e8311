"""Server verbs: INFO, CONFIG, COMMAND, TIME, and the persistence verbs.

What the persistence verbs promise:
- SAVE: synchronous snapshot of every shard, then a fresh log; OK once the files are durable
  (the loop first writes every pending record and waits for the fsync in flight).
- BGSAVE / BGREWRITEAOF: run synchronously here (the client waits) and then answer the Redis
  texts "Background saving started" / "Background append only file rewriting started".
- SHUTDOWN [NOSAVE|SAVE]: SAVE first when asked (or by default when the log is off, since
  nothing else would keep the data); then the server stops accepting, drains connections and
  calls `Store.shutdown()`, which fsyncs every log. The client gets no reply (the connection
  closes), as with Redis. A failed save answers an error and the server keeps running.
"""

from __future__ import annotations

import time
from typing import Any

from kevy_persist import KevyError
from kevy_persist.commands import COMMAND_TABLE, ErrorReply, SimpleString
from kevy_persist.commands.replies import OK, MemberSet

from . import info
from .connection_commands import CLIENT_SUBCOMMANDS
from .loop import NO_REPLY
from .replies import ReplyMap, Verbatim
from .verbs import VERBS, subcommand_arity, unknown_subcommand, verb

SYNTAX_ERROR = ErrorReply("ERR syntax error")


@verb("INFO", -1, "")
def info_command(server: Any, client: Any, argv: list[bytes]) -> Any:
    sections = [argument.decode("utf-8", "replace").lower() for argument in argv[1:]]
    return Verbatim(info.info_text(server, sections).encode())


@verb("CONFIG", -2, "")
def config(server: Any, client: Any, argv: list[bytes]) -> Any:
    subcommand = argv[1].upper()
    if subcommand == b"GET":
        return subcommand_arity(argv, -3) or ReplyMap(info.config_get(server, argv[2:]))
    if subcommand == b"SET":
        error = subcommand_arity(argv, -4)
        if error is not None or len(argv) % 2:
            return error or ErrorReply("ERR wrong number of arguments for 'config|set' command")
        return info.config_set(server, argv[2:])
    if subcommand == b"RESETSTAT":
        return subcommand_arity(argv, 2) or info.reset_statistics(server)
    return unknown_subcommand(argv)


@verb("SAVE", 1, "admin no-multi")
def save(server: Any, client: Any, argv: list[bytes]) -> Any:
    server.save()
    return OK


@verb("BGSAVE", -1, "admin")
def bgsave(server: Any, client: Any, argv: list[bytes]) -> Any:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].upper() != b"SCHEDULE"):
        return SYNTAX_ERROR
    server.save()  # synchronous: see the module docstring
    return SimpleString("Background saving started")


@verb("BGREWRITEAOF", 1, "admin")
def bgrewriteaof(server: Any, client: Any, argv: list[bytes]) -> Any:
    if not server.config.appendonly:
        return ErrorReply("ERR the append only file is off (appendonly no)")
    server.rewrite_log()  # synchronous: see the module docstring
    return SimpleString("Background append only file rewriting started")


@verb("LASTSAVE", 1, "fast")
def lastsave(server: Any, client: Any, argv: list[bytes]) -> Any:
    return server.last_save_unix


@verb("TIME", 1, "fast")
def time_command(server: Any, client: Any, argv: list[bytes]) -> Any:
    now_us = time.time_ns() // 1000
    return [str(now_us // 1_000_000).encode(), str(now_us % 1_000_000).encode()]


@verb("SHUTDOWN", -1, "admin no-multi")
def shutdown(server: Any, client: Any, argv: list[bytes]) -> Any:
    save_requested: bool | None = None
    for argument in argv[1:]:
        option = argument.upper()
        if option == b"SAVE":
            save_requested = True
        elif option == b"NOSAVE":
            save_requested = False
        elif option not in (b"NOW", b"FORCE", b"ABORT"):
            return SYNTAX_ERROR
    if save_requested is None:
        save_requested = not server.config.appendonly
    if save_requested:
        try:
            server.save()
        except KevyError:
            return ErrorReply("ERR Errors trying to SHUTDOWN. Check logs.")
    server.request_shutdown(save=False)
    client.closing = True
    return NO_REPLY


# -- COMMAND ------------------------------------------------------------------------------------


@verb("COMMAND", -1, "")
def command(server: Any, client: Any, argv: list[bytes]) -> Any:
    """COMMAND, COUNT, LIST, INFO name..., DOCS (an empty map: enough for redis-cli)."""
    names = all_command_names()
    if len(argv) == 1:
        return [command_entry(name) for name in names]
    subcommand = argv[1].upper()
    if subcommand == b"COUNT":
        return subcommand_arity(argv, 2) or len(names)
    if subcommand == b"LIST":
        # Redis lists the subcommands too, as `container|sub` (COUNT counts only commands).
        return subcommand_arity(argv, -2) or [name.encode() for name in names + subcommand_names()]
    if subcommand == b"INFO":
        known = set(names)
        wanted = [argument.decode("utf-8", "replace").lower() for argument in argv[2:]] or names
        return [command_entry(name) if name in known else None for name in wanted]
    if subcommand == b"DOCS":
        return ReplyMap()
    return unknown_subcommand(argv)


def subcommand_names() -> list[str]:
    """The subcommands the server's container verbs implement, as `container|sub`."""
    containers = {
        "client": [name.decode().lower() for name in CLIENT_SUBCOMMANDS],
        "config": ["get", "set", "resetstat"],
        "command": ["count", "docs", "info", "list"],
        "pubsub": ["channels", "numpat", "numsub", "shardchannels", "shardnumsub"],
    }
    return sorted(f"{container}|{sub}" for container, subs in containers.items() for sub in subs)


def all_command_names() -> list[str]:
    return sorted({name.decode().lower() for name in VERBS} | {name.decode() for name in COMMAND_TABLE})


def command_entry(name: str) -> list[Any]:
    spec = COMMAND_TABLE.get(name.encode())
    if spec is not None:
        flags = MemberSet(SimpleString(flag) for flag in sorted(spec.flags))  # a set in RESP3, as in Redis
        return [name.encode(), spec.arity, flags, spec.first_key, spec.last_key, spec.key_step]
    found = VERBS[name.upper().encode()]
    shown = [flag.replace("-", "_") for flag in found.flags if flag not in ("transaction", "subscribed")]
    return [name.encode(), found.arity, MemberSet(SimpleString(flag) for flag in sorted(shown)),
            found.first_key, found.last_key, found.key_step]
