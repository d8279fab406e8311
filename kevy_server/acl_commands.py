"""The server's ACL: its users, AUTH against them, NOPERM checks, the ACL verb, the aclfile.

Users live in `AccessControl.users` (name -> `acl.User`); the `default` user is always
there and, unless configured otherwise, is `on nopass ~* &* +@all`, which is today's
behaviour: a new connection is authenticated as `default` when that user is on and needs no
password (`requirepass` gives it one: CONFIG SET requirepass resets its passwords to that
one, "" makes it `nopass` again, as in Redis 7.0).

- AUTH [user] password / HELLO ... AUTH user password: the user must exist, be on, and take
  the password (any, when nopass); otherwise WRONGPASS, and the attempt is logged in the
  ACL log (reason `auth`).
- Every request of a client whose user has limits is checked before it runs (the
  dispatcher calls `check`): NOPERM with Redis 7.0's texts for a command, a key or a channel
  the user may not use; each refusal goes to the ACL log. EXEC checks its queue again.
- ACL CAT / DELUSER / DRYRUN / GENPASS / GETUSER / LIST / LOAD / LOG / SAVE / SETUSER /
  USERS / WHOAMI / HELP (the verb is in acl_verb.py), with Redis's replies and errors. DELUSER closes the connections of
  the users it removes; ACL LOAD, as in Redis 7.0, closes every connection authenticated as
  a user other than `default`; a SETUSER that takes channels away closes the user's
  subscribers that no longer qualify.
- The aclfile (`--aclfile`, CONFIG GET aclfile): lines `user <name> <rules...>`, read at
  start (a missing or bad file stops the start, as in Redis) and by ACL LOAD (all or
  nothing: any bad line leaves the users as they were and answers Redis's error listing
  the lines). ACL SAVE writes every user's description with a durable replace: a temporary
  file in the same directory, fsync, rename over the aclfile, fsync of the directory -- so
  after a crash the file is the old list or the new one, never a mix.
"""

from __future__ import annotations

import hmac
import os
import time
from collections import deque
from typing import Any

from kevy_persist.commands import ErrorReply

from .acl import (
    DENIED_AUTH,
    DENIED_CHANNEL,
    DENIED_COMMAND,
    DENIED_KEY,
    RuleError,
    Selector,
    User,
    check_request,
    hash_password,
    merge_selector_arguments,
)
from .info import client_line
from .introspection import lookup, request_keys
from .key_specs import needs_read, needs_write

__all__ = ["AccessControl", "AclFileError"]

ACL_LOG_MAX_LENGTH = 128
NO_ACL_FILE = ErrorReply(
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the "
    "ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) "
    "in order to store users in the Redis configuration."
)
_CHANNEL_COMMANDS = {
    "publish": (1, 2, False), "spublish": (1, 2, False),
    "subscribe": (1, None, False), "ssubscribe": (1, None, False), "psubscribe": (1, None, True),
}
_REASONS = {DENIED_COMMAND: "command", DENIED_KEY: "key", DENIED_CHANNEL: "channel", DENIED_AUTH: "auth"}


class AclFileError(Exception):
    """The aclfile cannot be read or holds a bad line (the message is Redis's text)."""


