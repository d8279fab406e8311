"""The ACL verb: ACL CAT / DELUSER / DRYRUN / GENPASS / GETUSER / LIST / LOAD / LOG / SAVE /
SETUSER / USERS / WHOAMI / HELP, with Redis 7.0's replies and errors, over the server's
`AccessControl` (acl_commands.py holds the users, AUTH, the NOPERM checks and the aclfile).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.replies import OK, Double, MemberSet

from . import command_data
from .acl import CATEGORIES, DENIED_COMMAND, DENIED_KEY, category_members
from .acl_commands import NO_ACL_FILE
from .introspection import lookup
from .replies import ReplyMap
from .verbs import dispatch_subcommand, subcommands, verb

def _name(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _setuser(server: Any, client: Any, argv: list[bytes]) -> Any:
    name = argv[2]
    if any(byte in b" \t\r\n\x00" for byte in name):
        return ErrorReply("ERR Usernames can't contain spaces or null characters")
    error = server.acl.set_user(name, argv[3:], client)
    return OK if error is None else ErrorReply(error)


def _deluser(server: Any, client: Any, argv: list[bytes]) -> Any:
    return server.acl.delete_users(argv[2:], client)


def _getuser(server: Any, client: Any, argv: list[bytes]) -> Any:
    user = server.acl.user(argv[2])
    if user is None:
        return None
    reply = ReplyMap([b"flags", MemberSet(name.encode() for name in user.flag_names()),
                      b"passwords", list(user.passwords)])
    reply += _selector_fields(user.root)
    reply += [b"selectors", [ReplyMap(_selector_fields(selector)) for selector in user.selectors[1:]]]
    return reply


def _selector_fields(selector: Any) -> list[Any]:
    return [b"commands", selector.describe_commands().encode(), b"keys", selector.describe_keys().encode(),
            b"channels", selector.describe_channels(False).encode()]


def _list(server: Any, client: Any, argv: list[bytes]) -> Any:
    return [b"user %b %b" % (name, user.describe().encode()) for name, user in sorted(server.acl.users.items())]


def _users(server: Any, client: Any, argv: list[bytes]) -> Any:
    return sorted(server.acl.users)


def _whoami(server: Any, client: Any, argv: list[bytes]) -> Any:
    return client.user.name if client.user is not None else b"default"


def _cat(server: Any, client: Any, argv: list[bytes]) -> Any:
    if len(argv) == 2:
        return [category.encode() for category in CATEGORIES]
    if len(argv) > 3:
        return ErrorReply("ERR unknown subcommand or wrong number of arguments for 'cat'. Try ACL HELP.")
    category = _name(argv[2]).lower()
    if category not in CATEGORIES:
        return ErrorReply(f"ERR Unknown category '{_name(argv[2])[:128]}'")
    return [name.encode() for name in category_members(category)]


def _genpass(server: Any, client: Any, argv: list[bytes]) -> Any:
    bits = 256
    if len(argv) == 3:
        text = argv[2]
        digits = text[1:] if text[:1] == b"-" else text
        if not digits.isdigit() or len(digits) > 18:
            return ErrorReply("ERR value is not an integer or out of range")
        bits = int(text)
        if bits <= 0 or bits > 4096:
            return ErrorReply("ERR ACL GENPASS argument must be the number of bits for the output password, "
                              "a positive number up to 4096")
    elif len(argv) > 3:
        return ErrorReply("ERR unknown subcommand or wrong number of arguments for 'genpass'. Try ACL HELP.")
    characters = (bits + 3) // 4
    return secrets.token_hex((characters + 1) // 2)[:characters].encode()


def _log(server: Any, client: Any, argv: list[bytes]) -> Any:
    log = server.acl.log
    count = 10
    if len(argv) == 3:
        if argv[2].upper() == b"RESET":
            log.clear()
            return OK
        text = argv[2]
        digits = text[1:] if text[:1] == b"-" else text
        if not digits.isdigit() or len(digits) > 18:
            return ErrorReply("ERR value is not an integer or out of range")
        count = max(int(text), 0)
    elif len(argv) > 3:
        return ErrorReply("ERR unknown subcommand or wrong number of arguments for 'log'. Try ACL HELP.")
    now = time.time()
    reply = []
    for entry in list(log)[:count]:
        reply.append(ReplyMap([
            b"count", entry["count"], b"reason", entry["reason"].encode(), b"context", entry["context"].encode(),
            b"object", entry["object"].encode(), b"username", entry["username"].encode(),
            b"age-seconds", Double(round(now - entry["time"], 3)), b"client-info", entry["client-info"].encode(),
        ]))
    return reply


def _dryrun(server: Any, client: Any, argv: list[bytes]) -> Any:
    user = server.acl.user(argv[2])
    if user is None:
        return ErrorReply(f"ERR User '{_name(argv[2])}' not found")
    request = argv[3:]
    data = lookup(request[0])
    if data is not None and data.subcommands and len(request) > 1:
        data = lookup(request[0] + b"|" + request[1]) or data
    if data is None:
        return ErrorReply(f"ERR Command '{_name(request[0])}' not found")
    arity = data.info[1]
    if (arity > 0 and arity != len(request)) or len(request) < -arity:
        return ErrorReply(f"ERR wrong number of arguments for '{data.name}' command")
    denied = server.acl.denial(user, request)
    if denied is None:
        return OK
    kind, position, name = denied
    if kind == DENIED_COMMAND:
        return f"This user has no permissions to run the '{name}' command".encode()
    what = "key" if kind == DENIED_KEY else "channel"
    return f"This user has no permissions to access the '{_name(request[position])}' {what}".encode()


def _load(server: Any, client: Any, argv: list[bytes]) -> Any:
    if server.acl.aclfile is None:
        return NO_ACL_FILE
    error = server.acl.load_file(client)
    return OK if error is None else ErrorReply(f"ERR {error}")


def _save(server: Any, client: Any, argv: list[bytes]) -> Any:
    if server.acl.aclfile is None:
        return NO_ACL_FILE
    if not server.acl.save_file():
        return ErrorReply("ERR There was an error trying to save the ACLs. Please check the server logs for more "
                          "information")
    return OK


def _help(server: Any, client: Any, argv: list[bytes]) -> Any:
    return command_data.help_reply("acl")


ACL_SUBCOMMANDS = subcommands("acl", {
    b"CAT": (-2, _cat),
    b"DELUSER": (-3, _deluser),
    b"DRYRUN": (-4, _dryrun),
    b"GENPASS": (-2, _genpass),
    b"GETUSER": (3, _getuser),
    b"LIST": (2, _list),
    b"LOAD": (2, _load),
    b"LOG": (-2, _log),
    b"SAVE": (2, _save),
    b"SETUSER": (-3, _setuser),
    b"USERS": (2, _users),
    b"WHOAMI": (2, _whoami),
    b"HELP": (2, _help),
})


@verb("ACL", -2, "")
def acl_command(server: Any, client: Any, argv: list[bytes]) -> Any:
    return dispatch_subcommand(server, client, argv, ACL_SUBCOMMANDS)
