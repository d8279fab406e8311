"""MIGRATE and RESTORE-ASKING: moving keys into another Redis (or kevy) over RESP.

MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw]
[KEYS key ...] does what Redis 7.0's `migrateCommand` does, in its order:
1. options are checked (syntax errors first; KEYS needs the key argument to be ""), then
   the timeout and the database index are parsed (a timeout <= 0 means 1000 ms);
2. the keys that exist here are looked up; none: `+NOKEY`;
3. one connection to the target (connect timeout: `-IOERR error or timeout connecting to
   the client`; a refused connection fails the write, as Redis only learns of it there),
   then one pipelined write: `AUTH [user] pw` when asked, `SELECT db`, and per
   key `RESTORE key ttl payload [REPLACE]` (`RESTORE-ASKING` in cluster mode) with the DUMP
   payload and the remaining TTL in ms (a key whose deadline passed is skipped, 1 ms at
   least otherwise);
4. the replies are read in order, each within `timeout`; the first error of AUTH, SELECT or
   a RESTORE answers `ERR Target instance replied with error: <its text>`; a key the target
   took is deleted here unless COPY -- through the store, so the deletion is logged (and
   replicated) as `DEL key...`, as Redis rewrites MIGRATE into DEL;
5. a failed write or read answers `IOERR error or timeout writing|reading to target
   instance` (retried once on a fresh connection when nothing was read yet and it was not a
   timeout, as Redis does).
The I/O blocks the event loop for the transfer, as it blocks Redis: MIGRATE is an operator's
tool (redis-cli --cluster import), bounded by its own timeout per step. Redis keeps the
connection for 10 s for the next MIGRATE; kevy connects each time (so SELECT is always sent).

RESTORE-ASKING is RESTORE (a cluster redirection flag kevy has no use for): it runs and logs
as RESTORE.
"""

from __future__ import annotations

import socket
from typing import Any

import hiredis

from kevy_persist.commands import ErrorReply, SimpleString
from kevy_persist.commands.replies import OK
from kevy_persist.formats.rdb_format import encode_dump_payload

from .connection_commands import parse_integer
from .verbs import verb

__all__ = ["MigrationIOError", "migrate_command"]

SYNTAX_ERROR = ErrorReply("ERR syntax error")
NOT_AN_INTEGER = ErrorReply("ERR value is not an integer or out of range")
KEYS_NEED_EMPTY_KEY = ErrorReply(
    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
)
CONNECT_FAILED = ErrorReply("IOERR error or timeout connecting to the client")
NOKEY = SimpleString("NOKEY")


class MigrationIOError(Exception):
    """The connection to the target failed while writing or reading (`stage`)."""

    def __init__(self, stage: str, timed_out: bool, read_anything: bool) -> None:
        super().__init__(stage)
        self.stage = stage
        self.timed_out = timed_out
        self.read_anything = read_anything


def _migrate_keys(argv: list[bytes]) -> list[bytes]:
    for index in range(6, len(argv)):
        if argv[index].upper() == b"KEYS":
            return argv[index + 1 :]
    return [argv[3]]


def _parse_options(argv: list[bytes]) -> tuple[dict[str, Any], list[bytes]] | ErrorReply:
    options: dict[str, Any] = {"copy": False, "replace": False, "username": None, "password": None}
    keys = [argv[3]]
    index = 6
    while index < len(argv):
        option = argv[index].upper()
        remaining = len(argv) - 1 - index
        if option == b"COPY":
            options["copy"] = True
        elif option == b"REPLACE":
            options["replace"] = True
        elif option == b"AUTH":
            if remaining < 1:
                return SYNTAX_ERROR
            index += 1
            options["password"] = argv[index]
        elif option == b"AUTH2":
            if remaining < 2:
                return SYNTAX_ERROR
            options["username"], options["password"] = argv[index + 1], argv[index + 2]
            index += 2
        elif option == b"KEYS":
            if argv[3]:
                return KEYS_NEED_EMPTY_KEY
            keys = argv[index + 1 :]
            break
        else:
            return SYNTAX_ERROR
        index += 1
    return options, keys


