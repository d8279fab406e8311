"""ACL users: their rules, how they are described back, and what they may run (Redis 7.0).

A user has flags (on/off, nopass, sanitize-payload), SHA-256 password hashes and a list of
*selectors*: the root one (rules written outside parentheses) and any others (`(...)`). A
selector allows a set of commands -- by full name, a subcommand as `container|sub`, over
Redis 7.0's whole command table (`command_data`), so categories mean what they mean in
Redis -- and key patterns (`~p` read and write, `%R~p`, `%W~p`, `allkeys`) and channel
patterns (`&p`, `allchannels`). A request is allowed when one selector allows its command
and every key and channel it names; otherwise the most relevant refusal is reported
(command < key < channel, the last argument for a tie), as Redis does.

Rules (`apply_rule`), as ACL SETUSER takes them: on, off, nopass, resetpass, >password,
<password, #hash, !hash, sanitize-payload, skip-sanitize-payload, reset, clearselectors,
(selector rules), +cmd, -cmd, +cmd|sub, +cmd|first-arg (Redis's deprecated form), +@cat,
-@cat, allcommands / +@all, nocommands / -@all, ~pattern, %R~ / %W~ / %RW~pattern, allkeys,
resetkeys, &pattern, allchannels, resetchannels. A rule that fails raises `RuleError` with
Redis's text; ACL SETUSER applies rules to a copy, so a failing rule changes nothing.

Descriptions (ACL LIST, ACL GETUSER, the aclfile) are built as Redis 7.0 builds them: start
from +@all (when the selector may run future commands) or -@all, add (or remove) whole
categories while a category has more commands in common than not, then name the single
commands that still differ. Redis walks its command table in a hash order its random seed
picks, so the single commands come in an order that changes from one redis-server process
to the next; here they come sorted.

Key checks follow the command's key specs: a key needs read permission when its spec says
`access`, write permission when it says `update`, `insert` or `delete` (`key_specs.py`).
"""

from __future__ import annotations

import copy
import hashlib
import re

import attrs

from .acl_selectors import BAD_HASH, CATEGORIES, NO_SUCH_PASSWORD, RuleError, Selector, category_members

__all__ = ["CATEGORIES", "RuleError", "Selector", "User", "category_members", "check_request", "hash_password",
           "merge_selector_arguments"]

OK, DENIED_COMMAND, DENIED_KEY, DENIED_AUTH, DENIED_CHANNEL = range(5)
_HASH = re.compile(rb"[0-9a-f]{64}")
_USER_FLAGS = ("on", "off", "nopass", "skip-sanitize-payload", "sanitize-payload")


def hash_password(password: bytes) -> bytes:
    return hashlib.sha256(password).hexdigest().encode()


# -- users ------------------------------------------------------------------------------------


