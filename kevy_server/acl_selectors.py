"""ACL selectors: which commands, keys and channels one selector of a user allows (Redis 7.0).

A selector allows a set of commands -- by full name, a subcommand as `container|sub`, over
Redis 7.0's whole command table (`command_data`), so categories mean what they mean in
Redis -- and key patterns (`~p` read and write, `%R~p`, `%W~p`, `allkeys`) and channel
patterns (`&p`, `allchannels`). `Selector.apply` takes one rule as ACL SETUSER does and
raises `RuleError` with Redis's text; `describe` builds Redis 7.0's description of it (see
acl.py's docstring for the algorithm and the one place the order differs from Redis).
Users, passwords and checking a request against a user's selectors are in acl.py.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from kevy_persist.commands.glob import glob_match

from . import command_data

CATEGORIES = command_data.category_names()


class RuleError(Exception):
    """A rule ACL SETUSER (or an aclfile line) cannot apply; `reason` is Redis's text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


UNKNOWN = "Unknown command or category name in ACL"
SYNTAX = "Syntax error"
ALLKEYS_FIRST = (
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any "
    "effect. Try 'resetkeys' to start with an empty list of patterns"
)
ALLCHANNELS_FIRST = (
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any "
    "effect. Try 'resetchannels' to start with an empty list of channels"
)
NO_SUCH_PASSWORD = "The password you are trying to remove from the user does not exist"
BAD_HASH = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
SUBCOMMAND_FIRST_ARG = "Allowing first-arg of a subcommand is not supported"


# -- the command universe ---------------------------------------------------------------------


# Commands kevy implements that Redis 7.0 does not have, and the 7.0 command whose
# permission they follow (so that descriptions and category counts stay Redis 7.0's).
PERMISSION_ALIASES = {"client|setinfo": "client|setname"}


@functools.cache
def _universe() -> tuple[tuple[str, ...], dict[str, tuple[str, ...]], dict[str, frozenset[str]]]:
    """(top-level commands, container -> its subcommands, name -> categories) of Redis 7.0."""
    commands = command_data.redis_command_names()
    subcommands: dict[str, tuple[str, ...]] = {}
    categories: dict[str, frozenset[str]] = {}
    for name in commands:
        data = command_data.entry(name)
        categories[name] = data.categories
        subcommands[name] = tuple(sub for sub in data.subcommands if sub not in PERMISSION_ALIASES)
        for sub in subcommands[name]:
            categories[sub] = command_data.entry(sub).categories
    return commands, subcommands, categories


def _every_name() -> list[str]:
    commands, subcommands, _ = _universe()
    names = []
    for name in commands:
        names.append(name)
        names.extend(subcommands[name])
    return names


@functools.cache
def category_members(category: str) -> tuple[str, ...]:
    """Names whose category list holds `category`, in table order (subcommands after their
    container): what +@category walks."""
    _, _, categories = _universe()
    return tuple(name for name in _every_name() if category in categories[name])


# -- selectors --------------------------------------------------------------------------------


