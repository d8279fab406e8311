"""The data dir's shape: file names, the recorded shard layout, legacy inference.

A kevy data dir is flat. Shard `i` owns `dump-{i}.rdb` and `aof-{i}.aof`; `shards.meta`
records the (shard count, routing) those files were written under, because a file is only
readable under the routing that wrote it. This module models that, compatible both ways
with the Rust kevy 1.23 (facts and the differences we chose are in `specs/layout.md`):

- the `shards.meta` codec (`encode_shards_meta` / `decode_shards_meta`), pure;
- `read_layout(fs, directory)`: meta (v1 bare count or v2 count + tag), else the legacy
  rule (max `dump-{i}.rdb` / `aof-{i}.aof` index + 1, KevyHash), else fresh;
- `write_layout(fs, directory, layout)`: a durable replace (`shards.meta.tmp`, fsync,
  rename, fsync_dir), in the v2 text kevy 1.23 itself writes, so kevy reads ours.

What is refused (`LayoutError`), where kevy would silently fall back to the legacy rule and
possibly re-shard on a guess: an unknown routing tag, a count that is not a number, a
count of 0 or above `MAX_SHARD_COUNT`, a meta that is not UTF-8 or absurdly large.

Names, their classification and the re-shard journal's text codec are in
`names.py`; the re-shard protocol itself is not here.
"""

from __future__ import annotations

import enum

import attrs

from kevy_persist.disk.fs import FileSystem, join
from kevy_persist.errors import LayoutError
from kevy_persist.layout.names import (
    SHARDS_META_NAME,
    SHARDS_META_TEMP_NAME,
    FileRole,
    classify,
    log_name,
    parse_rust_unsigned,
    rust_lines,
    rust_trim,
    snapshot_name,
)
from kevy_persist.layout.routing import MAX_SHARD_COUNT, Routing

# A v2 meta is at most "4096\nkevyhash\n"; anything far larger is not a meta we wrote or
# kevy wrote, and is not read into memory whole.
MAX_SHARDS_META_SIZE_BYTES = 4096


def _check_layout_shard_count(instance: object, attribute: object, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"shard_count must be an int, not {type(value).__name__}")
    if not 1 <= value <= MAX_SHARD_COUNT:
        raise ValueError(f"shard_count {value} is outside 1..{MAX_SHARD_COUNT}")


@attrs.frozen
class ShardLayout:
    """How a data dir's keys are spread: `shard_count` shards routed by `routing`."""

    shard_count: int = attrs.field(validator=_check_layout_shard_count)
    routing: Routing = attrs.field(
        default=Routing.KEVYHASH, validator=attrs.validators.instance_of(Routing)
    )


class MetaFormat(enum.Enum):
    """`shards.meta` text formats: v1 = `"{n}\\n"` (KevyHash), v2 = `"{n}\\n{tag}\\n"`."""

    V1 = "v1"
    V2 = "v2"


class LayoutSource(enum.Enum):
    """Where a `LayoutReading` came from."""

    META = "meta"  # shards.meta was read
    LEGACY = "legacy"  # no meta: inferred from the per-shard file names
    FRESH = "fresh"  # no meta and no per-shard file: any layout may be recorded


@attrs.frozen
class LayoutReading:
    """What `read_layout` found in a data dir.

    `layout` is None exactly when `source` is FRESH. `snapshot_indexes` / `log_indexes` are
    the shard indexes whose canonical files exist (sorted). `journal_present` means a
    re-shard committed and did not finish: recovery must roll it forward *before* this
    reading is trusted (finishing rewrites `shards.meta`). `notes` say what was tolerated.
    """

    source: LayoutSource
    layout: ShardLayout | None
    meta_format: MetaFormat | None = None
    snapshot_indexes: tuple[int, ...] = ()
    log_indexes: tuple[int, ...] = ()
    journal_present: bool = False
    notes: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        assert (self.layout is None) == (self.source is LayoutSource.FRESH)
        assert (self.meta_format is not None) == (self.source is LayoutSource.META)

    @property
    def is_fresh(self) -> bool:
        return self.source is LayoutSource.FRESH

    @property
    def stray_indexes(self) -> tuple[int, ...]:
        """Indexes of per-shard files at or beyond the layout's shard count (stranded keys)."""
        if self.layout is None:
            return ()
        limit = self.layout.shard_count
        return tuple(sorted({i for i in self.snapshot_indexes + self.log_indexes if i >= limit}))


def encode_shards_meta(layout: ShardLayout, meta_format: MetaFormat | str = MetaFormat.V2) -> bytes:
    """The `shards.meta` bytes for `layout` (v2 unless asked; v1 cannot express slots)."""
    meta_format = MetaFormat(meta_format)
    if meta_format is MetaFormat.V1:
        if layout.routing is not Routing.KEVYHASH:
            raise ValueError("a v1 shards.meta (bare count) can only record KevyHash routing")
        return f"{layout.shard_count}\n".encode("ascii")
    return f"{layout.shard_count}\n{layout.routing.value}\n".encode("ascii")