@attrs.define
class User:
    name: bytes
    enabled: bool = False
    disabled: bool = True
    nopass: bool = False
    sanitize_skip: bool = False
    sanitize: bool = False
    passwords: list[bytes] = attrs.Factory(list)  # SHA-256 hex, in the order added
    selectors: list[Selector] = attrs.Factory(lambda: [Selector(root=True)])
    unrestricted: bool = False  # may run anything: the dispatcher's checks are skipped

    @classmethod
    def default(cls) -> User:
        user = cls(b"default")
        for rule in (b"+@all", b"~*", b"&*", b"on", b"nopass"):
            user.apply_rule(rule)
        return user

    @property
    def root(self) -> Selector:
        return self.selectors[0]

    def copy(self) -> User:
        return copy.deepcopy(self)

    def apply_rule(self, rule: bytes) -> None:
        lowered = rule.lower()
        if not rule:
            pass
        elif lowered == b"on":
            self.enabled, self.disabled = True, False
        elif lowered == b"off":
            self.enabled, self.disabled = False, True
        elif lowered == b"skip-sanitize-payload":
            self.sanitize_skip, self.sanitize = True, False
        elif lowered == b"sanitize-payload":
            self.sanitize_skip, self.sanitize = False, True
        elif lowered == b"nopass":
            self.nopass, self.passwords = True, []
        elif lowered == b"resetpass":
            self.nopass, self.passwords = False, []
        elif rule[:1] in (b">", b"#"):
            hashed = hash_password(rule[1:]) if rule[:1] == b">" else rule[1:]
            if rule[:1] == b"#" and not _HASH.fullmatch(hashed):
                raise RuleError(BAD_HASH)
            if hashed not in self.passwords:
                self.passwords.append(hashed)
            self.nopass = False
        elif rule[:1] in (b"<", b"!"):
            hashed = hash_password(rule[1:]) if rule[:1] == b"<" else rule[1:]
            if rule[:1] == b"!" and not _HASH.fullmatch(hashed):
                raise RuleError(BAD_HASH)
            if hashed not in self.passwords:
                raise RuleError(NO_SUCH_PASSWORD)
            self.passwords.remove(hashed)
        elif rule[:1] == b"(" and rule[-1:] == b")":
            selector = Selector()
            for part in _split_arguments(rule[1:-1]):
                selector.apply(part)
            self.selectors.append(selector)
        elif lowered == b"clearselectors":
            del self.selectors[1:]
        elif lowered == b"reset":
            for step in (b"resetpass", b"resetkeys", b"resetchannels", b"off", b"sanitize-payload",
                         b"clearselectors", b"-@all"):
                self.apply_rule(step)
        else:
            self.root.apply(rule)
        self.unrestricted = any(selector.unrestricted for selector in self.selectors)

    def check_password(self, password: bytes) -> bool:
        if self.disabled:
            return False
        if self.nopass:
            return True
        return hash_password(password) in self.passwords

    # -- descriptions ----------------------------------------------------------------------------

    def flag_names(self) -> list[str]:
        present = (self.enabled, self.disabled, self.nopass, self.sanitize_skip, self.sanitize)
        return [name for name, on in zip(_USER_FLAGS, present) if on]

    def describe(self) -> str:
        parts = self.flag_names() + ["#" + password.decode() for password in self.passwords]
        parts.append(self.root.describe())
        text = " ".join(part for part in parts if part)
        for selector in self.selectors[1:]:
            text += f" ({selector.describe()})"
        return text


def _split_arguments(text: bytes) -> list[bytes]:
    return [part for part in text.split(b" ") if part]


def merge_selector_arguments(rules: list[bytes]) -> list[bytes]:
    """Rules with each parenthesised selector spread over several arguments joined into one
    (ACL SETUSER passes `(~x`, `+get)` that way from an aclfile line); raises RuleError with
    Redis's text when a parenthesis is not closed."""
    merged: list[bytes] = []
    opened: list[bytes] | None = None
    for rule in rules:
        if opened is None and rule[:1] == b"(" and rule[-1:] != b")":
            opened = [rule]
        elif opened is not None:
            opened.append(rule)
            if rule[-1:] == b")":
                merged.append(b" ".join(opened))
                opened = None
        else:
            merged.append(rule)
    if opened is not None:
        start = opened[0].decode("utf-8", "replace")
        raise RuleError(f"Unmatched parenthesis in acl selector starting at '{start}'.")
    return merged


# -- checking a request -----------------------------------------------------------------------


def check_request(user: User, name: str, argv: list[bytes], no_auth: bool,
                  keys: list[tuple[int, bool, bool]], channels: list[tuple[int, bool]]) -> tuple[int, int]:
    """(refusal kind, argument position) for `user` running `argv` (command full name
    `name`); keys as (position, needs read, needs write), channels as (position, is pattern).
    (OK, 0) when one selector allows all of it."""
    relevant, position = DENIED_COMMAND, 0
    for selector in user.selectors:
        result, where = _check_selector(selector, name, argv, no_auth, keys, channels)
        if result == OK:
            return OK, 0
        if result > relevant or (result == relevant and where > position):
            relevant, position = result, where
    return relevant, position


def _check_selector(selector: Selector, name: str, argv: list[bytes], no_auth: bool,
                    keys: list[tuple[int, bool, bool]], channels: list[tuple[int, bool]]) -> tuple[int, int]:
    if not selector.may_run(name, argv, no_auth):
        return DENIED_COMMAND, 0
    if not selector.all_keys:
        for position, read, write in keys:
            if not selector.may_access(argv[position], read, write):
                return DENIED_KEY, position
    if not selector.all_channels:
        for position, is_pattern in channels:
            if not selector.may_use_channel(argv[position], is_pattern):
                return DENIED_CHANNEL, position
    return OK, 0
