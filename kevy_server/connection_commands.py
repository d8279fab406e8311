"""Connection verbs: PING, ECHO, SELECT, AUTH, HELLO, QUIT, RESET, CLIENT.

Texts and shapes are Redis 7.0's (checked against a real redis-server by the differential
tests), with two additions clients of Redis 7.2 rely on: `CLIENT SETINFO LIB-NAME|LIB-VER`
(kept and shown by CLIENT LIST) and the `lib-name` / `lib-ver` fields.

HELLO [protover [AUTH user pass] [SETNAME name]] switches the connection to RESP2 or RESP3
and answers the server's properties (a map in RESP3). AUTH and HELLO AUTH check ACL users
(`acl_commands.py`); the `default` user takes any password unless `requirepass` or ACL
SETUSER gave it one (Redis's `nopass`).
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.context import CommandError as ArgumentError  # the commands layer's
from kevy_persist.commands.database_arguments import database_index
from kevy_persist.commands.replies import OK, PONG, SimpleString

from . import command_data, info
from .info import REDIS_VERSION
from .replies import ReplyMap, Verbatim
from .transaction_commands import end_transaction
from .verbs import dispatch_subcommand, subcommands, verb

SYNTAX_ERROR = ErrorReply("ERR syntax error")
NOT_AN_INTEGER = ErrorReply("ERR value is not an integer or out of range")
WRONGPASS = ErrorReply("WRONGPASS invalid username-password pair or user is disabled.")
NO_PASSWORD = ErrorReply(
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
HELLO_NOAUTH = ErrorReply(
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
    "AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
    "protocol version at the same time"
)
BAD_NAME = ErrorReply("ERR Client names cannot contain spaces, newlines or special characters.")


def parse_integer(text: bytes) -> int | None:
    digits = text[1:] if text[:1] == b"-" else text
    return int(text) if digits.isdigit() and len(digits) < 20 and (digits == b"0" or digits[:1] != b"0") else None


@verb("PING", -1, "fast subscribed")
def ping(server: Any, client: Any, argv: list[bytes]) -> Any:
    if len(argv) > 2:
        return ErrorReply("ERR wrong number of arguments for 'ping' command")
    if client.protocol == 2 and client.in_pubsub_mode():
        return [b"pong", argv[1] if len(argv) == 2 else b""]
    return PONG if len(argv) == 1 else argv[1]


@verb("ECHO", 2, "fast")
def echo(server: Any, client: Any, argv: list[bytes]) -> Any:
    return argv[1]


@verb("SELECT", 2, "fast no-multi")
def select(server: Any, client: Any, argv: list[bytes]) -> Any:
    try:
        database = database_index(argv[1], server.store.databases.count)
    except ArgumentError as error:
        return error.reply()
    if server.config.cluster and database != 0:
        return ErrorReply("ERR SELECT is not allowed in cluster mode")
    client.database = database
    client.update_gate()
    return OK


@verb("AUTH", -2, "no-auth fast")
def auth(server: Any, client: Any, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        return SYNTAX_ERROR
    if len(argv) == 2 and server.acl.default.nopass:
        return NO_PASSWORD
    return authenticate(server, client, argv[1] if len(argv) == 3 else b"default", argv[-1], argv[0])


def authenticate(server: Any, client: Any, username: bytes, password: bytes, command: bytes = b"AUTH") -> Any:
    """Log `client` in as `username` (ACL users: `acl_commands.AccessControl`)."""
    if not server.acl.authenticate(client, username, password, command):
        return WRONGPASS
    return OK


def hello_map(server: Any, client: Any) -> ReplyMap:
    return ReplyMap([
        b"server", b"redis", b"version", REDIS_VERSION.encode(), b"proto", client.protocol,
        b"id", client.client_id, b"mode", b"standalone", b"role", b"master", b"modules", [],
    ])


@verb("HELLO", -1, "no-auth fast")
def hello(server: Any, client: Any, argv: list[bytes]) -> Any:
    protocol = None
    if len(argv) >= 2:
        protocol = parse_integer(argv[1])
        if protocol is None:
            return ErrorReply("ERR Protocol version is not an integer or out of range")
        if protocol not in (2, 3):
            return ErrorReply("NOPROTO unsupported protocol version")
    credentials = None
    name = None
    index = 2
    while index < len(argv):
        option = argv[index].upper()
        remaining = len(argv) - 1 - index
        if option == b"AUTH" and remaining >= 2:
            credentials = (argv[index + 1], argv[index + 2])
            index += 3
        elif option == b"SETNAME" and remaining >= 1:
            name = argv[index + 1]
            if not valid_name(name):
                return BAD_NAME
            index += 2
        else:
            return ErrorReply(f"ERR Syntax error in HELLO option '{argv[index].decode('utf-8', 'replace')}'")
    if credentials is not None:
        reply = authenticate(server, client, *credentials, b"HELLO")
        if isinstance(reply, ErrorReply):
            return reply
    if not client.authenticated:
        return HELLO_NOAUTH
    if name is not None:
        client.name = name or None
    if protocol is not None:
        client.set_protocol(protocol)
    return hello_map(server, client)


@verb("QUIT", -1, "no-auth transaction subscribed fast")
def quit_command(server: Any, client: Any, argv: list[bytes]) -> Any:
    client.closing = True
    return OK


@verb("RESET", 1, "no-auth transaction subscribed fast")
def reset(server: Any, client: Any, argv: list[bytes]) -> Any:
    """Back to a fresh connection's state: no MULTI, no watches, no subscriptions, no
    MONITOR, no tracking, replies on, no-evict off, database 0, RESP2, no name, the default user
    (not authenticated when it needs a password)."""
    end_transaction(server, client)
    server.pubsub.unsubscribe_everything(client)
    server.monitors.remove(client)
    server.tracking.disable(client)
    client.reply_off = False
    client.skip_replies = 0
    client.no_evict = False
    client.name = None
    client.database = 0
    client.set_protocol(2)
    client.user, client.authenticated = server.acl.initial_user()
    client.update_gate()
    return SimpleString("RESET")


def valid_name(name: bytes) -> bool:
    return not any(byte <= 32 or byte >= 127 for byte in name)


@verb("CLIENT", -2, "")
def client_command(server: Any, client: Any, argv: list[bytes]) -> Any:
    return dispatch_subcommand(server, client, argv, CLIENT_SUBCOMMANDS)


def _client_id(server: Any, client: Any, argv: list[bytes]) -> Any:
    return client.client_id


def _client_getname(server: Any, client: Any, argv: list[bytes]) -> Any:
    return client.name


def _client_setname(server: Any, client: Any, argv: list[bytes]) -> Any:
    if not valid_name(argv[2]):
        return BAD_NAME
    client.name = argv[2] or None
    return OK


def _client_setinfo(server: Any, client: Any, argv: list[bytes]) -> Any:
    attribute = argv[2].upper()
    if not valid_name(argv[3]):
        return ErrorReply(f"ERR {argv[2].decode('utf-8', 'replace')} cannot contain spaces, newlines or special characters.")
    if attribute == b"LIB-NAME":
        client.library_name = argv[3]
    elif attribute == b"LIB-VER":
        client.library_version = argv[3]
    else:
        return ErrorReply(f"ERR Unrecognized option '{argv[2].decode('utf-8', 'replace')}'")
    return OK


def _client_list(server: Any, client: Any, argv: list[bytes]) -> Any:
    chosen = server.sessions()
    index = 2
    while index < len(argv):
        option = argv[index].upper()
        if option == b"TYPE" and index + 1 < len(argv):
            kind = argv[index + 1].lower()
            if kind not in (b"normal", b"pubsub", b"master", b"replica", b"slave"):
                return ErrorReply(f"ERR Unknown client type '{argv[index + 1].decode('utf-8', 'replace')}'")
            chosen = [other for other in chosen if info.client_type(other) == kind.decode()]
            index += 2
        elif option == b"ID" and index + 1 < len(argv):
            wanted = set()
            for text in argv[index + 1 :]:
                number = parse_integer(text)
                if number is None or number <= 0:
                    return ErrorReply("ERR Invalid client ID")
                wanted.add(number)
            chosen = [other for other in chosen if other.client_id in wanted]
            index = len(argv)
        else:
            return SYNTAX_ERROR
    return Verbatim("".join(info.client_line(server, other) for other in chosen).encode())


def _client_info(server: Any, client: Any, argv: list[bytes]) -> Any:
    return Verbatim(info.client_line(server, client).encode())


def _client_unblock(server: Any, client: Any, argv: list[bytes]) -> Any:
    target_id = parse_integer(argv[2])
    if target_id is None:
        return NOT_AN_INTEGER
    as_error = False
    if len(argv) == 4:
        reason = argv[3].upper()
        if reason not in (b"TIMEOUT", b"ERROR"):
            return ErrorReply("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        as_error = reason == b"ERROR"
    elif len(argv) > 4:
        return SYNTAX_ERROR
    return 1 if server.blocking.unblock_by_id(target_id, as_error) else 0


def _client_help(server: Any, client: Any, argv: list[bytes]) -> Any:
    return command_data.help_reply("client")


# More subcommands join from `client_admin.py` (KILL, PAUSE, REPLY, TRACKING...).
CLIENT_SUBCOMMANDS = subcommands("client", {
    b"HELP": (2, _client_help),
    b"ID": (2, _client_id),
    b"GETNAME": (2, _client_getname),
    b"SETNAME": (3, _client_setname),
    b"SETINFO": (4, _client_setinfo),
    b"LIST": (-2, _client_list),
    b"INFO": (2, _client_info),
    b"UNBLOCK": (-3, _client_unblock),
})

__all__ = ["CLIENT_SUBCOMMANDS", "authenticate", "hello_map", "parse_integer", "valid_name"]
