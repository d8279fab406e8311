"""Container commands (XGROUP, XINFO): Redis 7.0's subcommand lookup and its error texts.

Redis 7.0 registers each subcommand with its own arity and checks both before the command
runs: an unknown name answers `ERR unknown subcommand '<name>'. Try XGROUP HELP.` (the name
as sent, cut to 128 bytes), a wrong count `ERR wrong number of arguments for 'xgroup|create'
command`. HELP answers status lines: the title, the command's own lines, then HELP's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kevy_persist.commands.context import CommandError
from kevy_persist.commands.replies import SimpleString

Subcommand = tuple[int, Callable[..., Any]]  # (arity counted from the container's name, handler)

# container name (lower case) -> its subcommand table, for introspection (COMMAND INFO lists
# the subcommands a container implements).
CONTAINERS: dict[str, dict[bytes, Subcommand]] = {}


def container(name: str, table: dict[bytes, Subcommand]) -> dict[bytes, Subcommand]:
    """Record `table` as container `name`'s subcommands; returns it."""
    CONTAINERS[name.lower()] = table
    return table


def find_subcommand(argv: list[bytes], container: str, table: dict[bytes, Subcommand]) -> Callable[..., Any]:
    """The handler for argv[1] (the caller's table arity guarantees argv[1] exists)."""
    name = argv[1].lower()
    entry = table.get(name)
    if entry is None:
        typed = argv[1][:128].decode("utf-8", "replace")
        raise CommandError(f"ERR unknown subcommand '{typed}'. Try {container.upper()} HELP.")
    arity, handler = entry
    if len(argv) != arity and (arity > 0 or len(argv) < -arity):
        raise CommandError(f"ERR wrong number of arguments for '{container.lower()}|{name.decode()}' command")
    return handler


def syntax_error(argv: list[bytes], container: str) -> CommandError:
    """addReplySubcommandSyntaxError: the subcommand was found but its arguments are wrong."""
    typed = argv[1][:128].decode("utf-8", "replace")
    return CommandError(
        f"ERR unknown subcommand or wrong number of arguments for '{typed}'. Try {container.upper()} HELP."
    )


def help_reply(container: str, lines: list[str]) -> list[SimpleString]:
    title = f"{container.upper()} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    return [SimpleString(line) for line in [title, *lines, "HELP", "    Prints this help."]]