@verb("MIGRATE", -6, "write", keys=_migrate_keys)
def migrate_command(server: Any, client: Any, argv: list[bytes]) -> Any:
    parsed = _parse_options(argv)
    if isinstance(parsed, ErrorReply):
        return parsed
    options, keys = parsed
    timeout_ms, database = parse_integer(argv[5]), parse_integer(argv[4])
    if timeout_ms is None or database is None:
        return NOT_AN_INTEGER
    if timeout_ms <= 0:
        timeout_ms = 1000
    owned = server.owned
    now_ms = owned.context.now_ms
    found = []
    for key in keys:
        entry = owned.shards[owned.shard_for_key(key)].keyspace.get_entry(key, owned.context.lookup_now_ms)
        if entry is not None:
            found.append((key, entry))
    if not found:
        return NOKEY
    host = argv[1].decode("utf-8", "replace")
    port = parse_integer(argv[2]) or 0
    restore = b"RESTORE-ASKING" if server.config.cluster else b"RESTORE"
    requests, sent_keys = _requests(options, database, found, now_ms, restore)
    for attempt in range(2):
        try:
            replies = _exchange(host, port, timeout_ms / 1000, requests)
        except OSError:
            return CONNECT_FAILED
        except MigrationIOError as failure:
            if attempt == 0 and not failure.timed_out and not failure.read_anything:
                continue
            return ErrorReply(f"IOERR error or timeout {failure.stage} to target instance")
        break
    return _finish(server, options, replies, sent_keys, len(requests) - len(sent_keys))


def _requests(
    options: dict[str, Any], database: int, found: list[tuple[bytes, Any]], now_ms: int, restore: bytes,
) -> tuple[list[list[bytes]], list[bytes]]:
    """The pipelined commands (AUTH, SELECT, one RESTORE per key still alive) and the keys."""
    requests: list[list[bytes]] = []
    if options["password"] is not None:
        user = [options["username"]] if options["username"] is not None else []
        requests.append([b"AUTH", *user, options["password"]])
    requests.append([b"SELECT", b"%d" % database])
    sent_keys = []
    for key, (kind, value, deadline_ms) in found:
        ttl_ms = 0
        if deadline_ms is not None:
            ttl_ms = deadline_ms - now_ms
            if ttl_ms < 0:
                continue
            ttl_ms = max(ttl_ms, 1)
        request = [restore, key, b"%d" % ttl_ms, encode_dump_payload(key, kind, value)]
        if options["replace"]:
            request.append(b"REPLACE")
        requests.append(request)
        sent_keys.append(key)
    return requests, sent_keys


def _exchange(host: str, port: int, timeout_s: float, requests: list[list[bytes]]) -> list[Any]:
    """Connect, write every request, read one reply per request (OSError: the connect)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except ConnectionRefusedError:
        # Redis connects without blocking and learns of a refusal only when it writes.
        raise MigrationIOError("writing", False, False) from None
    read_anything = False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.sendall(b"".join(hiredis.pack_command(tuple(request)) for request in requests))
        except OSError as error:
            raise MigrationIOError("writing", isinstance(error, TimeoutError), False) from None
        reader = hiredis.Reader()
        replies: list[Any] = []
        while len(replies) < len(requests):
            reply = reader.gets()
            if reply is not False:
                replies.append(reply)
                read_anything = True
                continue
            try:
                data = sock.recv(65536)
            except OSError as error:
                raise MigrationIOError("reading", isinstance(error, TimeoutError), read_anything) from None
            if not data:
                raise MigrationIOError("reading", False, read_anything)
            reader.feed(data)
        return replies
    finally:
        sock.close()


def _finish(server: Any, options: dict[str, Any], replies: list[Any], keys: list[bytes], preamble: int) -> Any:
    """Redis's reading of the replies: the first error wins; a key whose RESTORE answered OK
    is deleted here (even after another key's error), none after an AUTH or SELECT error."""
    errors = [reply for reply in replies if isinstance(reply, hiredis.ReplyError)]
    preamble_failed = any(isinstance(reply, hiredis.ReplyError) for reply in replies[:preamble])
    taken = [] if preamble_failed else [
        key for key, reply in zip(keys, replies[preamble:]) if not isinstance(reply, hiredis.ReplyError)
    ]
    if taken and not options["copy"]:
        server.dispatcher.run_store_command([b"DEL", *taken])
    if errors:
        return ErrorReply(f"ERR Target instance replied with error: {errors[0]}")
    return OK


@verb("RESTORE-ASKING", -4, "write", keys=lambda argv: [argv[1]], key_range=(1, 1, 1))
def restore_asking(server: Any, client: Any, argv: list[bytes]) -> Any:
    return server.dispatcher.run_store_command([b"RESTORE", *argv[1:]])
