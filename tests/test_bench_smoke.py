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


def test_bench_bgsave_saves_under_writes_and_restarts() -> None:
    """2,000 keys: a BGSAVE per kevy worker and Redis's, with a writer running; the restarts."""
    import bench_bgsave

    rows = bench_bgsave.main(["--keys", "2000", "--seconds", "0.2", "--repeat", "1"])
    assert [row[0] for row in rows] == ["kevy (thread)", "kevy (fork)", "redis", "log only", "snapshot"]
    for row in rows[:3]:
        assert row[1].endswith(" ms") and row[3].endswith("%") and row[7].endswith("%"), row
    assert all(_RATIO.match(row[5]) for row in rows[3:]), rows[3:]
