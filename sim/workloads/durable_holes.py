"""Core workloads: a zero-filled page in a log, on both sides of the synced-marker rule.

The rule (specs/aof-format.md, "Lost pages"): a page-shaped run of zeros followed by valid
records is a torn tail -- pages of unsynced appends a crash lost out of order -- unless a
synced marker after it claims the damaged bytes were fsynced; then it is damage to durable
data and the open is refused with the log's path and the damage's offset.

What runs.
- `open-hole-marked` (the crash side): three acknowledged (`always`) writes, then an unsynced
  tail as a crash under group commit leaves it: zeros to the next 4 KiB boundary (the pages
  of appends made while the last fsync ran, lost), then a synced marker naming what that
  fsync covered -- the end of the acknowledged writes, before the hole -- and three late
  records. Opening must cut the hole and everything after it as a torn tail, keep the
  acknowledged writes, and append more (`always`); the oracle is the prefix model
  (`PrefixChecker`) with the setup writes required.
- `open-durable-hole` (the damage side): eight acknowledged writes of 1.5 KiB through the
  real writer, whose fsyncs put genuine synced markers into the log; then the second 4 KiB
  page of the file is zeroed, as a failing disk does. Every synced marker after it claims
  bytes past the damage, so on every image (the open only reads) recovery must refuse with
  `CorruptionError` naming the log's path and the first damaged byte's offset
  (`RefusalChecker`); opening it, or refusing for another reason, is a violation.

Replay a failure with the line the sweep prints.
"""

from __future__ import annotations

from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import KevyError
from sim import model
from sim.checkers import Outcome, PrefixChecker, Verdict
from sim.disk import Image
from sim.workloads.base import DATA_DIR, Workload
from sim.workloads.core_log import (
    ShardDriver,
    core_missing,
    open_data_shard,
    shard_state,
)

LOG_PATH = DATA_DIR + "/aof-0.aof"
PAGE_BYTES = 4096
DAMAGED_PAGE = 1  # the file's second page: inside the synced records, after the header page


def _acknowledged_files(operations: list) -> dict[str, bytes]:
    """The data dir after `operations` ran acknowledged under `always` (the real core)."""
    from sim.model import History
    from sim.simfs import SimFileSystem

    scratch = SimFileSystem()
    scratch.make_dirs(DATA_DIR)
    clock = ManualClock()
    driver = ShardDriver(open_data_shard(scratch, clock, "always"), clock, "always", History())
    for index, argv in enumerate(operations):
        assert driver.command(index, argv), "the setup writes are acknowledged"
    return {DATA_DIR + "/" + name: scratch.read_bytes(DATA_DIR + "/" + name) for name in scratch.list_dir(DATA_DIR)}


def _image(files: dict[str, bytes]) -> Image:
    return Image(("/", DATA_DIR), tuple(sorted(files.items())))


class MarkedHoleWorkload(Workload):
    name = "open-hole-marked"
    summary = "open a log whose unsynced tail lost a page before a synced marker, then append"
    operation_count = 3
    fault_kinds = ("eio", "enospc")

    def skip_reason(self) -> str | None:
        return core_missing()

    @staticmethod
    def _setup_operations() -> list:
        return model.random_operations(1_000_003, 3)

    def operations(self, seed: int) -> list:
        return model.random_operations(seed, self.operation_count)

    def initial_image(self, seed: int) -> Image:
        from kevy_persist.formats.aof_format import encode_record, encode_records
        from kevy_persist.formats.log_markers import synced_marker_argv

        files = _acknowledged_files(self._setup_operations())
        synced_end = len(files[LOG_PATH])  # every setup write was fsynced (always)
        hole = bytes(PAGE_BYTES - synced_end % PAGE_BYTES)
        late = [[b"APPEND", b"text:9", b"late-%d" % number] for number in range(3)]
        # The marker names the fsync that covered the setup writes: a claim before the hole.
        files[LOG_PATH] += hole + encode_record(2, synced_marker_argv(synced_end)) + encode_records(2, late)
        return _image(files)

    def run(self, fs, operations, history) -> None:
        setup = self._setup_operations()
        for index in range(len(setup)):
            history.begin(index)
        history.require(len(setup))
        clock = ManualClock()
        try:
            shard = open_data_shard(fs, clock, "always")
        except KevyError:
            return  # opening failed (a fault): the setup writes stay required
        driver = ShardDriver(shard, clock, "always", history)
        for index, argv in enumerate(operations):
            driver.command(len(setup) + index, argv)

    def recover(self, fs) -> object:
        return shard_state(open_data_shard(fs, ManualClock(), "always"))

    def checker(self, operations, *, bitflip: bool):
        return PrefixChecker(self._setup_operations() + list(operations), bitflip=bitflip)


class RefusalChecker:
    """The one right outcome is a refusal: `CorruptionError` naming `path` and `offset`."""

    def __init__(self, path: str, offset: int) -> None:
        self.expected = f"{path}: corrupt at byte {offset}:"

    def with_failures(self, failed: frozenset[int]) -> RefusalChecker:
        return self

    def check(self, outcome: Outcome, freeze: tuple[int, int]) -> Verdict:
        if outcome.failure == "refused:CorruptionError" and outcome.detail.startswith(self.expected):
            return Verdict("refused-durable-hole", True, outcome.detail)
        if outcome.failure:
            return Verdict(f"wrong-refusal:{outcome.failure}", False, outcome.detail)
        return Verdict("served-a-durable-hole", False,
                       f"opened over a hole the log proves durable, with state {outcome.state!r}")


class DurableHoleWorkload(Workload):
    name = "open-durable-hole"
    summary = "open a log with a zeroed page inside data its synced markers prove durable (refused)"
    operation_count = 0
    fault_kinds = ()

    def skip_reason(self) -> str | None:
        return core_missing()

    @staticmethod
    def _setup_operations() -> list:
        padding = b"p" * 1500
        return [(b"APPEND", b"text:%d" % (number % 3), b"v%d" % number + padding) for number in range(8)]

    def operations(self, seed: int) -> list:
        return []

    def _files_and_damage(self) -> tuple[dict[str, bytes], int]:
        """The damaged data dir and the offset of its first damaged record."""
        from kevy_persist.formats.aof_format import HEADER_SIZE, read_record

        files = _acknowledged_files(self._setup_operations())
        log = bytearray(files[LOG_PATH])
        start, end = DAMAGED_PAGE * PAGE_BYTES, (DAMAGED_PAGE + 1) * PAGE_BYTES
        assert len(log) > end + PAGE_BYTES, "records (and synced markers) follow the damaged page"
        damaged_record = position = HEADER_SIZE
        while position < start:  # the record the damage begins in
            damaged_record = position
            _, position = read_record(2, bytes(log), position)
        log[start:end] = bytes(end - start)
        files[LOG_PATH] = bytes(log)
        return files, damaged_record if position > start else start

    def initial_image(self, seed: int) -> Image:
        return _image(self._files_and_damage()[0])

    def run(self, fs, operations, history) -> None:
        try:
            open_data_shard(fs, ManualClock(), "always")
        except KevyError:
            return  # refused, as it must be: nothing is served, nothing written

    def recover(self, fs) -> object:
        return shard_state(open_data_shard(fs, ManualClock(), "always"))

    def checker(self, operations, *, bitflip: bool):
        return RefusalChecker(LOG_PATH, self._files_and_damage()[1])


def workloads() -> list[Workload]:
    return [MarkedHoleWorkload(), DurableHoleWorkload()]
