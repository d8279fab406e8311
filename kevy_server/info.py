"""INFO text, CONFIG GET/SET parameters and CLIENT LIST lines, from the server's real state.

Every INFO field reports a value the server or the store actually holds (nothing is a
placeholder): the persistence section shows the shard layout, the fsync policy, the open
report (replayed commands and bytes, dropped bytes), the save/rewrite counts the store's
metrics reported, the write state of the shards (`aof_last_write_status:err` while one
refuses writes, with the failed log-write and fsync counts) and the loop's log writes and
fsync rounds; clients and stats count what the loop sees (blocked clients, pub/sub
channels and patterns).

CONFIG SET changes what can change at run time: `requirepass`, `maxclients`, `appendfsync`
(the store switches every shard's policy), `timeout`, `notify-keyspace-events`,
`client-output-buffer-limit`, `protected-mode`, the slow log, latency and tracking settings
(`admin_settings.py`), the persistence settings `save`, `stop-writes-on-bgsave-error`,
`auto-aof-rewrite-percentage`, `auto-aof-rewrite-min-size` (`persistence_info.py`), and
`appendonly` / `dir` only to the value they already have (the store fixes its data dir and
log when it opens; other values are refused with an error). A CONFIG SET of several parameters applies all of them or none.
"""

from __future__ import annotations

import fnmatch
import itertools
import os
import sys
import time
from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.replies import OK

from kevy_persist.store.save_points import format_save_points

from . import command_data, info_sections, limits, notifications, persistence_info
from .admin_settings import ADMIN_SETTINGS, admin_parameters, check_admin_setting

READ_BUFFER_BYTES = 64 * 1024  # what the loop asks of one recv

ALL_SECTIONS = (
    "server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules",
    "commandstats", "errorstats", "latencystats", "cluster", "keyspace",
)
DEFAULT_SECTIONS = tuple(section for section in ALL_SECTIONS if section not in ("commandstats", "latencystats"))
_TITLES = {"cpu": "CPU"}
KEVY_VERSION = "0.1.0"
REDIS_VERSION = "7.0.15"  # the Redis release whose behaviour we follow (clients branch on it)


def info_text(server: Any, sections: list[str]) -> str:
    """The INFO reply for `sections`, in Redis's section order: none or "default" the
    default sections, "all" / "everything" every section, else the ones named (several may
    be named; unknown names are left out)."""
    wanted: set[str] = set()
    for section in sections or ["default"]:
        if section == "default":
            wanted.update(DEFAULT_SECTIONS)
        elif section in ("all", "everything"):
            wanted.update(ALL_SECTIONS)
        else:
            wanted.add(section)
    blocks = []
    for section in ALL_SECTIONS:
        if section not in wanted:
            continue
        core = _SECTIONS.get(section)
        fields = core(server) if core is not None else info_sections.SECTIONS[section](server)
        extra = info_sections.EXTRA_FIELDS.get(section)
        if extra is not None:
            fields = fields + extra(server)
        title = _TITLES.get(section, section.capitalize())
        lines = [f"# {title}"] + [f"{name}:{value}" for name, value in fields]
        blocks.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(blocks)


