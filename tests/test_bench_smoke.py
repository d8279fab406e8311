"""Smoke runs of the benchmark scripts in `bench/`, so they do not rot.

Method: call each script's `main` with a tiny workload (2,000 keys; a few dozen fsynced
SETs) against a real redis-server, and check the table it returns has a measured number in
every cell that should hold one. The scripts check their own results as they go (the
snapshot reloads every key, DBSIZE after the SETs, every GET finds its value), so a store
that lost writes fails here too. Skipped when redis-server or redis-benchmark is missing.
Not a performance test: no number is compared with a threshold.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import sys

import pytest

BENCH_DIRECTORY = pathlib.Path(__file__).resolve().parent.parent / "bench"

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("redis-benchmark") is None,
    reason="needs redis-server and redis-benchmark on PATH",
)

_RATIO = re.compile(r"^\d+\.\d\dx$")


@pytest.fixture(autouse=True)
def bench_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH_DIRECTORY))


def _column(rows: list[list[str]], index: int) -> list[str]:
    return [row[index] for row in rows]


def test_bench_snapshot_reloads_every_key_and_reports_ratios() -> None:
    """2,000 keys: save, load and Store.open on our side, SAVE and load on Redis's."""
    import bench_snapshot

    rows = bench_snapshot.main(["--keys", "2000"])
    by_name = {row[0].strip(): row for row in rows}
    for name in ("save (SAVE)", "load: load_entry each", "load: load_entries bulk", "load: grouped (strings_into)",
                 "Store.open (whole path)"):
        wall, cpu = by_name[name][1], by_name[name][4]
        assert wall.endswith(" s") and cpu.endswith(" s"), by_name[name]
        assert _RATIO.match(by_name[name][3]), by_name[name]
        # Redis's CPU time comes in 10 ms ticks: for 2,000 keys it may read 0 (ratio n/a).
        assert _RATIO.match(by_name[name][6]) or by_name[name][6] == "n/a", by_name[name]
    assert _RATIO.match(by_name["file size"][3])


def test_bench_log_sets_every_key_under_each_policy() -> None:
    """A few hundred SETs per policy (40 under always), 1 and 4 threads, and redis-benchmark."""
    import bench_log

    rows = bench_log.main(["--operations", "400", "--always-operations", "40"])
    measured = [row for row in rows if not row[1].startswith("-")]
    assert sorted({row[0] for row in measured}) == ["always", "everysec", "no"]
    assert len(measured) == 6
    assert all(_RATIO.match(cell) for cell in _column(measured, 5))


def test_bench_store_reads_back_every_key_in_each_mode() -> None:
    """SET then GET 400 keys in each mode with 1 and 4 threads (40 SETs under always)."""
    import bench_store

    rows = bench_store.main(["--operations", "400", "--always-operations", "40"])
    assert [row[0] for row in rows] == ["memory", "memory", "no", "no", "everysec", "everysec", "always", "always"]
    assert all(_RATIO.match(cell) for cell in _column(rows, 4) + _column(rows, 7))


def test_bench_datamodel_reports_every_workload() -> None:
    """A 2% run of every data-model workload on both sides: a rate ratio each, and a CPU
    ratio unless the server's CPU time was under /proc's 10 ms resolution ("n/a")."""
    import bench_datamodel

    rows = bench_datamodel.main(["--scale", "0.02"])
    assert [row[0] for row in rows] == list(bench_datamodel.WORKLOADS)
    for row in rows:
        assert _RATIO.match(row[5]), row
        assert _RATIO.match(row[6]) or row[6] == "n/a", row
def test_bench_streams_reads_back_every_entry() -> None:
    """XADD / XRANGE on both servers (a few hundred requests), a 3,000-entry stream saved and
    loaded on both sides; the script checks XLEN and the last entry after each load."""
    import bench_streams

    throughput, snapshot = bench_streams.main(
        ["--entries", "3000", "--range-entries", "500", "--requests", "200", "--pipelined-requests", "400",
         "--structure-operations", "500"]
    )
    assert len(throughput) == 8 and all(_RATIO.match(cell) for cell in _column(throughput, 4))
    by_name = {row[0].strip(): row for row in snapshot}
    for name in ("save (SAVE)", "load (read + decode + fill)", "Store.open (whole path)"):
        assert _RATIO.match(by_name[name][3]), by_name[name]
