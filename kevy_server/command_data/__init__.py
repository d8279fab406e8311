"""Redis 7.0's description of its commands, as kevy-server serves it (COMMAND INFO / DOCS,
ACL categories, key specs).

The data is `redis-7.0.15.json`, captured from a real redis-server 7.0.15 by `capture.py`
(its docstring gives the typed-JSON grammar). It is read once, on first use, and turned
into the server's reply model (`ReplyMap` for maps, `MemberSet` for sets, `SimpleString`,
bytes, integers, lists), so an entry re-encodes in RESP2 or RESP3 exactly as Redis sends it.

What it answers:
- `entry(name)`: a `CommandData` for a command or a `container|sub` subcommand: its COMMAND
  INFO reply, COMMAND DOCS reply, ACL categories, key specs and flags; None for a name
  Redis 7.0 does not have;
- `redis_command_names()`: every command of Redis 7.0 (what COMMAND LIST answers there);
- `category_names()`: the ACL categories, in Redis's order.

One entry is not Redis 7.0's: `client|setinfo` (Redis 7.2's, which clients of 7.2 send and
kevy implements) is described here from Redis 7.2's command table.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import attrs

from kevy_persist.commands.replies import MemberSet, SimpleString

from ..replies import ReplyMap

__all__ = ["CommandData", "category_names", "entry", "help_reply", "redis_command_names"]

DATA_PATH = os.path.join(os.path.dirname(__file__), "redis-7.0.15.json")

# Redis's ACL categories, in the order ACL CAT lists them (server.c's ACLCommandCategories).
_CATEGORIES = (
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
    "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking",
    "dangerous", "connection", "transaction", "scripting",
)

# Redis 7.2's CLIENT SETINFO, in the same typed JSON as the captured data.
_CLIENT_SETINFO_INFO = [
    "client|setinfo", 4, {"~": [{"+": "noscript"}, {"+": "loading"}, {"+": "stale"}]}, 0, 0, 0,
    {"~": [{"+": "@slow"}, {"+": "@connection"}]},
    {"~": ["request_policy:all_nodes", "response_policy:all_succeeded"]}, {"~": []}, {"~": []},
]
_CLIENT_SETINFO_DOCS = {"%": [
    "summary", "Sets information specific to the client or connection.", "since", "7.2.0",
    "group", "connection", "complexity", "O(1)",
    "arguments", [{"%": ["name", "attr", "type", "oneof", "arguments", [
        {"%": ["name", "libname", "type", "string", "token", "LIB-NAME"]},
        {"%": ["name", "libver", "type", "string", "token", "LIB-VER"]},
    ]]}],
]}


@attrs.frozen
class CommandData:
    """What Redis says about one command or subcommand."""

    name: str  # lower case; `container|sub` for a subcommand
    info: list[Any]  # the COMMAND INFO entry (10 elements), subcommands included
    docs: ReplyMap  # the COMMAND DOCS map for the name
    flags: frozenset[str]
    categories: frozenset[str]  # without the '@'
    key_specs: tuple[dict[str, Any], ...]  # plain dicts: flags, begin_search, find_keys
    subcommands: tuple[str, ...]  # `container|sub` names, in Redis's order
    help_lines: tuple[str, ...] = ()  # what `name HELP` answers (containers)


def _model(value: Any) -> Any:
    """Typed JSON -> the reply model."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list):
        return [_model(item) for item in value]
    if isinstance(value, dict):
        ((tag, content),) = value.items()
        if tag == "+":
            return SimpleString(content)
        if tag == "%":
            return ReplyMap(_model(item) for item in content)
        if tag == "~":
            return MemberSet(_model(item) for item in content)
        if tag == "#":
            return bool(content)
        raise AssertionError(f"unexpected typed value {value!r}")
    return value


def _plain(value: Any) -> Any:
    """Typed JSON -> plain Python (maps as dicts, sets as lists), for reading key specs."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        ((tag, content),) = value.items()
        if tag == "%":
            return {content[index]: _plain(content[index + 1]) for index in range(0, len(content), 2)}
        if tag in ("~", "#", "+", ","):
            return _plain(content) if tag != "+" else content
    return value


def _build(info: list[Any], docs: dict[str, Any]) -> CommandData:
    name = info[0]
    flags = frozenset(item["+"] for item in info[2]["~"])
    categories = frozenset(item["+"].lstrip("@") for item in info[6]["~"])
    key_specs = tuple(_plain(spec) for spec in info[8]["~"])
    return CommandData(name, _model(info), _model(docs), flags, categories, key_specs, ())


@functools.cache
def _table() -> tuple[dict[str, CommandData], tuple[str, ...]]:
    with open(DATA_PATH, encoding="utf-8") as handle:
        data = json.load(handle)
    table: dict[str, CommandData] = {}
    for name, raw in data["commands"].items():
        info, docs = raw["info"], raw["docs"]
        # Redis sends the subcommands as an array, or as an empty set when there are none.
        sub_infos = list(info[9]) if isinstance(info[9], list) else []
        sub_docs = _docs_of_subcommands(docs)
        if name == "client":
            sub_infos.append(_CLIENT_SETINFO_INFO)
            sub_docs["client|setinfo"] = _CLIENT_SETINFO_DOCS
            info = [*info[:9], sub_infos]
            docs = _with_subcommand_docs(docs, sub_docs)
        names = []
        for sub_info in sub_infos:
            sub_name = sub_info[0]
            names.append(sub_name)
            table[sub_name] = _build(sub_info, sub_docs.get(sub_name, {"%": []}))
        container = _build(info, docs)
        table[name] = attrs.evolve(container, subcommands=tuple(names), help_lines=tuple(raw.get("help", ())))
    return table, tuple(sorted(data["commands"]))


def _docs_of_subcommands(docs: dict[str, Any]) -> dict[str, Any]:
    fields = docs["%"]
    for index in range(0, len(fields), 2):
        if fields[index] == "subcommands":
            items = fields[index + 1]["%"]
            return {items[position]: items[position + 1] for position in range(0, len(items), 2)}
    return {}


def _with_subcommand_docs(docs: dict[str, Any], sub_docs: dict[str, Any]) -> dict[str, Any]:
    fields = list(docs["%"])
    index = fields.index("subcommands")
    fields[index + 1] = {"%": [item for pair in sub_docs.items() for item in pair]}
    return {"%": fields}


def entry(name: str) -> CommandData | None:
    """The data for `name` (a command, or `container|sub`), any case."""
    return _table()[0].get(name.lower())


def help_reply(container: str) -> list[SimpleString]:
    """Redis's `CONTAINER HELP` lines, as status replies."""
    found = entry(container)
    assert found is not None and found.help_lines, f"no HELP text for {container}"
    return [SimpleString(line) for line in found.help_lines]


def redis_command_names() -> tuple[str, ...]:
    return _table()[1]


def category_names() -> tuple[str, ...]:
    return _CATEGORIES
