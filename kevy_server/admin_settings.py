"""The CONFIG parameters of the statistics, latency, tracking and memory verbs.

CONFIG GET shows them with Redis 7.0's names and defaults; CONFIG SET changes the ones kevy
acts on, with Redis's checks and texts:
- `slowlog-log-slower-than` (µs, -1..2^63-1; -1 logs nothing, 0 every command),
  `slowlog-max-len` (0..2^63-1), `latency-monitor-threshold` (ms, 0: off),
  `latency-tracking` yes|no (kevy's default is no: per-command histograms cost a little on
  every command; Redis's is yes), `latency-tracking-info-percentiles` (numbers in 0..100),
  `tracking-table-max-keys` (0: unbounded), `acllog-max-len`;
- `maxmemory` and `maxmemory-policy`: kevy never evicts, so only 0 and `noeviction` are
  accepted (anything else is refused with that reason, rather than accepted and ignored);
- `repl-backlog-size` (bytes, memory units accepted; the backlog keeps the newest that many
  from then on) and `repl-ping-replica-period` (seconds, >= 1); `replicaof` is read only
  (REPLICAOF changes it); `masterauth` and `masteruser` (any text, "" for none: the next
  connection to the master uses them); `min-replicas-to-write` and `min-replicas-max-lag`
  (`replication_quorum.py`);
- the encoding thresholds OBJECT ENCODING answers from (`*-max-listpack-*`,
  `set-max-intset-entries`...): read only, at Redis 7.0's defaults.
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands import ErrorReply

from .key_introspection import ENCODING_PARAMETERS
from .replication_quorum import QUORUM_SETTINGS, check_quorum_setting

__all__ = ["ADMIN_SETTINGS", "admin_parameters", "apply_admin_setting", "check_admin_setting"]

_LONG_MAX = 2**63 - 1
_POLICIES = ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu",
             "allkeys-random", "noeviction")
_RANGES = {
    "slowlog-log-slower-than": -1,
    "slowlog-max-len": 0,
    "latency-monitor-threshold": 0,
    "tracking-table-max-keys": 0,
    "acllog-max-len": 0,
}
ADMIN_SETTINGS = frozenset(_RANGES) | {"latency-tracking", "latency-tracking-info-percentiles", "maxmemory",
                                        "maxmemory-policy", "repl-backlog-size", "repl-ping-replica-period",
                                        "masterauth", "masteruser"} | QUORUM_SETTINGS
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


def admin_parameters(server: Any) -> dict[str, str]:
    stats = server.stats
    return {
        "slowlog-log-slower-than": str(stats.slowlog_threshold_us),
        "slowlog-max-len": str(stats.slowlog_max_length),
        "latency-monitor-threshold": str(stats.latency_threshold_ms),
        "latency-tracking": "yes" if stats.tracking else "no",
        "latency-tracking-info-percentiles": " ".join(f"{value:g}" for value in stats.percentiles),
        "tracking-table-max-keys": str(server.tracking.max_keys),
        "acllog-max-len": str(server.acl.log_max_length),
        "maxmemory": "0",
        "maxmemory-policy": "noeviction",
        "maxmemory-samples": "5",
        "repl-backlog-size": str(server.master.backlog_size_bytes),
        "repl-ping-replica-period": str(server.master.ping_period_s),
        "replicaof": f"{server.upstream.host} {server.upstream.port}" if server.upstream.active else "",
        "masterauth": server.upstream.masterauth or "",
        "masteruser": server.upstream.masteruser or "",
        **server.master.quorum.parameters(),
        **ENCODING_PARAMETERS,
    }


def _refusal(name: str, reason: str) -> ErrorReply:
    return ErrorReply(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")


def check_admin_setting(name: str, value: str, current: str) -> tuple[ErrorReply | None, Any]:
    """(refusal, parsed value) for one of ADMIN_SETTINGS."""
    if name in _RANGES:
        try:
            number = int(value)
        except ValueError:
            return _refusal(name, "argument couldn't be parsed into an integer"), None
        low = _RANGES[name]
        if not low <= number <= _LONG_MAX:
            return _refusal(name, f"argument must be between {low} and {_LONG_MAX} inclusive"), None
        return None, number
    if name in ("masterauth", "masteruser"):
        return None, value or None
    if name in QUORUM_SETTINGS:
        return check_quorum_setting(name, value)
    if name == "latency-tracking":
        if value.lower() not in ("yes", "no"):
            return _refusal(name, "argument must be 'yes' or 'no'"), None
        return None, value.lower() == "yes"
    if name == "latency-tracking-info-percentiles":
        try:
            values = tuple(float(part) for part in value.split())
        except ValueError:
            return _refusal(name, "Invalid latency-tracking-info-percentiles parameters"), None
        if any(not 0.0 <= part <= 100.0 for part in values):
            return _refusal(name, "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"), None
        return None, values
    if name == "repl-ping-replica-period":
        if not value.isdigit() or not 1 <= int(value) <= 2147483647:
            return _refusal(name, "argument must be between 1 and 2147483647 inclusive"), None
        return None, int(value)
    if name in ("maxmemory", "repl-backlog-size"):
        lowered = value.lower()
        digits = lowered.rstrip("bkmg")
        if not digits.isdigit() or lowered[len(digits):] not in _MEMORY_UNITS:
            return _refusal(name, "argument must be a memory value"), None
        if name == "repl-backlog-size":
            size = int(digits) * _MEMORY_UNITS[lowered[len(digits):]]
            if size < 1:
                return _refusal(name, "argument must be between 1 and 9223372036854775807 inclusive"), None
            return None, size
        if int(digits) != 0:
            return _refusal(name, "kevy-server never evicts keys: maxmemory can only be 0"), None
        return None, 0
    assert name == "maxmemory-policy"
    if value.lower() not in _POLICIES:
        return _refusal(name, "argument(s) must be one of the following: " + ", ".join(_POLICIES)), None
    if value.lower() != "noeviction":
        return _refusal(name, "kevy-server never evicts keys: the policy can only be noeviction"), None
    return None, "noeviction"


def apply_admin_setting(server: Any, name: str, value: Any) -> None:
    stats = server.stats
    if name == "slowlog-log-slower-than":
        stats.set_slowlog_threshold(value)
    elif name == "slowlog-max-len":
        stats.set_slowlog_max_length(value)
    elif name == "latency-monitor-threshold":
        stats.set_latency_threshold(value)
    elif name == "latency-tracking":
        stats.set_tracking(value)
    elif name == "latency-tracking-info-percentiles":
        stats.percentiles = value
    elif name == "tracking-table-max-keys":
        server.tracking.max_keys = value
    elif name == "acllog-max-len":
        server.acl.log_max_length = value
    elif name == "repl-backlog-size":
        server.master.resize_backlog(value)
    elif name == "repl-ping-replica-period":
        server.master.ping_period_s = value
    elif name in ("masterauth", "masteruser"):
        setattr(server.upstream, name, value)
    elif name in QUORUM_SETTINGS:
        server.master.quorum.apply(name, value)
