"""`kevy-persist check`: verify every file of a data dir without changing any of them.

For each shard: the snapshot decodes (version, records, covered log position), the log scans
(format, records, epoch marker, where the valid prefix ends and why), the two pair up by the
history rules, and every key routes to the shard that holds it. Files that belong to no shard
(quarantined tails, temps, a re-shard journal, per-shard files beyond the layout) are listed.

Damage = anything the next open would drop, refuse or mis-route: a torn tail, corruption,
missing history, a stranded key. A torn tail is a normal crash artefact, but its bytes would
be quarantined, so `check` reports it as damage with the byte count.
"""

from __future__ import annotations

from typing import Any

import attrs

from kevy_persist.disk.fs import FileSystem, join
from kevy_persist.engine import aof, snapshot
from kevy_persist.engine.shard_opening import load_shard_read_only
from kevy_persist.errors import KevyError
from kevy_persist.layout import names as layout_names
from kevy_persist.layout.databases import MOVE_JOURNAL_NAME, SWAP_JOURNAL_NAME, parse_database_dir
from kevy_persist.layout.meta import read_layout
from kevy_persist.layout.ownership import LOCK_NAME, current_owner, describe_owner, shard_lock_name
from kevy_persist.layout.routing import Router


@attrs.frozen
class Finding:
    path: str
    damaged: bool
    message: str
    details: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class IntegrityReport:
    directory: str
    findings: tuple[Finding, ...]

    @property
    def damaged(self) -> bool:
        return any(finding.damaged for finding in self.findings)

    def as_json(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "damaged": self.damaged,
            "findings": [attrs.asdict(finding) for finding in self.findings],
        }

    def as_text(self) -> str:
        lines = [
            f"{'DAMAGE' if finding.damaged else 'ok    '} {finding.path}: {finding.message}"
            for finding in self.findings
        ]
        lines.append(f"{self.directory}: {'DAMAGED' if self.damaged else 'clean'}")
        return "\n".join(lines) + "\n"


def _check_snapshot(fs: FileSystem, path: str) -> Finding:
    try:
        loaded = snapshot.load_snapshot(fs, path)
    except KevyError as error:
        return Finding(path, True, str(error), {"offset": getattr(error, "offset", None)})
    covered = loaded.covered
    where = f"covers log epoch {covered.epoch} to byte {covered.offset}" if covered else "covers no log position"
    return Finding(
        path,
        False,
        f"snapshot v{loaded.version}, {len(loaded.records)} records, {where}",
        {"version": loaded.version, "records": len(loaded.records), "size_bytes": loaded.size_bytes},
    )


def _check_log(fs: FileSystem, path: str) -> Finding:
    scan = aof.scan_log(fs, path)
    marker = scan.epoch_marker
    identity = f"epoch {marker.epoch} {marker.kind}" if marker else "no epoch marker (legacy)"
    details = {
        "format": scan.format_version,
        "records": scan.record_count,
        "valid_end_offset": scan.valid_end_offset,
        "size_bytes": scan.file_size_bytes,
        "stop": scan.stop.value,
        "damage_offset": scan.damage_offset,
        "dropped_bytes": scan.file_size_bytes - scan.valid_end_offset,
    }
    message = f"log format {scan.format_version}, {scan.record_count} records, {identity}"
    if scan.stop is aof.StopKind.TORN_TAIL:
        return Finding(path, True, f"{message}; torn tail of {details['dropped_bytes']} bytes at byte {scan.valid_end_offset} ({scan.reason})", details)
    if scan.stop is aof.StopKind.CORRUPTION:
        return Finding(path, True, f"{message}; corrupt at byte {scan.damage_offset}: {scan.reason}; valid records resume at byte {scan.resume_offset}", details)
    return Finding(path, False, message, details)


def _check_owner(fs: FileSystem, directory: str) -> list[Finding]:
    """A dir in use is read as it is now: say so (it is not damage)."""
    owner = current_owner(fs, directory)
    if not owner.held:
        return []
    return [Finding(join(directory, LOCK_NAME), False, describe_owner(directory, owner), {"holder_pid": owner.holder_pid})]


def check_data_dir(fs: FileSystem, directory: str) -> IntegrityReport:
    findings: list[Finding] = _check_owner(fs, directory)
    try:
        reading = read_layout(fs, directory)
    except KevyError as error:
        return IntegrityReport(directory, (Finding(directory, True, str(error)),))
    if reading.layout is None:
        return IntegrityReport(directory, (*findings, Finding(directory, False, "fresh: no shard files")))
    shard_layout = reading.layout
    findings.append(
        Finding(
            join(directory, "shards.meta"),
            False,
            f"{shard_layout.shard_count} shards routed by {shard_layout.routing.value} ({reading.source.value})",
        )
    )
    findings += [Finding(directory, False, note) for note in reading.notes]
    if reading.journal_present:
        findings.append(Finding(join(directory, "reshard.journal"), False, "an interrupted re-shard; the next open finishes it"))
    router = Router(shard_layout.shard_count, shard_layout.routing)
    for index in range(shard_layout.shard_count):
        findings += _check_shard(fs, directory, index, router)
    for index in reading.stray_indexes:
        findings.append(Finding(directory, True, f"files of shard {index} lie beyond the layout: their keys are stranded"))
    known = {layout_names.snapshot_name(i) for i in range(shard_layout.shard_count)} | {
        layout_names.log_name(i) for i in range(shard_layout.shard_count)
    } | {"shards.meta", "reshard.journal", LOCK_NAME} | {shard_lock_name(i) for i in range(shard_layout.shard_count)}
    for name in fs.list_dir(directory):
        if name in (SWAP_JOURNAL_NAME, MOVE_JOURNAL_NAME):
            findings.append(Finding(join(directory, name), False, "an interrupted SWAPDB or MOVE; the next open finishes it"))
        elif parse_database_dir(name) is not None:
            continue  # another database's dir (checked on its own by `kevy-persist check`)
        elif name not in known:
            findings.append(Finding(join(directory, name), False, f"not part of the layout ({layout_names.classify(name).role.value})"))
    return IntegrityReport(directory, tuple(findings))


def _check_shard(fs: FileSystem, directory: str, index: int, router: Router) -> list[Finding]:
    findings = []
    snapshot_path = join(directory, layout_names.snapshot_name(index))
    log_path = join(directory, layout_names.log_name(index))
    if fs.exists(snapshot_path):
        findings.append(_check_snapshot(fs, snapshot_path))
    if fs.exists(log_path):
        findings.append(_check_log(fs, log_path))
    if any(finding.damaged for finding in findings):
        return findings
    try:
        reading = load_shard_read_only(fs, directory, index, now_ms=0)
    except KevyError as error:
        return [*findings, Finding(directory, True, f"shard {index}: {error}")]
    stranded = [key for key in reading.keyspace.keys() if router.shard_for_key(key) != index]
    summary = (
        f"shard {index}: {len(reading.keyspace)} keys ({reading.snapshot_keys} from the snapshot, "
        f"{reading.replayed_commands} commands replayed)"
    )
    if reading.discarded_transaction_commands:
        summary += f"; an unfinished transaction of {reading.discarded_transaction_commands} commands is discarded"
    findings.append(Finding(directory, False, summary))
    if stranded:
        findings.append(
            Finding(directory, True, f"shard {index}: {len(stranded)} keys route to other shards", {"example": stranded[0].hex()})
        )
    return findings
