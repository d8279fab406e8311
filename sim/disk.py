"""Frozen disk states and crash images: the values the crash profiles work on.

A `DiskState` is what `SimFileSystem` knows at one cut, frozen: per file (inode) the durable
bytes and the effects not yet fsynced, in program order; per directory the durable entries,
and, for the whole file system, the name operations (create, rename, remove) not yet made
durable by `fsync_dir`, in program order. A crash profile turns one `DiskState` into the crash
images it allows; an `Image` is the content of the disk after the crash and reboot: the
directories and, per path, the bytes. Images are plain hashable values, so the explorer
de-duplicates them by content before running recovery.

Modelling choices (stated once, here):
- A directory's content (its entries) is tracked like any directory's from `make_dirs` on,
  but its *name* -- its entry in its parent -- is a pending create like a new file's, durable
  only on `fsync_dir(parent)`. In the namespace that entry maps the name to
  `DIRECTORY_INODE`. An image holds a directory only when every entry on its path from `/`
  is kept; the files of a directory whose name is lost are unreachable, so the image loses
  them with it (`make_image`). Directories are never renamed or removed (the core does not).
- A rename stays inside one directory (the core's durable replace never crosses directories).
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

# A file effect: ("write", offset, data) or ("truncate", size, b"").
WRITE = "write"
TRUNCATE = "truncate"

CREATE = "create"
# The inode number a directory's entry in its parent names (file inodes count from 1).
DIRECTORY_INODE = 0
RENAME = "rename"
REMOVE = "remove"


class Effect(NamedTuple):
    kind: str  # WRITE or TRUNCATE
    offset: int  # write offset, or the new size for a truncate
    data: bytes  # the written bytes (empty for a truncate)


class NameOperation(NamedTuple):
    """One pending change to a directory.

    `source` is the name removed or renamed (empty for a create), `target` the name created
    (empty for a remove). `replaced_inode` is the inode a rename overwrote (or -1), and
    `effects_at_rename` the inode's effect count when it was renamed: ext4's replace-by-rename
    heuristic flushes that much data with the rename.
    """

    kind: str
    directory: str
    source: str
    target: str
    inode: int
    replaced_inode: int
    effects_at_rename: int


class InodeState(NamedTuple):
    durable: bytes
    # Effects not yet durable; `first_effect_index` numbers the first of them among every
    # effect this inode ever had (fsync advances it), so a rename can name a data point.
    pending: tuple[Effect, ...]
    first_effect_index: int


class DiskState(NamedTuple):
    directories: frozenset[str]
    inodes: dict[int, InodeState]
    durable_entries: dict[str, dict[str, int]]
    pending_names: tuple[NameOperation, ...]


class Image(NamedTuple):
    """A crash image: what a reboot finds. `files` is sorted by path (canonical)."""

    directories: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...]

    def as_dict(self) -> dict[str, bytes]:
        return dict(self.files)

    def describe(self) -> str:
        lines = [f"  {path}: {len(data)} bytes {data[:48]!r}{'...' if len(data) > 48 else ''}"
                 for path, data in self.files]
        return "\n".join(lines) or "  (no files)"


def apply_effect(content: bytearray, effect: Effect) -> None:
    """Apply one file effect to `content` in place (holes read as zeros, like a sparse file)."""
    if effect.kind == TRUNCATE:
        del content[effect.offset:]
        if len(content) < effect.offset:
            content.extend(bytes(effect.offset - len(content)))
        return
    assert effect.kind == WRITE, effect
    end = effect.offset + len(effect.data)
    if len(content) < effect.offset:
        content.extend(bytes(effect.offset - len(content)))
    content[effect.offset:end] = effect.data


def apply_effects(durable: bytes, effects: tuple[Effect, ...] | list[Effect]) -> bytes:
    if not effects:
        return durable
    content = bytearray(durable)
    for effect in effects:
        apply_effect(content, effect)
    return bytes(content)


def apply_name_operation(entries: dict[str, int], operation: NameOperation) -> None:
    """Apply a whole (atomic) name operation to a directory's entries."""
    if operation.kind == CREATE:
        entries[operation.target] = operation.inode
    elif operation.kind == RENAME:
        if entries.get(operation.source) == operation.inode:
            del entries[operation.source]
        entries[operation.target] = operation.inode
    else:
        assert operation.kind == REMOVE, operation
        if entries.get(operation.source) == operation.inode:
            del entries[operation.source]


