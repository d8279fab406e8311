"""INFO sections beyond the core ones (`info.py` has server, clients, persistence, stats,
keyspace): memory, replication, cpu, modules, commandstats, errorstats, latencystats,
cluster, and the fields clients and tools read that the core sections lack.

Every figure is measured, none is a placeholder:
- memory: `used_memory` is the process's anonymous resident memory (`RssAnon` of
  /proc/self/status: the heap, where every key and value lives -- Python's allocator keeps
  no byte count of its own), `used_memory_rss` the whole resident set, `used_memory_peak`
  the highest `used_memory` INFO or the ticker saw, `used_memory_startup` the value when
  the server started (so `used_memory_dataset` is what the data and clients added);
  `maxmemory` is 0 and `maxmemory_policy` noeviction: kevy never evicts;
- replication: `replication_info.replication_fields` (role, replicas, offsets, backlog);
- cpu: getrusage of the process, its children, and the loop's own thread;
- commandstats / errorstats / latencystats: `command_stats.py` (latencystats lists only
  commands with a histogram, i.e. with `latency-tracking yes`);
- cluster: `cluster_enabled` as configured.
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

from .command_stats import CALLS, FAILED, HISTOGRAM, NAME, REJECTED, TOTAL_NS
from .replication_info import replication_fields

__all__ = ["EXTRA_FIELDS", "SECTIONS", "human_bytes", "memory_figures"]

def human_bytes(size: int) -> str:
    """Redis's bytesToHuman: 1.08M, 512B, 2.00G..."""
    for unit, scale in (("P", 1 << 50), ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.2f}{unit}"
    return f"{size}B"


def _status_fields() -> dict[str, int]:
    """VmRSS, RssAnon, VmHWM... of /proc/self/status in bytes (empty off Linux)."""
    fields: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                parts = value.split()
                if len(parts) == 2 and parts[1] == "kB":
                    fields[name] = int(parts[0]) * 1024
    except OSError:
        pass
    return fields


def memory_figures() -> tuple[int, int]:
    """(used memory: anonymous resident bytes, resident set bytes) of this process."""
    fields = _status_fields()
    rss = fields.get("VmRSS", 0)
    return fields.get("RssAnon", rss), rss


def _total_system_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def _memory(server: Any) -> list[tuple[str, Any]]:
    used, rss = memory_figures()
    server.memory_peak_bytes = max(server.memory_peak_bytes, used)
    peak = server.memory_peak_bytes
    startup = server.memory_startup_bytes
    dataset = max(0, used - startup)
    clients = sum(server.output_size(client) + client.parser.buffered_bytes for client in server.sessions())
    system = _total_system_memory()
    return [
        ("used_memory", used),
        ("used_memory_human", human_bytes(used)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", human_bytes(rss)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", human_bytes(peak)),
        ("used_memory_peak_perc", f"{(used / peak * 100) if peak else 100:.2f}%"),
        ("used_memory_overhead", startup + clients),
        ("used_memory_startup", startup),
        ("used_memory_dataset", dataset),
        ("used_memory_dataset_perc", f"{(dataset / used * 100) if used else 0:.2f}%"),
        ("total_system_memory", system),
        ("total_system_memory_human", human_bytes(system)),
        ("used_memory_lua", 0),
        ("used_memory_scripts", 0),
        ("number_of_cached_scripts", 0),
        ("maxmemory", 0),
        ("maxmemory_human", "0B"),
        ("maxmemory_policy", "noeviction"),
        ("mem_fragmentation_ratio", f"{(rss / used) if used else 0:.2f}"),
        ("mem_fragmentation_bytes", rss - used),
        ("mem_clients_normal", clients),
        ("mem_aof_buffer", sum(len(buffer) for buffer in server.owned.pending)),
        ("mem_allocator", "libc"),
        ("lazyfree_pending_objects", 0),
    ]


def _replication(server: Any) -> list[tuple[str, Any]]:
    return replication_fields(server)


def _cpu(server: Any) -> list[tuple[str, Any]]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    thread = resource.getrusage(resource.RUSAGE_THREAD)  # INFO runs on the loop's thread
    return [
        ("used_cpu_sys", f"{own.ru_stime:.6f}"),
        ("used_cpu_user", f"{own.ru_utime:.6f}"),
        ("used_cpu_sys_children", f"{children.ru_stime:.6f}"),
        ("used_cpu_user_children", f"{children.ru_utime:.6f}"),
        ("used_cpu_sys_main_thread", f"{thread.ru_stime:.6f}"),
        ("used_cpu_user_main_thread", f"{thread.ru_utime:.6f}"),
    ]


def _modules(server: Any) -> list[tuple[str, Any]]:
    return []


def _commandstats(server: Any) -> list[tuple[str, Any]]:
    fields = []
    for record in server.stats.records():
        calls = record[CALLS]
        usec = record[TOTAL_NS] // 1000
        per_call = usec / calls if calls else 0.0
        fields.append((f"cmdstat_{record[NAME]}",
                       f"calls={calls},usec={usec},usec_per_call={per_call:.2f},"
                       f"rejected_calls={record[REJECTED]},failed_calls={record[FAILED]}"))
    return fields


def _errorstats(server: Any) -> list[tuple[str, Any]]:
    return [(f"errorstat_{code}", f"count={count}") for code, count in server.stats.errors.items()]


def _latencystats(server: Any) -> list[tuple[str, Any]]:
    stats = server.stats
    fields = []
    for record in stats.records():
        if not record[HISTOGRAM]:
            continue
        values = ",".join(f"p{_percentile_name(percentile)}={stats.percentile_us(record, percentile):.3f}"
                          for percentile in stats.percentiles)
        fields.append((f"latency_percentiles_usec_{record[NAME]}", values))
    return fields


def _percentile_name(percentile: float) -> str:
    return f"{percentile:g}"


def _cluster(server: Any) -> list[tuple[str, Any]]:
    return [("cluster_enabled", int(server.config.cluster))]


SECTIONS = {
    "memory": _memory,
    "replication": _replication,
    "cpu": _cpu,
    "modules": _modules,
    "commandstats": _commandstats,
    "errorstats": _errorstats,
    "latencystats": _latencystats,
    "cluster": _cluster,
}


# -- fields added to the core sections -------------------------------------------------------------


def _server_extra(server: Any) -> list[tuple[str, Any]]:
    return [
        ("run_id", server.run_id),
        ("server_time_usec", time.time_ns() // 1000),
        ("configured_hz", 10),
        ("config_file", getattr(server.config, "config_file", None) or ""),
        ("io_threads_active", 0),
    ]


def _clients_extra(server: Any) -> list[tuple[str, Any]]:
    return [
        ("tracking_clients", server.tracking.clients),
        ("clients_in_timeout_table", server.blocking.blocked_count()),
    ]


def _stats_extra(server: Any) -> list[tuple[str, Any]]:
    tracking = server.tracking
    return [
        ("instantaneous_ops_per_sec", server.instantaneous_ops_per_second()),
        ("total_net_input_bytes", server.loop.input_bytes),
        ("total_net_output_bytes", server.loop.output_bytes),
        ("total_reads_processed", server.loop.reads),
        ("total_writes_processed", server.loop.writes),
        ("tracking_total_keys", len(tracking.table)),
        ("tracking_total_items", tracking.total_items()),
        ("tracking_total_prefixes", len(tracking.prefixes)),
        ("total_error_replies", server.stats.error_replies),
    ]


EXTRA_FIELDS = {"server": _server_extra, "clients": _clients_extra, "stats": _stats_extra}
