"""COMMAND: what the server implements, described as Redis 7.0 describes it.

- COMMAND / COMMAND INFO [name...]: Redis 7.0's 10-element entry for every command kevy
  implements (`command_data`: arity, flags, key range, ACL categories, tips, key specs,
  subcommands), with the subcommand list cut to the subcommands kevy implements; an unknown
  name answers a null in its place. `container|sub` names a subcommand.
- COMMAND COUNT: the implemented commands (not subcommands).
- COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN glob]: their names, the
  implemented subcommands as `container|sub` (no module exists, so MODULE lists nothing).
- COMMAND DOCS [name...]: Redis 7.0's documentation map of each (summary, since, group,
  complexity, arguments...), subcommands cut as for INFO; unknown names are left out.
- COMMAND GETKEYS / GETKEYSANDFLAGS cmd arg...: the keys of a full command, found by the
  command's key specs (`key_specs.py`), or by kevy's own key finder when the specs cannot
  say (SORT's STORE); GETKEYSANDFLAGS adds each key's spec flags (RO, RW, OW, RM, access,
  update, insert, delete). Errors are Redis's: "Invalid command specified", "Invalid number
  of arguments specified for command", "Invalid arguments specified for command", "The
  command has no key arguments".

Which commands are implemented: the store's command table plus the server's verbs; which
subcommands: the store's containers (`kevy_persist.commands.subcommands.CONTAINERS`) and the
server's (`verbs.SUBCOMMANDS`).
"""

from __future__ import annotations

import functools
from typing import Any

from kevy_persist.commands import COMMAND_TABLE, ErrorReply, SimpleString
from kevy_persist.commands.glob import glob_match
from kevy_persist.commands.replies import MemberSet
from kevy_persist.commands.subcommands import CONTAINERS

from . import command_data
from .key_specs import IncompleteSpecs, InvalidKeys, flags_for_position, keys_with_flags
from .replies import ReplyMap
from .verbs import SUBCOMMANDS, VERBS, dispatch_subcommand, subcommands, verb

__all__ = ["implemented_commands", "implemented_subcommands", "lookup", "request_keys"]

INVALID_COMMAND = ErrorReply("ERR Invalid command specified")
INVALID_ARGUMENT_COUNT = ErrorReply("ERR Invalid number of arguments specified for command")
INVALID_ARGUMENTS = ErrorReply("ERR Invalid arguments specified for command")
NO_KEYS = ErrorReply("ERR The command has no key arguments")



# -- what is implemented ------------------------------------------------------------------------


def implemented_commands() -> list[str]:
    return sorted({name.decode().lower() for name in VERBS} | {name.decode() for name in COMMAND_TABLE})


def implemented_subcommands(container: str) -> frozenset[str]:
    """`container|sub` names kevy implements for `container` (lower case)."""
    names = SUBCOMMANDS.get(container)
    if names is None:
        names = CONTAINERS.get(container)
    if not names:
        return frozenset()
    return frozenset(f"{container}|{name.decode().lower()}" for name in names)


@functools.cache
def _implemented_names() -> frozenset[str]:
    names = set(implemented_commands())
    for name in list(names):
        names |= implemented_subcommands(name)
    return frozenset(names)


def lookup(name: bytes) -> command_data.CommandData | None:
    """Redis's data for `name` (a command or `container|sub`) when kevy implements it."""
    text = name.decode("utf-8", "replace").lower()
    if text not in _implemented_names():
        return None
    return command_data.entry(text)


def _resolve(argv: list[bytes]) -> command_data.CommandData | None:
    """The command a full request runs: its subcommand's data for a container."""
    data = lookup(argv[0])
    if data is not None and data.subcommands and len(argv) > 1:
        sub = lookup(argv[0] + b"|" + argv[1])
        if sub is not None:
            return sub
    return data


# -- INFO and DOCS entries ----------------------------------------------------------------------


def info_entry(data: command_data.CommandData) -> list[Any]:
    entry = list(data.info)
    if data.subcommands:
        implemented = implemented_subcommands(data.name)
        entry[9] = [sub for sub in entry[9] if sub[0].decode() in implemented]
    return entry


def docs_entry(data: command_data.CommandData) -> ReplyMap:
    docs = ReplyMap(data.docs)
    if data.subcommands:
        implemented = implemented_subcommands(data.name)
        for index in range(0, len(docs), 2):
            if docs[index] == b"subcommands":
                pairs = docs[index + 1]
                kept = ReplyMap()
                for position in range(0, len(pairs), 2):
                    if pairs[position].decode() in implemented:
                        kept += [pairs[position], pairs[position + 1]]
                docs[index + 1] = kept
    return docs


