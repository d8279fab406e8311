"""Server verbs: INFO, CONFIG, TIME, and the persistence verbs (COMMAND: `introspection.py`).

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
from kevy_persist.commands import ErrorReply, SimpleString
from kevy_persist.commands.replies import OK

from . import command_data, info
from .loop import NO_REPLY
from .replies import ReplyMap, Verbatim
from .settings import rewritten_file, write_durably
from .verbs import dispatch_subcommand, subcommands, verb

SYNTAX_ERROR = ErrorReply("ERR syntax error")


@verb("INFO", -1, "")
def info_command(server: Any, client: Any, argv: list[bytes]) -> Any:
    sections = [argument.decode("utf-8", "replace").lower() for argument in argv[1:]]
    return Verbatim(info.info_text(server, sections).encode())


def _config_get(server: Any, client: Any, argv: list[bytes]) -> Any:
    return ReplyMap(info.config_get(server, argv[2:]))


def _config_set(server: Any, client: Any, argv: list[bytes]) -> Any:
    if len(argv) % 2:
        return ErrorReply("ERR wrong number of arguments for 'config|set' command")
    return info.config_set(server, argv[2:])


def _config_resetstat(server: Any, client: Any, argv: list[bytes]) -> Any:
    return info.reset_statistics(server)


def _config_help(server: Any, client: Any, argv: list[bytes]) -> Any:
    return command_data.help_reply("config")


def _config_rewrite(server: Any, client: Any, argv: list[bytes]) -> Any:
    """Write the live settings into the TOML file the server was started from."""
    path = server.config.config_file
    if path is None:
        return ErrorReply("ERR The server is running without a config file")
    try:
        write_durably(path, rewritten_file(path, info.live_settings(server)))
    except OSError as error:
        return ErrorReply(f"ERR Rewriting config file: {error.strerror}")
    return OK


CONFIG_SUBCOMMANDS = subcommands("config", {
    b"GET": (-3, _config_get),
    b"SET": (-4, _config_set),
    b"RESETSTAT": (2, _config_resetstat),
    b"REWRITE": (2, _config_rewrite),
    b"HELP": (2, _config_help),
})


@verb("CONFIG", -2, "")
def config(server: Any, client: Any, argv: list[bytes]) -> Any:
    return dispatch_subcommand(server, client, argv, CONFIG_SUBCOMMANDS)


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
