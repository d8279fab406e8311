"""INFO text, CONFIG GET/SET parameters and CLIENT LIST lines, from the server's real state.

Every INFO field reports a value the server or the store actually holds (nothing is a
placeholder): the persistence section shows the shard layout, the fsync policy, the open
report (replayed commands and bytes, dropped bytes), the save/rewrite counts the store's
metrics reported, and the write state of the shards (`aof_last_write_status:err` while one
refuses writes, with the failed log-write and fsync counts).

CONFIG SET changes what can change at run time: `requirepass`, `maxclients`, `appendfsync`
(the store switches every shard's policy), and `appendonly` / `save` / `dir` only to the value
they already have (the store fixes its data dir and log when it opens; other values are
refused with an error).
"""

from __future__ import annotations

import fnmatch
import os
import time
from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.replies import OK

DEFAULT_SECTIONS = ("server", "clients", "persistence", "stats", "keyspace")
KEVY_VERSION = "0.1.0"
REDIS_VERSION = "7.0.0"  # the Redis release whose behaviour we follow (clients branch on it)


def info_text(server: Any, sections: list[str]) -> str:
    """The INFO reply for `sections` (empty, "default", "all" or "everything": all of ours)."""
    wanted = [section for section in sections if section not in ("default", "all", "everything")]
    chosen = [section for section in DEFAULT_SECTIONS if not wanted or section in wanted]
    blocks = []
    for section in chosen:
        fields = _SECTIONS[section](server)
        lines = [f"# {section.capitalize()}"] + [f"{name}:{value}" for name, value in fields]
        blocks.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(blocks)