def _server_section(server: Any) -> list[tuple[str, Any]]:
    uptime_s = (time.monotonic_ns() // 1_000_000 - server.started_monotonic_ms) // 1000
    return [
        ("redis_version", REDIS_VERSION),
        ("kevy_version", KEVY_VERSION),
        ("redis_mode", "standalone"),
        ("os", " ".join(os.uname()[:3:2])),
        ("arch_bits", 64 if sys.maxsize > 2**32 else 32),
        ("multiplexing_api", "epoll"),
        ("process_id", os.getpid()),
        ("tcp_port", server.port),
        ("uptime_in_seconds", uptime_s),
        ("uptime_in_days", uptime_s // 86400),
        ("hz", 10),
        ("executable", os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else "kevy-server"),
    ]


def _clients_section(server: Any) -> list[tuple[str, Any]]:
    sessions = server.sessions()
    return [
        ("connected_clients", len(sessions)),
        ("maxclients", server.maxclients),
        ("max_request_bytes", server.config.max_request_bytes),
        ("blocked_clients", server.blocking.blocked_count()),
        ("pubsub_clients", sum(1 for session in sessions if session.in_pubsub_mode())),
        ("watching_clients", sum(1 for session in sessions if session.watched)),
        ("total_watched_keys", server.watches.watched_key_count()),
    ]


def _persistence_section(server: Any) -> list[tuple[str, Any]]:
    return persistence_info.redis_fields(server) + persistence_info.kevy_fields(server)


def _stats_section(server: Any) -> list[tuple[str, Any]]:
    counts = server.metric_counts()
    pubsub = server.pubsub
    return [
        ("total_connections_received", server.connections_received),
        ("total_commands_processed", server.commands_processed()),
        ("rejected_connections", server.rejected_connections),
        ("expired_keys", counts.get("expired_keys", 0)),
        ("sync_full", server.master.full_syncs),
        ("sync_partial_ok", server.master.partial_syncs_ok),
        ("sync_partial_err", server.master.partial_syncs_err),
        ("pubsub_channels", pubsub.channel_count()),
        ("pubsub_patterns", pubsub.pattern_count()),
        ("pubsubshard_channels", pubsub.shard_channel_count()),
        ("client_output_buffer_limit_disconnections", server.output_limit_disconnections),
        ("event_loop_turns", server.loop.turns),
    ]


def _keyspace_section(server: Any) -> list[tuple[str, Any]]:
    return [(f"db{database}", f"keys={keys},expires={expires},avg_ttl={average_ttl_ms(server, database)}")
            for database, keys, expires in server.store.database_key_counts()]


AVERAGE_TTL_SAMPLE = 10_000


def average_ttl_ms(server: Any, database: int = 0) -> int:
    """The mean remaining TTL (ms) of the keys that have one: exact up to 10,000 such keys
    per shard, else over 10,000 of them spread evenly along the shard's table (Redis
    estimates it from the keys its expiry cycle samples). Keys past their deadline that
    expiry has not reaped yet are left out."""
    owned = server.owned
    now_ms = owned.context.now_ms
    total = counted = 0
    for slot in owned.database_slots(database):
        deadlines = owned.shards[slot].keyspace.deadline_items()
        size = len(deadlines)
        if not size:
            continue
        step = max(1, size // AVERAGE_TTL_SAMPLE)
        for _, deadline_ms in itertools.islice(deadlines, 0, None, step):
            remaining = deadline_ms - now_ms
            if remaining > 0:
                total += remaining
                counted += 1
    return total // counted if counted else 0


_SECTIONS = {
    "server": _server_section,
    "clients": _clients_section,
    "persistence": _persistence_section,
    "stats": _stats_section,
    "keyspace": _keyspace_section,
}


def reset_statistics(server: Any) -> Any:
    """CONFIG RESETSTAT: the counters INFO's stats section reports start over."""
    server.reset_statistics()
    return OK


# -- CONFIG ---------------------------------------------------------------------------------


def _parameters(server: Any) -> dict[str, str]:
    config = server.config
    return {
        "appendfsync": server.store.config.appendfsync.value,
        "appendonly": "yes" if config.appendonly else "no",
        "save": format_save_points(server.store.config.save_points),
        "stop-writes-on-bgsave-error": "yes" if server.persistence.stop_writes_on_bgsave_error else "no",
        "auto-aof-rewrite-percentage": str(server.store.config.auto_rewrite_percentage),
        "auto-aof-rewrite-min-size": str(server.store.config.auto_rewrite_min_size_bytes),
        "dir": os.path.abspath(config.data_dir) if config.data_dir is not None else "",
        "port": str(server.port),
        "bind": config.bind,
        "databases": str(server.store.databases.count),
        "maxclients": str(server.maxclients),
        "requirepass": server.requirepass or "",
        "protected-mode": "yes" if server.protected_mode else "no",
        "timeout": str(server.idle_timeout_s),
        "notify-keyspace-events": notifications.flags_to_text(server.notifications.flags),
        "client-output-buffer-limit": limits.format_output_limits(server.output_limits),
        "proto-max-bulk-len": str(config.max_request_bytes),
        "client-query-buffer-limit": str(config.max_request_bytes),
        "hz": "10",
        "aclfile": config.aclfile or "",
        **admin_parameters(server),
        "kevy-shards": str(server.store.shard_count),
        "kevy-routing": server.store.config.routing.value,
    }


def live_settings(server: Any) -> dict[str, dict[str, Any]]:
    """The running settings in kevy's TOML schema (CONFIG REWRITE writes them)."""
    config, stats = server.config, server.stats
    settings: dict[str, dict[str, Any]] = {
        "server": {
            "bind": config.bind, "port": config.port, "threads": server.store.shard_count,
            "data_dir": config.data_dir if config.data_dir is not None else ".",
            "protected_mode": server.protected_mode, "timeout": server.idle_timeout_s,
            "maxclients": server.maxclients, "routing": server.store.config.routing.value,
            "log_format": config.log_format,
        },
        "persistence": {
            "aof": config.appendonly, "appendfsync": server.store.config.appendfsync.value,
            "auto_aof_rewrite_percentage": server.store.config.auto_rewrite_percentage,
            "auto_aof_rewrite_min_size": server.store.config.auto_rewrite_min_size_bytes,
            "save": format_save_points(server.store.config.save_points),
            "stop_writes_on_bgsave_error": server.persistence.stop_writes_on_bgsave_error,
        },
        "notification": {"notify_keyspace_events": notifications.flags_to_text(server.notifications.flags)},
        "slowlog": {"slower_than_micros": stats.slowlog_threshold_us, "max_len": stats.slowlog_max_length},
    }
    if server.requirepass:
        settings["server"]["requirepass"] = server.requirepass
    if config.aclfile is not None:
        settings["server"]["aclfile"] = config.aclfile
    if config.data_dir is None:
        settings["server"]["in_memory"] = True
    return settings


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


def _refusal(name: str, reason: str) -> ErrorReply:
    return ErrorReply(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")


def _check(server: Any, name: str, value: str, current: str) -> tuple[ErrorReply | None, Any]:
    """(refusal, parsed value) for one `name value` pair of a CONFIG SET."""
    if name == "appendfsync":
        if value.lower() not in ("always", "everysec", "no"):
            return _refusal(name, "argument(s) must be one of the following: everysec, always, no"), None
        return None, value.lower()
    if name in ("maxclients", "timeout"):
        low = 1 if name == "maxclients" else 0
        high = 4294967295 if name == "maxclients" else 2147483647
        try:
            number = int(value)
        except ValueError:
            return _refusal(name, "argument couldn't be parsed into an integer"), None
        if not low <= number <= high:
            return _refusal(name, f"argument must be between {low} and {high} inclusive"), None
        return None, number
    if name == "protected-mode":
        if value.lower() not in ("yes", "no"):
            return _refusal(name, "argument must be 'yes' or 'no'"), None
        return None, value.lower() == "yes"
    if name == "notify-keyspace-events":
        flags = notifications.flags_from_text(value)
        if flags is None:
            return _refusal(name, "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."), None
        return None, flags
    if name == "client-output-buffer-limit":
        parsed = limits.parse_output_limits(value, server.output_limits)
        if isinstance(parsed, str):
            return _refusal(name, parsed), None
        return None, parsed
    if name == "requirepass":
        return None, value or None
    if name in persistence_info.SETTINGS:
        return persistence_info.check_setting(name, value)
    if name in ADMIN_SETTINGS:
        return check_admin_setting(name, value, current)
    if value.lower() != current.lower():
        return _refusal(name, f"kevy-server cannot change '{name}' at run time (restart with the new value)"), None
    return None, None


def config_set(server: Any, arguments: list[bytes]) -> Any:
    """Apply `name value` pairs; all of them or none (the first refusal is the reply)."""
    parameters = _parameters(server)
    changes: list[tuple[str, Any]] = []
    for index in range(0, len(arguments), 2):
        name = arguments[index].decode("utf-8", "replace").lower()
        value = arguments[index + 1].decode("utf-8", "replace")
        if name not in parameters:
            return ErrorReply(f"ERR Unknown option or number of arguments for CONFIG SET - '{name}'")
        refusal, parsed = _check(server, name, value, parameters[name])
        if refusal is not None:
            return refusal
        changes.append((name, parsed))
    for name, parsed in changes:
        server.apply_setting(name, parsed)
    return OK


# -- CLIENT LIST ----------------------------------------------------------------------------


def client_type(client: Any) -> str:
    if client.replica_link is not None:
        return "slave"
    return "pubsub" if client.in_pubsub_mode() else "normal"


def client_line(server: Any, client: Any) -> str:
    """One CLIENT LIST line for `client`: Redis 7.0's fields in its order, plus 7.2's
    lib-name / lib-ver. Buffers are kevy's own: `qbuf` the request bytes read and not yet
    parsed, `rbs` the read size (64 KiB) and `rbp` the largest read so far, `multi-mem` the
    queued commands' bytes, `oll` / `omem` the reply chunks and bytes owed (held for an fsync
    or not yet taken by the socket); `obl` and `argv-mem` are 0 (kevy has no static reply
    buffer and keeps no argument vector between requests)."""
    now_ms = time.monotonic_ns() // 1_000_000
    age_s = (now_ms - client.created_monotonic_ms) // 1000
    idle_s = (now_ms - client.last_interaction_monotonic_ms) // 1000
    name = (client.name or b"").decode("utf-8", "replace")
    multi = -1 if client.queued is None else len(client.queued)
    command = last_command_name(client)
    query_bytes = client.parser.buffered_bytes
    output_bytes = server.output_size(client)
    events = "r" + ("w" if client.unsent else "")
    user = (client.user.name if client.user is not None else b"default").decode("utf-8", "replace")
    redirect = client.tracking.redirect if client.tracking is not None else -1
    multi_bytes = sum(len(argument) for argv in client.queued or () for argument in argv)
    chunks = len(client.output) + sum(len(chunks) for _, chunks in client.held) + (1 if client.unsent else 0)
    return (
        f"id={client.client_id} addr={client.address} laddr={client.local_address} fd={client.fd} "
        f"name={name} age={age_s} idle={idle_s} flags={client.flags()} db={client.database} sub={len(client.channels)} "
        f"psub={len(client.patterns)} ssub={len(client.shard_channels)} multi={multi} qbuf={query_bytes} "
        f"qbuf-free={max(0, READ_BUFFER_BYTES - query_bytes)} argv-mem=0 multi-mem={multi_bytes} "
        f"rbs={READ_BUFFER_BYTES} rbp={client.read_peak_bytes} obl=0 oll={chunks} omem={output_bytes} "
        f"tot-mem={query_bytes + output_bytes + multi_bytes} events={events} cmd={command} user={user} "
        f"redir={redirect} resp={client.protocol} lib-name={client.library_name.decode('utf-8', 'replace')} "
        f"lib-ver={client.library_version.decode('utf-8', 'replace')}\n"
    )


def last_command_name(client: Any) -> str:
    """CLIENT LIST's `cmd`: the last command's full name (`client|list`), NULL before any."""
    last = client.last_command
    if last.__class__ is bytes:
        return last.decode("utf-8", "replace").lower()
    name = last[0].decode("utf-8", "replace").lower()
    if len(last) > 1:
        data = command_data.entry(name)
        if data is not None and data.subcommands:
            full = f"{name}|{last[1].decode('utf-8', 'replace').lower()}"
            if command_data.entry(full) is not None:
                return full
    return name
