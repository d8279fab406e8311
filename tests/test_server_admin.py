"""The admin and introspection verbs on kevy-server, by what they do over real sockets.

Method: an in-process kevy-server; raw RESP connections, redis-py (both protocols) and the
real redis-cli. What is checked:
- INFO: Redis's section order and names, `role:master`, `cluster_enabled`, `arch_bits`, a
  `used_memory` that grows when data is added, a real `avg_ttl`, commandstats counting
  every call (rejected and failed ones apart) with the same counts redis-server 7.0 gives
  for the same session (times blanked), errorstats, latencystats with tracking on, and
  CONFIG RESETSTAT clearing them;
- MONITOR's lines against redis-server 7.0's (times and addresses blanked);
- CLIENT PAUSE holding a client's pipeline in order, CLIENT KILL of the caller itself
  (closed after its reply), WAIT's timeout, the slow log and the latency monitor catching a
  slow SORT, MEMORY USAGE growing with the value;
- redis-cli `--stat`, `--bigkeys` and `--memkeys` printing the server's real figures.
No assertion depends on timing beyond lower bounds.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
import redis
from differential_sessions import compare
from redis_oracle import redis_port  # noqa: F401 -- fixture
from server_support import RawClient, running_server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def server(tmp_path):
    with running_server(tmp_path / "data") as running:
        yield running


def test_info_has_redis_sections_in_order_with_real_figures(server) -> None:
    r = redis.Redis(port=server.port, protocol=2)
    raw = RawClient(server.port)
    text = raw.call(b"INFO all\r\n").decode()
    titles = re.findall(r"^# (\w+)", text, re.MULTILINE)
    assert titles == ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Modules",
                      "Commandstats", "Errorstats", "Latencystats", "Cluster", "Keyspace"]
    default = re.findall(r"^# (\w+)", raw.call(b"INFO\r\n").decode(), re.MULTILINE)
    assert "Commandstats" not in default and "Latencystats" not in default and "Errorstats" in default
    info = r.info("everything")
    assert info["role"] == "master" and info["connected_slaves"] == 0 and info["cluster_enabled"] == 0
    assert info["arch_bits"] == 64 and info["maxmemory"] == 0 and info["maxmemory_policy"] == "noeviction"
    before = r.info("memory")["used_memory"]
    r.set("big", "x" * 20_000_000)
    after = r.info("memory")
    assert after["used_memory"] >= before + 15_000_000  # the value's bytes are in the heap
    assert after["used_memory_rss"] >= after["used_memory"] and after["used_memory_peak"] >= after["used_memory"]
    r.set("ttl:a", 1, ex=1000)
    r.set("ttl:b", 1, ex=3000)
    assert 1_900_000 < r.info("keyspace")["db0"]["avg_ttl"] <= 2_000_000
    assert r.info("server", "clients").keys() >= {"redis_version", "connected_clients"}
    assert raw.call(b"INFO nosuchsection\r\n") == b""


def _commandstats(port: int) -> dict[str, dict[str, str]]:
    with RawClient(port) as raw:
        text = raw.call(b"INFO commandstats\r\n").decode()
    stats = {}
    for name, fields in re.findall(r"^cmdstat_(\S+):(\S+)\r$", text, re.MULTILINE):
        values = dict(field.split("=") for field in fields.split(","))
        stats[name] = {key: value for key, value in values.items() if key in ("calls", "rejected_calls", "failed_calls")}
    return stats


SESSION = [
    b"CONFIG RESETSTAT", b"SET a 1", b"SET a 2", b"GET a", b"GET", b"LPUSH a x", b"NOSUCH", b"INCR a",
    b"MULTI", b"INCR a", b"GET a", b"EXEC", b"MULTI", b"GET", b"EXEC", b"CLIENT ID", b"CONFIG GET maxmemory",
    b"XADD s 1-0 f v", b"XADD s 1-0 f v", b"HSET h f v", b"PING",
]


@pytest.mark.redis
def test_commandstats_and_errorstats_count_what_redis_counts(redis_port, tmp_path) -> None:  # noqa: F811
    """The same session on both servers: calls, rejected and failed counts per command and
    the error codes are equal (times are not compared)."""
    from differential_sessions import reset_reference

    def run(port: int) -> tuple[dict, str]:
        with RawClient(port) as raw:
            for request in SESSION:
                raw.call(request + b"\r\n")
        stats = _commandstats(port)
        with RawClient(port) as raw:
            errors = raw.call(b"INFO errorstats\r\n").decode()
        return stats, sorted(re.findall(r"^errorstat_.*\r$", errors, re.MULTILINE))

    reset_reference(redis_port)
    theirs = run(redis_port)
    with running_server(tmp_path / "data") as kevy:
        ours = run(kevy.port)
    assert ours[0] == theirs[0]
    assert ours[1] == theirs[1]


def test_resetstat_clears_commandstats_errorstats_and_the_latency_histograms(server) -> None:
    r = redis.Redis(port=server.port, protocol=2)
    r.config_set("latency-tracking", "yes")
    for _ in range(20):
        r.set("k", "v")
    with pytest.raises(redis.ResponseError):
        r.lpush("k", "x")
    assert r.info("commandstats")["cmdstat_set"]["calls"] == 20
    assert r.info("errorstats")["errorstat_WRONGTYPE"]["count"] == 1
    latency = RawClient(server.port).call(b"INFO latencystats\r\n").decode()
    assert re.search(r"latency_percentiles_usec_set:p50=[0-9.]+,p99=[0-9.]+,p99\.9=[0-9.]+", latency)
    histogram = r.execute_command("LATENCY", "HISTOGRAM", "set")
    assert histogram[0] == b"set" and histogram[1][:2] == [b"calls", 20]
    assert r.config_resetstat() is True
    assert "cmdstat_set" not in r.info("commandstats") and r.info("errorstats") == {}
    assert r.info("stats")["total_error_replies"] == 0


def _blank_monitor(reply):
    if isinstance(reply, str) and re.match(r"\d+\.\d{6} \[", reply):
        return re.sub(r"^\d+\.\d{6} \[(\d+) [^\]]+\]", r"* [\1 *]", reply)
    return reply


@pytest.mark.redis
def test_monitor_lines_match_redis(redis_port, tmp_path) -> None:  # noqa: F811
    steps = [
        ("m", b"MONITOR\r\n", 1),
        ("c", b"SET k v\r\nGET k\r\nAUTH x\r\nNOSUCH\r\nGET\r\nCONFIG GET maxmemory\r\n", 6),
        ("c", b"ECHO \"a b\\n\\x01\"\r\nMULTI\r\nSET b 2\r\nGET b\r\nEXEC\r\nHELLO 2 AUTH default x\r\n", 6),
        ("m", b"", 8),
        ("m", b"GET k\r\nPING\r\n", 2),
        ("m", b"", 1),
        ("m", b"RESET\r\n", 1),
        ("c", b"SET after 1\r\n", 1),
        ("m", b"PING\r\n", 1),
    ]
    compare(redis_port, tmp_path / "data", steps, normalize_reply=_blank_monitor)


def test_client_pause_holds_a_pipeline_in_order_and_unpause_releases_it(server) -> None:
    controller, held = RawClient(server.port), RawClient(server.port)
    assert controller.call(b"CLIENT PAUSE 100000 WRITE\r\n") == b"OK"
    held.send(b"GET k\r\nSET k 1\r\nGET k\r\nINCR k\r\n")
    assert held.replies(1) == [None]  # the read passes; the write and all after it wait
    assert controller.call(b"GET k\r\n") is None
    assert controller.call(b"CLIENT UNPAUSE\r\n") == b"OK"
    assert held.replies(3) == [b"OK", b"1", 2]


def test_keys_do_not_expire_actively_while_writes_are_paused(server) -> None:
    controller = RawClient(server.port)
    controller.call(b"SET short 1 PX 20\r\n")
    assert controller.call(b"CLIENT PAUSE 100000 WRITE\r\n") == b"OK"
    time.sleep(0.5)  # several ticks: active expiry would have reaped it
    assert b"keys=1" in controller.call(b"INFO keyspace\r\n")
    controller.call(b"CLIENT UNPAUSE\r\n")


def test_client_kill_of_the_caller_closes_it_after_its_reply(server) -> None:
    victim = RawClient(server.port)
    victim_id = victim.call(b"CLIENT ID\r\n")
    assert victim.call(b"CLIENT KILL ID %d SKIPME no\r\n" % victim_id) == 1
    assert victim.is_closed_by_server()


def test_wait_answers_zero_after_its_timeout(server) -> None:
    with RawClient(server.port) as raw:
        started = time.monotonic()
        assert raw.call(b"WAIT 1 150\r\n") == 0
        assert time.monotonic() - started >= 0.14  # a lower bound only
        assert raw.call(b"WAIT 0 0\r\n") == 0


def test_a_slow_sort_reaches_the_slow_log_and_the_latency_monitor(server) -> None:
    r = redis.Redis(port=server.port, protocol=2)
    r.rpush("numbers", *range(60_000))
    r.slowlog_reset()
    r.config_set("slowlog-log-slower-than", 1000)
    r.config_set("latency-monitor-threshold", 1)
    r.sort("numbers", desc=True)
    entries = r.slowlog_get()
    assert entries and entries[0]["command"] == b"SORT numbers DESC" and entries[0]["duration"] >= 1000
    latest = r.execute_command("LATENCY", "LATEST")
    assert latest and latest[0][0] == b"command" and latest[0][3] >= 1
    history = r.execute_command("LATENCY", "HISTORY", "command")
    assert len(history) == 1 and history[0][1] >= 1
    assert b"command - high" in r.execute_command("LATENCY", "GRAPH", "command")
    assert b"latency spikes" in r.execute_command("LATENCY", "DOCTOR")
    assert r.execute_command("LATENCY", "RESET") == 1


def test_memory_usage_grows_with_the_value_and_samples(server) -> None:
    r = redis.Redis(port=server.port, protocol=2)
    r.set("small", "x")
    r.set("large", "x" * 10_000)
    assert r.memory_usage("large") - r.memory_usage("small") >= 9_999
    r.rpush("list", *(["y" * 100] * 5 + ["z"] * 95))
    sampled, exact = r.memory_usage("list"), r.memory_usage("list", samples=0)
    assert sampled > exact  # the 5 sampled items are the large ones
    assert r.memory_usage("missing") is None
    stats = r.memory_stats()
    assert stats["keys.count"] == 3 and stats["total.allocated"] > 0


@pytest.mark.skipif(shutil.which("redis-cli") is None or shutil.which("stdbuf") is None,
                    reason="redis-cli (and stdbuf) not installed")
def test_redis_cli_stat_bigkeys_and_memkeys_show_real_figures(server) -> None:
    r = redis.Redis(port=server.port, protocol=2)
    r.set("small", "x")
    r.set("big", "y" * 5000)
    r.rpush("list", *range(100))
    r.hset("hash", mapping={f"f{index}": index for index in range(50)})
    port = str(server.port)
    bigkeys = subprocess.run(["redis-cli", "-p", port, "--bigkeys"], capture_output=True, text=True, timeout=30).stdout
    assert "Biggest string found '\"big\"' has 5000 bytes" in bigkeys
    assert "Biggest   list found '\"list\"' has 100 items" in bigkeys
    memkeys = subprocess.run(["redis-cli", "-p", port, "--memkeys"], capture_output=True, text=True, timeout=30).stdout
    found = re.search(r"Biggest string found '\"big\"' has (\d+) bytes", memkeys)
    assert found and int(found.group(1)) >= 5000
    process = subprocess.Popen(["stdbuf", "-o0", "redis-cli", "-p", port, "--stat", "-i", "0.2"],
                               stdout=subprocess.PIPE, text=True)
    try:
        header = process.stdout.readline() + process.stdout.readline()
        first = process.stdout.readline().split()
    finally:
        process.terminate()
        process.wait(10)
    assert "keys" in header and "mem" in header
    assert first[0] == "4" and first[1].endswith("M")  # 4 keys; used memory in MB


def test_a_client_held_by_a_pause_can_disconnect_and_cannot_be_client_unblocked(server) -> None:
    """A held client whose peer closes is handled cleanly; CLIENT UNBLOCK (itself held by an
    ALL pause, answered when the pause times out) does not count a held client as blocked."""
    controller, held, other = RawClient(server.port), RawClient(server.port), RawClient(server.port)
    held_id = held.call(b"CLIENT ID\r\n")
    other_id = other.call(b"CLIENT ID\r\n")
    assert controller.call(b"CLIENT PAUSE 300 ALL\r\n") == b"OK"
    held.send(b"SET k 1\r\n")
    other.send(b"SET j 1\r\n")
    held.close()  # its connection goes while its command is held
    controller.send(b"CLIENT UNBLOCK %d\r\nCLIENT UNBLOCK %d\r\n" % (held_id, other_id))
    assert controller.replies(2) == [0, 0]  # after the pause: neither was blocked by a command
    assert other.replies(1) == [b"OK"]
    # kevy runs what a half-closed connection sent before it closed (as for a blocked one):
    # the held SET ran when the pause ended, then the connection was closed.
    assert controller.call(b"EXISTS k j\r\n") == 2


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_admin_helpers_parse_every_reply(server, protocol) -> None:
    """redis-py's own response callbacks (which fail on a wrong shape) over the admin verbs,
    in both protocols."""
    r = redis.Redis(port=server.port, protocol=protocol, socket_timeout=10)
    r.set("k", "v")
    r.hset("h", "f", "v")
    assert r.client_info()["user"] == "default" and r.client_list()[0]["cmd"]
    assert any(int(entry["id"]) == r.client_id() for entry in r.client_list(_type="normal"))
    assert r.command_count() == 217 and len(r.command_list()) >= 300
    assert b"summary" in RawClient(server.port).call(b"COMMAND DOCS get\r\n")[1]  # redis-py has no DOCS helper
    assert r.command_getkeys("MSET", "a", 1, "b", 2) in ([b"a", b"b"], ["a", "b"])
    assert "get" in r.command() or b"get" in r.command()
    assert r.info("all")["role"] == "master" and "used_memory" in r.info("memory")
    r.config_set("slowlog-log-slower-than", 0)
    r.get("k")
    assert r.slowlog_len() >= 1 and r.slowlog_get(1)[0]["command"]
    assert r.slowlog_reset() is True
    r.config_set("slowlog-log-slower-than", 10000)
    assert r.memory_usage("k") > 0 and r.memory_stats()["keys.count"] == 2
    assert r.object("encoding", "h") in (b"listpack", "listpack") and r.object("refcount", "k") == 1
    assert r.acl_whoami() in ("default", b"default") and r.acl_users() in ([b"default"], ["default"])
    assert r.acl_cat()[:2] in ([b"keyspace", b"read"], ["keyspace", "read"])
    assert r.acl_getuser("default")["flags"] in (["on", "nopass"], [b"on", b"nopass"])
    assert isinstance(r.acl_log(), list) and len(r.acl_genpass()) == 64
    assert r.latency_latest() == [] and r.latency_reset() == 0
    assert r.execute_command("ROLE")[0] in (b"master", "master")
    assert r.client_getredir() == -1 and r.client_trackinginfo()
    assert r.client_no_evict("on") in (b"OK", "OK", True)
    assert r.config_resetstat() is True


def test_redis_py_monitor_and_asyncio_admin(server) -> None:
    r = redis.Redis(port=server.port, socket_timeout=10)
    with r.monitor() as monitor:
        redis.Redis(port=server.port).set("watched", "1")
        seen = monitor.next_command()
        while "watched" not in seen["command"]:
            seen = monitor.next_command()
        assert seen["command"] == "SET watched 1" and seen["db"] == 0

    async def admin() -> tuple:
        import redis.asyncio

        client = redis.asyncio.Redis(port=server.port)
        try:
            return (await client.info("clients"), await client.slowlog_len(), await client.client_list(),
                    await client.memory_usage("watched"))
        finally:
            await client.aclose()

    import asyncio

    clients, slow, listed, usage = asyncio.run(admin())
    assert clients["connected_clients"] >= 1 and slow >= 0 and listed and usage > 0
