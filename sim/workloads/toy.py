"""Toy workload: a tiny log + snapshot protocol written here, to test the explorer itself.

What it models. A store of the oracle's own commands (`sim.model`) persisted as a log
`/data/toy.log.<g>` of records `u32 length | payload | u32 crc32` (every append fsynced
before it counts: policy `always`) and a snapshot `/data/toy.snap` (`u32 g | u32 crc32 |
state`) written by durable replace; SAVE writes the snapshot with the next generation, then
creates the next log (fsync_dir) and removes the old one. Recovery loads the snapshot, replays
the log of its generation up to the first bad record and truncates the torn tail (fsynced), so
nested crashes have something to cut.

The broken variants drop one sync each; the explorer must report a violation for both:
- `toy-broken-no-fsync-before-rename`: the snapshot temp is renamed without an fsync;
- `toy-broken-no-fsync-dir-after-create`: a new log's name is never made durable by itself;
- `toy-broken-retry-fsync-after-eio` (found only by the `eio` fault): a failed log fsync is
  retried and trusted.
"""

from __future__ import annotations

import zlib

from kevy_persist.errors import CorruptionError
from sim import model
from sim.checkers import PrefixChecker
from sim.workloads.base import DATA_DIR, Workload

SNAPSHOT = DATA_DIR + "/toy.snap"


def _log_path(generation: int) -> str:
    return f"{DATA_DIR}/toy.log.{generation}"


def _encode_fields(fields) -> bytes:
    return b"".join(len(field).to_bytes(4, "little") + field for field in fields)


def _decode_fields(payload: bytes) -> list[bytes]:
    fields, offset = [], 0
    while offset < len(payload):
        size = int.from_bytes(payload[offset:offset + 4], "little")
        fields.append(payload[offset + 4:offset + 4 + size])
        offset += 4 + size
    return fields


def _record(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "little") + payload + zlib.crc32(payload).to_bytes(4, "little")


def _serialize_state(state: dict) -> bytes:
    fields = []
    for key, value in sorted(state.items()):
        if isinstance(value, tuple):
            fields += [b"L" + key, _encode_fields(value)]
        else:
            fields += [b"S" + key, value]
    return _encode_fields(fields)


def _parse_state(data: bytes) -> dict:
    fields = _decode_fields(data)
    state = {}
    for name, value in zip(fields[0::2], fields[1::2]):
        state[name[1:]] = tuple(_decode_fields(value)) if name[:1] == b"L" else value
    return state


class ToyWorkload(Workload):
    operation_count = 7
    fault_kinds = ("eio", "enospc", "short-write", "bitflip")

    def __init__(self, broken: str = "") -> None:
        self.broken = broken
        self.name = f"toy-broken-{broken}" if broken else "toy"
        self.summary = ("toy log + snapshot protocol" + (f", BROKEN: {broken}" if broken else "")
                        + " (tests the explorer itself)")

    def operations(self, seed: int) -> list:
        operations = model.random_operations(seed, self.operation_count - 1)
        operations.insert(len(operations) // 2, (b"SAVE",))
        return operations

    def run(self, fs, operations, history) -> None:
        fs.make_dirs(DATA_DIR)
        generation = 1
        state: dict = {}
        log = fs.open_append(_log_path(generation))
        if self.broken != "no-fsync-dir-after-create":
            fs.fsync_dir(DATA_DIR)
        for index, argv in enumerate(operations):
            history.begin(index)
            try:
                if argv[0] == b"SAVE":
                    log.close()
                    generation = self._save(fs, state, generation)
                    log = fs.open_append(_log_path(generation))
                else:
                    log.write(_record(_encode_fields(argv)))
                    self._fsync(log)
                    model.apply(state, argv)
            except Exception:  # noqa: BLE001 -- a failed call: not acknowledged, stop here
                history.fail(index)
                return
            history.require(index + 1)

    def _fsync(self, log) -> None:
        try:
            log.fsync()
        except Exception:
            if self.broken != "retry-fsync-after-eio":
                raise
            log.fsync()  # the classic mistake: the retry "succeeds", the data is gone

    def _save(self, fs, state: dict, generation: int) -> int:
        body = _serialize_state(state)
        temp = fs.open_write(SNAPSHOT + ".tmp")
        temp.write((generation + 1).to_bytes(4, "little") + zlib.crc32(body).to_bytes(4, "little") + body)
        if self.broken != "no-fsync-before-rename":
            temp.fsync()
        temp.close()
        fs.rename(SNAPSHOT + ".tmp", SNAPSHOT)
        fs.fsync_dir(DATA_DIR)
        fs.open_append(_log_path(generation + 1)).close()
        if self.broken != "no-fsync-dir-after-create":
            fs.fsync_dir(DATA_DIR)
        fs.remove(_log_path(generation))
        fs.fsync_dir(DATA_DIR)
        return generation + 1

    def recover(self, fs) -> object:
        state: dict = {}
        generation = 1
        if fs.exists(SNAPSHOT):
            data = fs.read_bytes(SNAPSHOT)
            if len(data) < 8 or zlib.crc32(data[8:]) != int.from_bytes(data[4:8], "little"):
                raise CorruptionError(SNAPSHOT, 0, "snapshot checksum mismatch")
            generation = int.from_bytes(data[:4], "little")
            state = _parse_state(data[8:])
        path = _log_path(generation)
        if fs.exists(path):
            data = fs.read_bytes(path)
            offset = 0
            while offset + 8 <= len(data):
                size = int.from_bytes(data[offset:offset + 4], "little")
                end = offset + 4 + size
                # A zero length is refused: a zero-filled tail would otherwise pass as a record
                # (crc32 of nothing is 0) -- the weakest profile found exactly that.
                if size == 0 or end + 4 > len(data) or zlib.crc32(data[offset + 4:end]) != int.from_bytes(data[end:end + 4], "little"):
                    break
                model.apply(state, _decode_fields(data[offset + 4:end]))
                offset = end + 4
            if offset < len(data):
                handle = fs.open_append(path)
                handle.truncate(offset)
                handle.fsync()
                handle.close()
        return model.canonical(state)

    def checker(self, operations, *, bitflip: bool):
        return PrefixChecker(operations, bitflip=bitflip)


def workloads() -> list[Workload]:
    return []