def decode_shards_meta(
    data: bytes, path: str = SHARDS_META_NAME
) -> tuple[ShardLayout, MetaFormat] | None:
    """Parse `shards.meta` as kevy does, refusing where kevy would guess.

    Lines split like Rust's `str::lines` (on LF, one trailing CR dropped), each trimmed of
    whitespace. Line 1: the count (`+` sign and leading zeros allowed, as Rust's `usize`
    parser does). Line 2: missing or blank = v1 (KevyHash), `kevyhash` or `slots` = v2.
    Later lines are ignored. Returns None for a blank file (no line with content: kevy
    reads it as "no meta" too). Raises `LayoutError` for anything else.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LayoutError(path, f"shards.meta is not UTF-8 text (byte {error.start})") from None
    lines = rust_lines(text)
    if all(not rust_trim(line) for line in lines):
        return None
    count_text = rust_trim(lines[0])
    shard_count = parse_rust_unsigned(count_text, bits=64)
    if shard_count is None:
        raise LayoutError(path, f"shard count {count_text[:40]!r} is not a number")
    if not 1 <= shard_count <= MAX_SHARD_COUNT:
        raise LayoutError(path, f"shard count {shard_count} is outside 1..{MAX_SHARD_COUNT}")
    tag = rust_trim(lines[1]) if len(lines) > 1 else ""
    if tag == "":
        return ShardLayout(shard_count, Routing.KEVYHASH), MetaFormat.V1
    try:
        routing = Routing(tag)
    except ValueError:
        raise LayoutError(
            path,
            f"unknown routing tag {tag[:40]!r} (written by a newer kevy?); refusing to guess",
        ) from None
    return ShardLayout(shard_count, routing), MetaFormat.V2


def infer_legacy_shard_count(names: list[str]) -> int:
    """kevy's legacy rule: highest `dump-{i}.rdb` / `aof-{i}.aof` index + 1, 0 for none."""
    shard_count = 0
    for name in names:
        named = classify(name)
        if named.role in (FileRole.SNAPSHOT, FileRole.LOG):
            assert named.shard_index is not None
            shard_count = max(shard_count, named.shard_index + 1)
    return shard_count


def read_layout(fs: FileSystem, directory: str) -> LayoutReading:
    """Read the layout a data dir's files were written under (see the module docstring)."""
    if not fs.exists(directory):
        return LayoutReading(LayoutSource.FRESH, None)
    names = fs.list_dir(directory)
    snapshot_indexes: set[int] = set()
    log_indexes: set[int] = set()
    journal_present = False
    notes: list[str] = []
    for name in names:
        named = classify(name)
        if named.role in (FileRole.SNAPSHOT, FileRole.LOG) and name not in (
            snapshot_name(named.shard_index),
            log_name(named.shard_index),
        ):
            # kevy counts `dump-01.rdb` as index 1 for the legacy shard count, but no shard
            # ever opens it.
            notes.append(f"{name} counts as shard {named.shard_index} but is never opened")
        elif named.role is FileRole.SNAPSHOT:
            snapshot_indexes.add(named.shard_index)
        elif named.role is FileRole.LOG:
            log_indexes.add(named.shard_index)
        elif named.role is FileRole.RESHARD_JOURNAL:
            journal_present = True
        elif named.role is FileRole.SHARDS_META_TEMP:
            notes.append(f"ignored {name}: left by an interrupted layout write")
    found = {
        "snapshot_indexes": tuple(sorted(snapshot_indexes)),
        "log_indexes": tuple(sorted(log_indexes)),
        "journal_present": journal_present,
    }
    if SHARDS_META_NAME in names:
        meta_path = join(directory, SHARDS_META_NAME)
        size_bytes = fs.size(meta_path)
        if size_bytes > MAX_SHARDS_META_SIZE_BYTES:
            raise LayoutError(meta_path, f"shards.meta is {size_bytes} bytes; not a layout record")
        decoded = decode_shards_meta(fs.read_bytes(meta_path), meta_path)
        if decoded is not None:
            layout, meta_format = decoded
            return LayoutReading(
                LayoutSource.META, layout, meta_format, notes=tuple(notes), **found
            )
        notes.append("shards.meta is blank; read as absent, as kevy does")
    shard_count = infer_legacy_shard_count(names)
    if shard_count == 0:
        return LayoutReading(LayoutSource.FRESH, None, notes=tuple(notes), **found)
    if shard_count > MAX_SHARD_COUNT:
        raise LayoutError(
            directory,
            f"file names imply {shard_count} shards, above {MAX_SHARD_COUNT}; refusing to guess",
        )
    return LayoutReading(
        LayoutSource.LEGACY,
        ShardLayout(shard_count, Routing.KEVYHASH),
        notes=tuple(notes),
        **found,
    )


def write_layout(
    fs: FileSystem,
    directory: str,
    layout: ShardLayout,
    meta_format: MetaFormat | str = MetaFormat.V2,
) -> None:
    """Record `layout` in `directory/shards.meta` by durable replace.

    Steps: write `shards.meta.tmp`, fsync it, rename it over `shards.meta`, fsync the
    directory. A crash leaves either the old meta or the new one (never a torn one); a
    left-over `shards.meta.tmp` is ignored by `read_layout`. The directory must exist.
    """
    data = encode_shards_meta(layout, meta_format)
    assert decode_shards_meta(data) == (layout, MetaFormat(meta_format))
    temp_path = join(directory, SHARDS_META_TEMP_NAME)
    handle = fs.open_write(temp_path)
    try:
        handle.write(data)
        handle.fsync()
    finally:
        handle.close()
    fs.rename(temp_path, join(directory, SHARDS_META_NAME))
    fs.fsync_dir(directory)