class AccessControl:
    def __init__(self, server: Any, aclfile: str | None) -> None:
        self.server = server
        self.aclfile = aclfile
        self.default = User.default()
        self.users: dict[bytes, User] = {b"default": self.default}
        self.log: deque[dict[str, Any]] = deque()
        self.log_max_length = ACL_LOG_MAX_LENGTH
        if aclfile is not None:
            error = self.load_file()
            if error is not None:
                raise AclFileError(error)

    # -- users and passwords ------------------------------------------------------------------

    def user(self, name: bytes) -> User | None:
        return self.users.get(name)

    def default_needs_no_password(self) -> bool:
        return self.default.nopass and not self.default.disabled

    def set_requirepass(self, password: str | None) -> None:
        """CONFIG SET requirepass / --requirepass: the default user's one password, or none."""
        if password:
            self.default.apply_rule(b"resetpass")
            self.default.apply_rule(b">" + password.encode())
        else:
            self.default.apply_rule(b"nopass")

    def authenticate(self, client: Any, name: bytes, password: bytes, command: bytes) -> bool:
        user = self.users.get(name)
        if user is None or not _password_matches(user, password):
            self._log(client, DENIED_AUTH, "toplevel", command.decode("utf-8", "replace").upper(), name)
            return False
        client.user = user
        client.authenticated = True
        client.update_gate()
        return True

    def initial_user(self) -> tuple[User, bool]:
        """(user, authenticated) of a new connection."""
        return self.default, self.default_needs_no_password()

    # -- checking requests --------------------------------------------------------------------

    def check(self, client: Any, argv: list[bytes], context: str = "toplevel") -> ErrorReply | None:
        """NOPERM for a request `client`'s user may not run, else None."""
        denied = self.denial(client.user, argv)
        if denied is None:
            return None
        kind, position, name = denied
        self._log(client, kind, "multi" if client.queued is not None or context == "multi" else context,
                  name if kind == DENIED_COMMAND else argv[position].decode("utf-8", "replace"), client.user.name)
        if kind == DENIED_COMMAND:
            return ErrorReply(f"NOPERM this user has no permissions to run the '{name}' command")
        if kind == DENIED_KEY:
            return ErrorReply("NOPERM this user has no permissions to access one of the keys used as arguments")
        return ErrorReply("NOPERM this user has no permissions to access one of the channels used as arguments")

    def denial(self, user: User, argv: list[bytes]) -> tuple[int, int, str] | None:
        """(refusal kind, argument position, command full name), or None when allowed."""
        data = lookup(argv[0])
        if data is None:
            return None  # unknown: refused elsewhere
        if data.subcommands and len(argv) > 1:
            sub = lookup(argv[0] + b"|" + argv[1])
            if sub is None:
                return None  # an unknown subcommand: the verb answers it
            data = sub
        keys = []
        if not all(selector.all_keys for selector in user.selectors):
            found = request_keys(argv)
            if not isinstance(found, ErrorReply):
                keys = [(position, needs_read(flags), needs_write(flags)) for position, flags in found]
        channels = _channels(data.name, argv)
        kind, position = check_request(user, data.name, argv, "no_auth" in data.flags, keys, channels)
        if kind == 0:
            return None
        return kind, position, data.name

    def _log(self, client: Any, reason: int, context: str, target: str, name: bytes) -> None:
        entry = {"count": 1, "reason": _REASONS[reason], "context": context, "object": target,
                 "username": name.decode("utf-8", "replace"), "time": time.time(),
                 "client-info": client_line(self.server, client).rstrip("\n")}
        for existing in list(self.log)[:10]:
            if all(existing[field] == entry[field] for field in ("reason", "context", "object", "username")):
                self.log.remove(existing)
                existing["count"] += 1
                existing["time"], existing["client-info"] = entry["time"], entry["client-info"]
                self.log.appendleft(existing)
                return
        self.log.appendleft(entry)
        while len(self.log) > self.log_max_length:
            self.log.pop()

    # -- changing users --------------------------------------------------------------------------

    def set_user(self, name: bytes, rules: list[bytes], caller: Any = None) -> str | None:
        """ACL SETUSER: None, or Redis's error text (nothing changed then)."""
        existing = self.users.get(name)
        updated = existing.copy() if existing is not None else User(name)
        try:
            merged = merge_selector_arguments(rules)
        except RuleError as error:
            return f"ERR {error.reason}"
        for rule in merged:
            try:
                updated.apply_rule(rule)
            except RuleError as error:
                return f"ERR Error in ACL SETUSER modifier '{rule.decode('utf-8', 'replace')}': {error.reason}"
        if existing is None:
            self.users[name] = updated
            return None
        self._close_lost_subscribers(existing, updated, caller)
        _copy_into(existing, updated)
        for client in self.server.sessions():
            if client.user is existing:
                client.update_gate()
        return None

    def delete_users(self, names: list[bytes], caller: Any) -> int | ErrorReply:
        if b"default" in names:
            return ErrorReply("ERR The 'default' user cannot be removed")
        deleted = 0
        for name in names:
            user = self.users.pop(name, None)
            if user is None:
                continue
            deleted += 1
            self._close_clients_of(lambda client, user=user: client.user is user, caller)
        return deleted

    def _close_clients_of(self, chosen: Any, caller: Any) -> None:
        for client in self.server.sessions():
            if chosen(client):
                if client is caller:
                    client.closing = True  # after this reply
                else:
                    self.server.loop.close_client(client, "its ACL user was removed")

    def _close_lost_subscribers(self, before: User, after: User, caller: Any) -> None:
        if any(selector.all_channels for selector in after.selectors):
            return
        allowed = [channel for selector in after.selectors for channel in selector.channels]
        previous_all = any(selector.all_channels for selector in before.selectors)
        previous = [channel for selector in before.selectors for channel in selector.channels]
        if not previous_all and all(channel in allowed for channel in previous):
            return
        probe = User(b"probe", selectors=[_channels_only(allowed)])

        def lost(client: Any) -> bool:
            if client.user is not before or not client.in_pubsub_mode():
                return False
            return (any(not probe.root.may_use_channel(pattern, True) for pattern in client.patterns)
                    or any(not probe.root.may_use_channel(channel, False)
                           for channel in (*client.channels, *client.shard_channels)))

        self._close_clients_of(lost, caller)

    # -- the aclfile ------------------------------------------------------------------------------

    def load_file(self, caller: Any = None) -> str | None:
        """Read the aclfile into a fresh user set; None, or Redis's error text (nothing
        changed then)."""
        path = self.aclfile
        assert path is not None
        try:
            with open(path, "rb") as handle:
                text = handle.read()
        except OSError as error:
            return f"Error loading ACLs, opening file '{path}': {error.strerror}"
        users: dict[bytes, User] = {}
        errors = []
        for number, raw in enumerate(text.split(b"\n"), start=1):
            line = raw.strip(b" \t\r\n")
            if not line:
                continue
            words = [word for word in line.split(b" ") if word]
            if words[0] != b"user" or len(words) < 2:
                errors.append(f"{path}:{number} should start with user keyword followed by the username. ")
                continue
            name = words[1]
            if name in users:
                errors.append(f"WARNING: Duplicate user '{name.decode('utf-8', 'replace')}' found on line {number}. ")
                continue
            user = User(name)
            try:
                rules = merge_selector_arguments(words[2:])
            except RuleError:
                errors.append(f"{path}:{number}: Unmatched parenthesis in selector definition.")
                continue
            failed = False
            for rule in rules:
                try:
                    user.apply_rule(rule)
                except RuleError as error:
                    if error.reason == "Unknown command or category name in ACL":
                        errors.append(f"{path}:{number}: Error in applying operation "
                                      f"'{rule.decode('utf-8', 'replace')}': {error.reason}. ")
                    elif not failed:
                        errors.append(f"{path}:{number}: {error.reason}. ")
                    failed = True
            users[name] = user
        if errors:
            return "".join(errors) + "WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
        loaded_default = users.pop(b"default", None) or User.default()
        _copy_into(self.default, loaded_default)
        previous = self.users
        self.users = {b"default": self.default, **users}
        if len(previous) > 1 and getattr(self.server, "loop", None) is not None:
            # Redis 7.0 frees every user but default on ACL LOAD, and their connections with them.
            self._close_clients_of(lambda client: client.user is not None and client.user is not self.default, caller)
        return None

    def save_file(self) -> bool:
        path = self.aclfile
        assert path is not None
        lines = b"".join(b"user %b %b\n" % (name, user.describe().encode()) for name, user in sorted(self.users.items()))
        directory = os.path.dirname(os.path.abspath(path))
        temporary = f"{path}.tmp-{os.getpid()}-{int(time.time() * 1000)}"
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(lines)
                while view:
                    view = view[os.write(descriptor, view):]
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.rename(temporary, path)
            directory_descriptor = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(directory_descriptor)
            finally:
                os.close(directory_descriptor)
        except OSError:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            return False
        return True


def _password_matches(user: User, password: bytes) -> bool:
    if user.disabled:
        return False
    if user.nopass:
        return True
    candidate = hash_password(password)
    return any(hmac.compare_digest(candidate, stored) for stored in user.passwords)


def _copy_into(target: User, source: User) -> None:
    for field in ("enabled", "disabled", "nopass", "sanitize_skip", "sanitize", "passwords", "selectors",
                  "unrestricted"):
        setattr(target, field, getattr(source, field))


def _channels_only(channels: list[bytes]) -> Selector:
    selector = Selector(root=True)
    selector.channels = list(channels)
    return selector


def _channels(name: str, argv: list[bytes]) -> list[tuple[int, bool]]:
    shape = _CHANNEL_COMMANDS.get(name)
    if shape is None:
        return []
    start, end, is_pattern = shape
    end = len(argv) if end is None else min(end, len(argv))
    return [(position, is_pattern) for position in range(start, end)]