@attrs.define
class Selector:
    root: bool = False
    allowed: set[str] = attrs.Factory(set)
    all_commands: bool = False  # every bit set and none cleared since (+@all)
    future: bool = False  # +@all's reserved bit: may run commands added later
    first_args: dict[str, list[bytes]] = attrs.Factory(dict)
    all_keys: bool = False
    patterns: list[list[Any]] = attrs.Factory(list)  # [pattern, read, write], in order
    all_channels: bool = False
    channels: list[bytes] = attrs.Factory(list)

    # -- rules ----------------------------------------------------------------------------------

    def _change(self, name: str, allow: bool) -> None:
        """Allow or deny `name`; a container's subcommands follow it."""
        _, subcommands, _ = _universe()
        for target in (name, *subcommands.get(name, ())):
            if allow:
                self.allowed.add(target)
            else:
                self.allowed.discard(target)
                self.all_commands = False
        self.first_args.pop(name, None)

    def apply(self, rule: bytes) -> None:
        lowered = rule.lower()
        if lowered in (b"allkeys", b"~*"):
            self.all_keys, self.patterns = True, []
        elif lowered == b"resetkeys":
            self.all_keys, self.patterns = False, []
        elif lowered in (b"allchannels", b"&*"):
            self.all_channels, self.channels = True, []
        elif lowered == b"resetchannels":
            self.all_channels, self.channels = False, []
        elif lowered in (b"allcommands", b"+@all"):
            self.allowed = set(_every_name())
            self.all_commands = self.future = True
            self.first_args = {}
        elif lowered in (b"nocommands", b"-@all"):
            self.allowed = set()
            self.all_commands = self.future = False
            self.first_args = {}
        elif rule[:1] in (b"~", b"%"):
            self._add_key_pattern(rule)
        elif rule[:1] == b"&":
            if self.all_channels:
                raise RuleError(ALLCHANNELS_FIRST)
            if _has_spaces(rule[1:]):
                raise RuleError(SYNTAX)
            if rule[1:] not in self.channels:
                self.channels.append(rule[1:])
        elif rule[:1] in (b"+", b"-") and rule[1:2] == b"@":
            members = category_members(rule[2:].decode("utf-8", "replace").lower()) if rule[2:] else ()
            if rule[2:].decode("utf-8", "replace").lower() not in CATEGORIES:
                raise RuleError(UNKNOWN)
            for name in members:
                self._change(name, rule[:1] == b"+")
        elif rule[:1] == b"+":
            self._allow(rule[1:])
        elif rule[:1] == b"-":
            name = rule[1:].decode("utf-8", "replace").lower()
            if command_data.entry(name) is None:
                raise RuleError(UNKNOWN)
            self._change(name, False)
        else:
            raise RuleError(SYNTAX)

    def _allow(self, text: bytes) -> None:
        name = text.decode("utf-8", "replace").lower()
        if "|" not in name:
            if command_data.entry(name) is None:
                raise RuleError(UNKNOWN)
            self._change(name, True)
            return
        container, _, sub = name.rpartition("|")
        data = command_data.entry(container)
        if data is None:
            raise RuleError(UNKNOWN)
        if "|" in container:
            raise RuleError(SUBCOMMAND_FIRST_ARG)
        if not sub:
            raise RuleError(SYNTAX)
        if data.subcommands:
            if command_data.entry(name) is None:
                raise RuleError(UNKNOWN)
            self._change(name, True)
        else:  # Redis's deprecated "+select|0": one allowed first argument
            allowed = self.first_args.setdefault(container, [])
            first = text.rpartition(b"|")[2]
            if first.lower() not in (item.lower() for item in allowed):
                allowed.append(first)

    def _add_key_pattern(self, rule: bytes) -> None:
        if self.all_keys:
            raise RuleError(ALLKEYS_FIRST)
        read = write = False
        offset = 1
        if rule[:1] == b"%":
            while True:
                if offset >= len(rule):
                    raise RuleError(SYNTAX)
                letter = rule[offset : offset + 1].upper()
                if letter == b"R" and not read:
                    read = True
                elif letter == b"W" and not write:
                    write = True
                elif letter == b"~":
                    offset += 1
                    break
                else:
                    raise RuleError(SYNTAX)
                offset += 1
            if not (read or write):
                raise RuleError(SYNTAX)
        else:
            read = write = True
        pattern = rule[offset:]
        if _has_spaces(pattern):
            raise RuleError(SYNTAX)
        for existing in self.patterns:
            if existing[0] == pattern:
                existing[1] |= read
                existing[2] |= write
                return
        self.patterns.append([pattern, read, write])

    # -- checks ---------------------------------------------------------------------------------

    def may_run(self, name: str, argv: list[bytes], no_auth: bool) -> bool:
        allowed = self.allowed
        if self.all_commands or no_auth or name in allowed or PERMISSION_ALIASES.get(name) in allowed:
            return True
        firsts = self.first_args.get(name)
        position = 2 if "|" in name else 1
        return bool(firsts) and len(argv) > position and argv[position].lower() in (
            item.lower() for item in firsts)

    def may_access(self, key: bytes, read: bool, write: bool) -> bool:
        if self.all_keys:
            return True
        for pattern, can_read, can_write in self.patterns:
            if (read and not can_read) or (write and not can_write):
                continue
            if glob_match(pattern, key):
                return True
        return False

    def may_use_channel(self, channel: bytes, is_pattern: bool) -> bool:
        if self.all_channels:
            return True
        for pattern in self.channels:
            if (is_pattern and pattern == channel) or (not is_pattern and glob_match(pattern, channel)):
                return True
        return False

    # -- description ----------------------------------------------------------------------------

    def describe_keys(self) -> str:
        if self.all_keys:
            return "~*"
        parts = []
        for pattern, read, write in self.patterns:
            prefix = "~" if read and write else ("%R~" if read else "%W~")
            parts.append(prefix + pattern.decode("utf-8", "replace"))
        return " ".join(parts)

    def describe_channels(self, for_list: bool) -> str:
        if self.all_channels:
            return "&*"
        parts = ["resetchannels"] if for_list else []
        parts += ["&" + channel.decode("utf-8", "replace") for channel in self.channels]
        return " ".join(parts)

    def describe_commands(self) -> str:
        return _describe_commands(self)

    def describe(self) -> str:
        parts = [self.describe_keys(), self.describe_channels(True), self.describe_commands()]
        return " ".join(part for part in parts if part)

    @property
    def unrestricted(self) -> bool:
        return self.all_commands and self.all_keys and self.all_channels


def _has_spaces(text: bytes) -> bool:
    return any(byte in b" \t\r\n\x00" for byte in text) if text else False


def _describe_commands(selector: Selector) -> str:
    """Redis 7.0's ACLDescribeSelectorCommandRules (see the module docstring)."""
    every = _every_name()
    additive = not selector.future
    rules = ["-@all" if additive else "+@all"]
    fake = Selector()
    fake.apply(b"-@all" if additive else b"+@all")
    temp = set(selector.allowed)
    applied: set[str] = set()
    while True:
        best, mindiff, maxsame = None, None, 0
        for category in CATEGORIES:
            if category in applied:
                continue
            members = category_members(category)
            on = sum(1 for name in members if name in temp)
            off = len(members) - on
            diff, same = (off, on) if additive else (on, off)
            if same > diff and (mindiff is None or diff < mindiff or (diff == mindiff and same > maxsame)):
                best, mindiff, maxsame = category, diff, same
        if best is None:
            break
        sign = "+" if additive else "-"
        fake.apply(f"{sign}@{best}".encode())
        inverse = Selector(allowed=temp)
        inverse.apply(f"{'-' if additive else '+'}@{best}".encode())
        temp = inverse.allowed
        rules.append(f"{sign}@{best}")
        applied.add(best)
    for name in sorted(every):
        user_bit, fake_bit = name in selector.allowed, name in fake.allowed
        if user_bit != fake_bit:
            rules.append(("+" if user_bit else "-") + name)
            fake._change(name, user_bit)
        if not user_bit:
            for first in selector.first_args.get(name, ()):
                rules.append(f"+{name}|{first.decode('utf-8', 'replace')}")
    assert fake.allowed == selector.allowed, "the description must rebuild the same commands"
    return " ".join(rules)