def _server_section(server: Any) -> list[tuple[str, Any]]:
    uptime_s = (time.monotonic_ns() // 1_000_000 - server.started_monotonic_ms) // 1000
    return [
        ("redis_version", REDIS_VERSION),
        ("kevy_version", KEVY_VERSION),
        ("redis_mode", "standalone"),
        ("os", " ".join(os.uname()[:3:2])),
        ("process_id", os.getpid()),
        ("tcp_port", server.port),
        ("uptime_in_seconds", uptime_s),
        ("uptime_in_days", uptime_s // 86400),
        ("executable", "kevy-server"),
    ]


def _clients_section(server: Any) -> list[tuple[str, Any]]:
    return [
        ("connected_clients", len(server.sessions())),
        ("maxclients", server.maxclients),
        ("max_request_bytes", server.config.max_request_bytes),
    ]


def _persistence_section(server: Any) -> list[tuple[str, Any]]:
    store = server.store
    report = store.open_report
    counts = server.metric_counts()
    config = server.config
    statuses = store.write_status()
    refusing = [status.index for status in statuses if status.refusing_reason is not None]
    return [
        ("loading", 0),
        ("data_dir", config.data_dir if config.data_dir is not None else "(in memory)"),
        ("shards", store.shard_count),
        ("routing", store.config.routing.value),
        ("aof_enabled", int(config.appendonly)),
        ("appendfsync", server.store.config.appendfsync.value),
        ("log_format", config.log_format),
        ("rdb_last_save_time", server.last_save_unix),
        ("rdb_saves", counts.get("save", 0)),
        ("aof_rewrites", counts.get("rewrite", 0)),
        # err while a shard refuses writes (MISCONF), ok again once a save gave it fresh files
        ("aof_last_write_status", "err" if refusing else "ok"),
        ("aof_refusing_shards", ",".join(map(str, refusing))),
        ("aof_write_errors", sum(status.write_errors for status in statuses)),
        ("fsync_errors", sum(status.fsync_errors for status in statuses)),
        ("open_elapsed_ms", report.elapsed_ms),
        ("open_replayed_commands", report.replayed_commands),
        ("open_replayed_bytes", report.replayed_bytes),
        ("open_dropped_bytes", report.dropped_bytes),
        ("open_discarded_transaction_bytes", report.discarded_transaction_bytes),
        ("open_corruption_found", int(report.corruption_found)),
    ]


def _stats_section(server: Any) -> list[tuple[str, Any]]:
    counts = server.metric_counts()
    return [
        ("total_connections_received", server.connections_received),
        ("total_commands_processed", server.commands_processed()),
        ("rejected_connections", server.rejected_connections),
        ("expired_keys", counts.get("expired_keys", 0)),
    ]


def _keyspace_section(server: Any) -> list[tuple[str, Any]]:
    keys, expires = server.store.key_counts()  # no shard lock: INFO must not stall writers
    return [("db0", f"keys={keys},expires={expires},avg_ttl=0")] if keys else []


_SECTIONS = {
    "server": _server_section,
    "clients": _clients_section,
    "persistence": _persistence_section,
    "stats": _stats_section,
    "keyspace": _keyspace_section,
}


# -- CONFIG ---------------------------------------------------------------------------------


def _parameters(server: Any) -> dict[str, str]:
    config = server.config
    return {
        "appendfsync": server.store.config.appendfsync.value,
        "appendonly": "yes" if config.appendonly else "no",
        "save": "",  # no automatic save points: SAVE/BGSAVE on request, the log otherwise
        "dir": os.path.abspath(config.data_dir) if config.data_dir is not None else "",
        "port": str(server.port),
        "bind": config.bind,
        "databases": "1",
        "maxclients": str(server.maxclients),
        "requirepass": server.requirepass or "",
        "proto-max-bulk-len": str(config.max_request_bytes),
        "client-query-buffer-limit": str(config.max_request_bytes),
        "kevy-shards": str(server.store.shard_count),
        "kevy-routing": server.store.config.routing.value,
    }


def config_get(server: Any, patterns: list[bytes]) -> list[bytes]:
    """Name/value pairs (flat) of every parameter matching one of the glob `patterns`."""
    parameters = _parameters(server)
    chosen: dict[str, str] = {}
    for pattern in patterns:
        text = pattern.decode("utf-8", "replace").lower()
        for name, value in parameters.items():
            if fnmatch.fnmatchcase(name, text):
                chosen[name] = value
    return [item.encode() for pair in chosen.items() for item in pair]


def config_set(server: Any, arguments: list[bytes]) -> Any:
    """Apply `name value` pairs; all of them or none (the first refusal is the reply)."""
    parameters = _parameters(server)
    changes: list[tuple[str, str]] = []
    for index in range(0, len(arguments), 2):
        name = arguments[index].decode("utf-8", "replace").lower()
        value = arguments[index + 1].decode("utf-8", "replace")
        if name not in parameters:
            return ErrorReply(f"ERR Unknown option or number of args for CONFIG SET - '{name}'")
        if name == "appendfsync":
            if value.lower() not in ("always", "everysec", "no"):
                return ErrorReply(f"ERR CONFIG SET failed (possibly related to argument '{name}') - argument(s) must be one of the following: always, everysec, no")
        elif name == "maxclients":
            if not value.isdigit() or int(value) <= 0:
                return ErrorReply(f"ERR CONFIG SET failed (possibly related to argument '{name}') - argument must be a positive integer")
        elif name != "requirepass" and value.lower() != parameters[name].lower():
            return ErrorReply(
                f"ERR CONFIG SET failed (possibly related to argument '{name}') - "
                f"kevy-server cannot change '{name}' at run time (restart with the new value)"
            )
        changes.append((name, value))
    for name, value in changes:
        if name == "appendfsync":
            server.store.set_appendfsync(value.lower())
        elif name == "maxclients":
            server.maxclients = int(value)
        elif name == "requirepass":
            server.requirepass = value or None
    return OK


def client_line(session: Any) -> str:
    """One CLIENT LIST line for `session`."""
    now_ms = time.monotonic_ns() // 1_000_000
    age_s = (now_ms - session.created_monotonic_ms) // 1000
    idle_s = (now_ms - session.last_command_monotonic_ms) // 1000
    name = (session.name or b"").decode("utf-8", "replace")
    multi = -1 if session.queued is None else len(session.queued)
    command = session.last_command.decode("utf-8", "replace").lower()
    return (f"id={session.client_id} addr={session.address} name={name} age={age_s} "
            f"idle={idle_s} db=0 multi={multi} cmd={command}\n")