def join_path(directory: str, name: str) -> str:
    return name if not directory else directory.rstrip("/") + "/" + name


def reachable_directories(directories, entries_by_directory: dict[str, dict[str, int]]) -> set[str]:
    """The directories of `directories` whose every name on the path from `/` is in the
    namespace (a directory whose own name is lost takes its subtree with it)."""
    reachable = {"/"}
    for directory in sorted(directories, key=len):  # parents before children
        if directory == "/":
            continue
        up, _, name = directory.rstrip("/").rpartition("/")
        up = up or "/"
        if up in reachable and entries_by_directory.get(up, {}).get(name) == DIRECTORY_INODE:
            reachable.add(directory)
    return reachable


def with_directory_links(directories, entries_by_directory: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """A namespace with every directory's entry in its parent added (the live namespace,
    where every created directory is there)."""
    linked = {directory: dict(entries) for directory, entries in entries_by_directory.items()}
    for directory in directories:
        if directory != "/":
            up, _, name = directory.rstrip("/").rpartition("/")
            linked.setdefault(up or "/", {})[name] = DIRECTORY_INODE
    return linked


def without_directory_links(entries_by_directory: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """The file entries only (what `SimFileSystem` keeps as its live namespace)."""
    return {directory: {name: inode for name, inode in entries.items() if inode != DIRECTORY_INODE}
            for directory, entries in entries_by_directory.items()}


def make_image(
    directories: frozenset[str],
    entries_by_directory: dict[str, dict[str, int]],
    content_of_inode: dict[int, bytes],
) -> Image:
    """Assemble an image from a namespace and each reachable inode's bytes: only the
    directories whose names the namespace keeps (`reachable_directories`), and their files."""
    kept = reachable_directories(directories, entries_by_directory)
    files = []
    for directory, entries in entries_by_directory.items():
        if directory not in kept:
            continue
        for name, inode in entries.items():
            if inode != DIRECTORY_INODE:
                files.append((join_path(directory, name), content_of_inode[inode]))
    files.sort()
    return Image(tuple(sorted(kept)), tuple(files))


def durable_namespace(state: DiskState) -> dict[str, dict[str, int]]:
    return {directory: dict(entries) for directory, entries in state.durable_entries.items()}


def namespace_after(state: DiskState, count: int) -> dict[str, dict[str, int]]:
    """The durable namespace plus the first `count` pending name operations, whole."""
    entries = durable_namespace(state)
    for operation in state.pending_names[:count]:
        apply_name_operation(entries.setdefault(operation.directory, {}), operation)
    return entries


def reachable_inodes(entries_by_directory: dict[str, dict[str, int]]) -> list[int]:
    """The file inodes a namespace names (directory entries left out)."""
    return sorted({inode for entries in entries_by_directory.values() for inode in entries.values()
                   if inode != DIRECTORY_INODE})


def flip_bit(image: Image, path: str, bit_index: int) -> Image:
    """The same image with one bit of `path` inverted (a bit flip in synced data)."""
    files = []
    for file_path, data in image.files:
        if file_path == path:
            assert 0 <= bit_index < len(data) * 8, (path, bit_index)
            flipped = bytearray(data)
            flipped[bit_index // 8] ^= 1 << (bit_index % 8)
            data = bytes(flipped)
        files.append((file_path, data))
    return Image(image.directories, tuple(files))


def image_digest(image: Image) -> str:
    """A short content hash of an image (seeds the nested-crash samplers)."""
    digest = hashlib.blake2b(digest_size=12)
    for path, data in image.files:
        digest.update(path.encode() + b"\0" + len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()
