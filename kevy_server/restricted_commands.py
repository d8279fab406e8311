"""DEBUG and MODULE as Redis 7.0 answers them with its defaults.

Redis 7.0 ships with `enable-debug-command no` and `enable-module-command no`: DEBUG and
MODULE LOAD / LOADEX / UNLOAD are refused with the texts below, while MODULE LIST (no
module is loaded: an empty list) and MODULE HELP answer. kevy-server has neither a debug
command set nor a module system, so it gives those same answers -- a client probing for
modules (MODULE LIST) sees none, and a test suite calling DEBUG sees Redis's refusal.
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands import ErrorReply

from . import command_data
from .verbs import dispatch_subcommand, subcommands, verb

DEBUG_REFUSAL = ErrorReply(
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it "
    "from a local connection, otherwise you need to set this option in the configuration file, and then "
    "restart the server."
)
MODULE_REFUSAL = ErrorReply(
    "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it "
    "from a local connection, otherwise you need to set this option in the configuration file, and then "
    "restart the server."
)


@verb("DEBUG", -2, "admin")
def debug(server: Any, client: Any, argv: list[bytes]) -> Any:
    return DEBUG_REFUSAL


def _module_list(server: Any, client: Any, argv: list[bytes]) -> Any:
    return []


def _module_refused(server: Any, client: Any, argv: list[bytes]) -> Any:
    return MODULE_REFUSAL


def _module_help(server: Any, client: Any, argv: list[bytes]) -> Any:
    return command_data.help_reply("module")


MODULE_SUBCOMMANDS = subcommands("module", {
    b"LIST": (2, _module_list),
    b"LOAD": (-3, _module_refused),
    b"LOADEX": (-3, _module_refused),
    b"UNLOAD": (3, _module_refused),
    b"HELP": (2, _module_help),
})


@verb("MODULE", -2, "admin")
def module(server: Any, client: Any, argv: list[bytes]) -> Any:
    return dispatch_subcommand(server, client, argv, MODULE_SUBCOMMANDS)
