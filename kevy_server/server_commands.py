"""Server verbs: INFO, CONFIG, TIME, and the persistence verbs (COMMAND: `introspection.py`).

What the persistence verbs promise:
- SAVE: synchronous snapshot of every shard, then a fresh log; OK once the files are durable
  (the loop first writes every pending record and waits for the fsync in flight). Refused
  with Redis's `ERR Background save already in progress` while a BGSAVE runs.
- BGSAVE [SCHEDULE] / BGREWRITEAOF: start a background job (`persistence.py`) and answer at
  once with Redis 7.0's texts: started, scheduled (BGREWRITEAOF during a BGSAVE, BGSAVE
  SCHEDULE during a rewrite, either inside EXEC), or the in-progress errors.
- LASTSAVE: the unix time of the last successful save (SAVE or BGSAVE) of every shard.
- SHUTDOWN [NOSAVE|SAVE]: SAVE first when asked (a failed save answers an error and the
  server keeps running); then the server stops accepting, drains connections and calls
  `Store.shutdown(save=...)`: False after NOSAVE (or after the SAVE just made), None
  without an option (the store saves a shard whose log is long, or every shard when the
  log is off and save points are set -- Redis's rule). The client gets no reply (the
  connection closes), as with Redis.
"""

from __future__ import annotations

import time
from typing import Any

from kevy_persist import KevyError
from kevy_persist.commands import ErrorReply
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
    refusal = server.persistence.save()
    return OK if refusal is None else refusal


@verb("BGSAVE", -1, "admin")
def bgsave(server: Any, client: Any, argv: list[bytes]) -> Any:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].upper() != b"SCHEDULE"):
        return SYNTAX_ERROR
    return server.persistence.bgsave(schedule=len(argv) == 2)


@verb("BGREWRITEAOF", 1, "admin")
def bgrewriteaof(server: Any, client: Any, argv: list[bytes]) -> Any:
    if not server.config.appendonly:
        return ErrorReply("ERR the append only file is off (appendonly no)")
    return server.persistence.bgrewriteaof()


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
    if save_requested and server.persistence.bgsave_running():
        pass  # the store's shutdown cancels the BGSAVE, then saves (Redis kills its child)
    elif save_requested:
        try:
            server.save()
        except KevyError:
            return ErrorReply("ERR Errors trying to SHUTDOWN. Check logs.")
        save_requested = False  # saved just now: the store need not save again
    server.request_shutdown(save=save_requested)
    client.closing = True
    return NO_REPLY