# -- keys -----------------------------------------------------------------------------------------


def request_keys(argv: list[bytes]) -> list[tuple[int, tuple[str, ...]]] | ErrorReply:
    """(position, flags) of every key `argv` names, or COMMAND GETKEYS's error."""
    data = _resolve(argv)
    if data is None:
        return INVALID_COMMAND
    if not any("not_key" not in spec["flags"] for spec in data.key_specs):
        return NO_KEYS  # Redis checks this before the argument count
    arity = data.info[1]
    if (arity > 0 and len(argv) != arity) or len(argv) < -arity:
        return INVALID_ARGUMENT_COUNT
    try:
        return keys_with_flags(data, argv)
    except InvalidKeys:
        return INVALID_ARGUMENTS
    except IncompleteSpecs:
        return [(position, flags_for_position(data, argv, position)) for position in _own_key_positions(argv)]


def _own_key_positions(argv: list[bytes]) -> list[int]:
    spec = COMMAND_TABLE.get(argv[0].lower())
    if spec is not None:
        return spec.key_indexes(argv)
    found = VERBS.get(argv[0].upper())
    keys = found.key_arguments(argv) if found is not None else []
    positions, start = [], 1
    for key in keys:  # the verbs name their keys by value, in argument order
        position = argv.index(key, start)
        positions.append(position)
        start = position + 1
    return positions


# -- the verb -----------------------------------------------------------------------------------


def _count(server: Any, client: Any, argv: list[bytes]) -> Any:
    return len(implemented_commands())


def _list(server: Any, client: Any, argv: list[bytes]) -> Any:
    names = sorted(_implemented_names())
    if len(argv) == 2:
        return [name.encode() for name in names]
    if len(argv) != 5 or argv[2].upper() != b"FILTERBY":
        return ErrorReply("ERR syntax error")
    kind, value = argv[3].upper(), argv[4]
    if kind == b"MODULE":
        return []
    if kind == b"ACLCAT":
        category = value.decode("utf-8", "replace").lower()
        chosen = []
        for name in names:
            data = command_data.entry(name)
            if data is not None and category in data.categories:
                chosen.append(name)
        return [name.encode() for name in chosen]
    if kind == b"PATTERN":
        return [name.encode() for name in names if glob_match(value.lower(), name.encode())]
    return ErrorReply("ERR syntax error")


def _info(server: Any, client: Any, argv: list[bytes]) -> Any:
    if len(argv) == 2:
        return [info_entry(command_data.entry(name)) for name in implemented_commands()]
    replies: list[Any] = []
    for name in argv[2:]:
        data = lookup(name)
        replies.append(None if data is None else info_entry(data))
    return replies


def _docs(server: Any, client: Any, argv: list[bytes]) -> Any:
    names = [name.encode() for name in implemented_commands()] if len(argv) == 2 else argv[2:]
    reply = ReplyMap()
    for name in names:
        data = lookup(name)
        if data is not None:
            reply += [data.name.encode(), docs_entry(data)]
    return reply


def _getkeys(server: Any, client: Any, argv: list[bytes]) -> Any:
    found = request_keys(argv[2:])
    if isinstance(found, ErrorReply):
        return found
    if not found:
        return NO_KEYS
    return [argv[2 + position] for position, _ in found]


def _getkeys_and_flags(server: Any, client: Any, argv: list[bytes]) -> Any:
    found = request_keys(argv[2:])
    if isinstance(found, ErrorReply):
        return found
    if not found:
        return NO_KEYS
    return [[argv[2 + position], MemberSet(SimpleString(flag) for flag in flags)] for position, flags in found]


def _help(server: Any, client: Any, argv: list[bytes]) -> Any:
    return command_data.help_reply("command")


COMMAND_SUBCOMMANDS = subcommands("command", {
    b"COUNT": (2, _count),
    b"LIST": (-2, _list),
    b"INFO": (-2, _info),
    b"DOCS": (-2, _docs),
    b"GETKEYS": (-4, _getkeys),
    b"GETKEYSANDFLAGS": (-4, _getkeys_and_flags),
    b"HELP": (2, _help),
})


@verb("COMMAND", -1, "")
def command(server: Any, client: Any, argv: list[bytes]) -> Any:
    if len(argv) == 1:
        return _info(server, client, [argv[0], b"INFO"])
    return dispatch_subcommand(server, client, argv, COMMAND_SUBCOMMANDS)