def test_bench_rdb_round_trips_every_key_through_both_servers() -> None:
    """1,000 mixed keys: export, imports of both dumps, Redis SAVE and loads (DBSIZE checked)."""
    import bench_rdb

    rows = bench_rdb.main(["--keys", "1000", "--shape", "mixed"])
    by_name = {row[0].strip(): row for row in rows}
    for name in ("export-rdb vs SAVE", "import-rdb (Redis's dump) vs load", "import-rdb (our export) vs load"):
        assert by_name[name][1].endswith(" s") and by_name[name][4].endswith(" s"), by_name[name]
        assert _RATIO.match(by_name[name][3]), by_name[name]
    assert by_name["redis-server loads our export"][2].endswith(" s")
    assert _RATIO.match(by_name["file size"][3])
def test_bench_request_path_times_every_layer() -> None:
    """2,000 SETs through each layer of kevy-server's request path, unpipelined and 16 deep."""
    import bench_request_path

    rows = bench_request_path.main(["--requests", "2000"])
    layers = [row[0] for row in rows]
    assert layers[:5] == ["parse", "dispatch", "command", "log encoding", "reply encoding"]
    assert all(float(cell) >= 0 for row in rows if row[0].startswith("whole") for cell in row[1:])


def test_bench_server_runs_a_cell_against_both_servers() -> None:
    """One SET cell (-c 10, -P 1, 2,000 requests) and the always row, kevy-server and Redis."""
    import bench_server

    rows = bench_server.main(["--requests", "2000", "--always-requests", "500", "--load-keys", "0",
                              "--tests", "set", "--clients", "10", "--depths", "1"])
    assert [(row[0], row[1]) for row in rows] == [("everysec", "SET"), ("always", "SET")]
    assert all(_RATIO.match(row[6]) for row in rows)
def test_bench_bgsave_saves_under_writes_and_restarts() -> None:
    """2,000 keys: a BGSAVE per kevy worker and Redis's, with a writer running; the restarts."""
    import bench_bgsave

    rows = bench_bgsave.main(["--keys", "2000", "--seconds", "0.2", "--repeat", "1"])
    assert [row[0] for row in rows] == ["kevy (thread)", "kevy (fork)", "redis", "log only", "snapshot"]
    for row in rows[:3]:
        assert row[1].endswith(" ms") and row[3].endswith("%") and row[7].endswith("%"), row
    assert all(_RATIO.match(row[5]) for row in rows[3:]), rows[3:]


def test_bench_replication_syncs_a_replica_from_kevy_and_from_redis() -> None:
    """2,000 keys and 2,000 SETs: every replica reaches DBSIZE N (the script waits for it)."""
    import bench_replication

    rows = bench_replication.main(["--keys", "2000", "--requests", "2000", "--repeat", "1"])
    by_name = {row[0]: row for row in rows}
    assert float(by_name["seconds until the replica is up"][1]) > 0
    for name in ("SET req/s, no replica", "SET req/s, one replica"):
        assert _RATIO.match(by_name[name][3]), by_name[name]


def test_a_run_too_short_for_redis_benchmarks_clock_gets_a_rate_from_the_wall_time(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-benchmark prints rps "inf" when a run ends within its millisecond clock (CI saw it
    with 400 pipelined XADDs); the runner then divides the requests by the wall time it measured."""
    import os

    import bench_common

    fake = tmp_path / "redis-benchmark"
    fake.write_text(
        "#!/bin/sh\n"
        "echo 'a cluster preamble line'\n"
        "echo '\"test\",\"rps\",\"avg_latency_ms\"'\n"
        "echo '\"XADD k * f v\",\"inf\",\"0.100\"'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(bench_common, "REDIS_BENCHMARK", str(fake))
    run = bench_common.run_redis_benchmark(["-n", "400"], 400, [os.getpid()])
    assert run.wall_seconds > 0
    assert run.requests_per_second == pytest.approx(400 / run.wall_seconds)
    assert run.server_cpu_seconds >= 0
