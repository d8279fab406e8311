"""MONITOR: every command the server runs, streamed to the clients that asked, as Redis does.

A client that sends MONITOR gets `+OK`, then one status line per command any client runs,
once it has run: `+<unix seconds>.<microseconds> [<db> <client address>] "arg" "arg"...`,
each argument quoted as Redis's `sdscatrepr` quotes it (`\\n`, `\\r`, `\\t`, `\\a`, `\\b`, `\\\\`,
`\\"`, other bytes outside printable ASCII as `\\xHH`). As in Redis 7.0:
- commands refused before running (unknown, wrong arity, NOAUTH, ACL) are not shown; a
  command that ran and failed is;
- admin commands (CONFIG, CLIENT LIST, SAVE...) and MONITOR itself are not shown; secrets
  are: AUTH's and HELLO AUTH's arguments appear as "(redacted)";
- a queued command appears when EXEC runs it, before the EXEC line;
- a monitoring client may still send commands that do not touch the keyspace (PING, CLIENT,
  RESET...); one that does gets "ERR Replica can't interact with the keyspace", and RESET
  or QUIT ends the monitoring.
The lines are status replies in both protocols, and a monitor whose unsent output passes
the `replica` class of `client-output-buffer-limit` (Redis's default for replicas and
monitors: 256 MiB hard, 64 MiB for 60 s soft) is disconnected.
"""

from __future__ import annotations

import time
from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.replies import OK, QUEUED

from .command_stats import redacted
from .introspection import lookup
from .verbs import verb

__all__ = ["Monitors"]

_ESCAPES = {ord("\\"): b"\\\\", ord('"'): b'\\"', ord("\n"): b"\\n", ord("\r"): b"\\r", ord("\t"): b"\\t",
            7: b"\\a", 8: b"\\b"}
KEYSPACE_REFUSAL = ErrorReply("ERR Replica can't interact with the keyspace")


def quoted(argument: bytes) -> bytes:
    """`argument` as Redis's sdscatrepr writes it."""
    out = bytearray(b'"')
    for byte in argument:
        escape = _ESCAPES.get(byte)
        if escape is not None:
            out += escape
        elif 32 <= byte < 127:
            out.append(byte)
        else:
            out += b"\\x%02x" % byte
    out += b'"'
    return bytes(out)


def _shown(argv: list[bytes]) -> bool:
    data = lookup(argv[0])
    if data is not None and data.subcommands and len(argv) > 1:
        data = lookup(argv[0] + b"|" + argv[1]) or data
    return data is not None and "admin" not in data.flags and "skip_monitor" not in data.flags


def touches_keyspace(argv: list[bytes]) -> bool:
    """Redis refuses these from a monitor (a replica): read, write or may-replicate commands."""
    data = lookup(argv[0])
    if data is not None and data.subcommands and len(argv) > 1:
        data = lookup(argv[0] + b"|" + argv[1]) or data
    return data is not None and bool({"readonly", "write", "may_replicate"} & data.flags)


class Monitors:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.clients: dict[Any, None] = {}

    def __bool__(self) -> bool:
        return bool(self.clients)

    def add(self, client: Any) -> None:
        self.clients[client] = None
        client.monitoring = True
        client.update_gate()

    def remove(self, client: Any) -> None:
        if self.clients.pop(client, None) is not None or client.monitoring:
            client.monitoring = False
            client.update_gate()

    def feed(self, client: Any, argv: list[bytes], reply: Any) -> None:
        """`client` ran `argv` (answered `reply`): show it to every monitor."""
        if reply is QUEUED or (reply.__class__ is ErrorReply and self.server.stats.last_rejected):
            return
        if client.blocked is not None and client.blocked is self.server.pause.POSTPONED:
            return  # shown when it runs, after the pause
        if not _shown(argv):
            return
        now = time.time()
        seconds = int(now)
        database = getattr(client, "database", 0)
        line = b"+%d.%06d [%d %b] %b\r\n" % (
            seconds, int((now - seconds) * 1_000_000), database, client.address.encode(),
            b" ".join(quoted(argument) for argument in redacted(argv)),
        )
        loop = self.server.loop
        for monitor in list(self.clients):
            if loop.is_open(monitor):
                loop.emit(monitor, line)
                self.server.check_output_limit(monitor, "slave")


@verb("MONITOR", 1, "admin")
def monitor(server: Any, client: Any, argv: list[bytes]) -> Any:
    if server.dispatcher.in_exec:
        return ErrorReply("ERR MONITOR isn't allowed for DENY BLOCKING client")
    server.monitors.add(client)
    return OK
