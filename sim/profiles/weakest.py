"""Crash profile `weakest`: the least a POSIX file system promises.

Model.
- Names: any subset of the pending name changes that respects, per name, program order
  (a change to name N persists only if every earlier change to N does). A rename is two
  changes, "target now names the file" and "source no longer names it", so a crash may
  leave neither name, the old, the new, or both. A new directory's name is one such change
  in its parent: when it is not kept, the directory and everything under it are absent,
  whatever else of theirs is kept (`sim.disk.make_image`).
- Size and the last write: per file, the size persists as of some pending effect (a prefix
  of the effects since the last `fsync`, as metadata), and the last write inside that size
  may be torn at any byte. The bytes of that last (whole or torn) write may read back as
  the data, as zeros (size committed, block not written) or as garbage (stale blocks).
- Pages out of order: when a file has two or more pending effects, or a pending truncate,
  each 4 KiB page they touch shows the file's content as of the chosen size point (above) or as of any other
  point in program order (after k whole effects, k = 0..n), independently of the other
  pages; bytes of a page past the file's length at its point read as zeros. This is Linux
  page writeback: pages go to the disk in no fixed order (cyclic writeback, memory
  pressure), each with everything it held when it was written (so two effects inside one
  page keep their order), and the page past end-of-file is zero-filled. It covers, within
  one file: a truncate that did not commit while a later write over the cut region did
  (the cut bytes come back behind the new ones, in other pages), the truncate without the
  write, the size change without the data (ext4 delayed allocation and XFS move the size
  to the end of whatever range was written back, over pages still unwritten: zeros), and
  a later page on disk while an earlier one is not, and a shrinking truncate whose zeroed
  partial page reached the disk while the size change did not (ext4 `data=ordered` writes
  that page before the truncate's journal commit): the bytes after the cut then read as
  zeros to the page's end and as the old data in the pages after it. An `fsync` is a
  barrier: nothing before it is pending. Tearing inside a page (below 4 KiB) is modelled only for the last write.
- Nothing links data and names: a renamed or created file may come back with any of its
  data points, including empty.
The choices are one prefix per name chain and, per file, one (effects, torn bytes, fill)
point plus, for the files with out-of-order pages, one point per touched page. Above the cap
such a file's size point is drawn in two steps (how many effects, uniformly; then torn or
whole, and the fill), so a short write does not crowd out the other points.
"""

from __future__ import annotations

import random

from sim.disk import (
    DIRECTORY_INODE,
    WRITE,
    DiskState,
    Effect,
    Image,
    apply_effect,
    apply_effects,
    durable_namespace,
    make_image,
    reachable_inodes,
)
from sim.profiles.base import Limits, Profile, combinations, garbage

DATA, ZEROS, GARBAGE = "data", "zeros", "garbage"
PAGE_SIZE_BYTES = 4096
AS_SIZE_POINT = -1  # a page option: the page shows what the chosen size point shows


def _atoms(state: DiskState) -> list[tuple[str, str, str, int]]:
    """The pending name changes split into (link|unlink, directory, name, inode), in order."""
    atoms = []
    for operation in state.pending_names:
        if operation.kind in ("create", "rename"):
            atoms.append(("link", operation.directory, operation.target, operation.inode))
        if operation.kind in ("rename", "remove"):
            atoms.append(("unlink", operation.directory, operation.source, operation.inode))
    return atoms


def data_options(effects: tuple[Effect, ...]) -> list[tuple[int, int, str]]:
    """(whole effects kept, bytes kept of the next write or -1, fill of the last write)."""
    options: list[tuple[int, int, str]] = [(0, -1, DATA)]
    for index, effect in enumerate(effects):
        if effect.kind == WRITE:
            for torn_bytes in range(1, len(effect.data)):
                options.extend((index, torn_bytes, fill) for fill in (DATA, ZEROS, GARBAGE))
            options.extend((index + 1, -1, fill) for fill in (DATA, ZEROS, GARBAGE))
        else:
            options.append((index + 1, -1, DATA))
    return options


class SizePoints(list):
    """`data_options(effects)` as a dimension that, when sampled, draws the effect count
    first (uniformly), then torn or whole (even odds) and the fill of the last write."""

    def __init__(self, effects: tuple[Effect, ...]) -> None:
        super().__init__(data_options(effects))
        self.effects = effects

    def choose(self, rng: random.Random) -> tuple[int, int, str]:
        effects = self.effects
        whole = rng.randrange(len(effects) + 1)
        fills = (DATA, ZEROS, GARBAGE)
        if whole < len(effects) and effects[whole].kind == WRITE and len(effects[whole].data) > 1 \
                and rng.random() < 0.5:
            return whole, rng.randrange(1, len(effects[whole].data)), rng.choice(fills)
        if whole > 0 and effects[whole - 1].kind == WRITE:
            return whole, -1, rng.choice(fills)
        return whole, -1, DATA


def content_for(durable: bytes, effects: tuple[Effect, ...], option: tuple[int, int, str]) -> bytes:
    whole, torn_bytes, fill = option
    kept = list(effects[:whole])
    if torn_bytes >= 0:
        kept.append(effects[whole]._replace(data=effects[whole].data[:torn_bytes]))
    if fill != DATA and kept and kept[-1].kind == WRITE:
        last = kept[-1]
        replacement = bytes(len(last.data)) if fill == ZEROS else garbage(last.offset, len(last.data))
        kept[-1] = last._replace(data=replacement)
    return apply_effects(durable, kept)


def contents_by_point(durable: bytes, effects: tuple[Effect, ...]) -> list[bytes]:
    """The file's content after k whole effects, k = 0..len(effects)."""
    content = bytearray(durable)
    points = [durable]
    for effect in effects:
        apply_effect(content, effect)
        points.append(bytes(content))
    return points


def touched_pages(durable: bytes, effects: tuple[Effect, ...]) -> list[int]:
    """The pages whose bytes some pending effect changes (written, or cut by a truncate)."""
    pages: set[int] = set()
    length = len(durable)
    for effect in effects:
        if effect.kind == WRITE:
            end = effect.offset + len(effect.data)
            if effect.data:
                pages.update(range(effect.offset // PAGE_SIZE_BYTES, (end - 1) // PAGE_SIZE_BYTES + 1))
            length = max(length, end)
        else:
            if effect.offset < length:
                pages.update(range(effect.offset // PAGE_SIZE_BYTES, (length - 1) // PAGE_SIZE_BYTES + 1))
            length = effect.offset
    return sorted(pages)


def with_pages(base: bytes, points: list[bytes], pages: list[int], ages: tuple[int, ...]) -> bytes:
    """`base` (the size point's bytes) with each page whose age is a point replaced by that
    point's bytes (zeros past that point's length), within `base`'s length."""
    if all(age == AS_SIZE_POINT for age in ages):
        return base
    content = bytearray(base)
    for page, age in zip(pages, ages):
        start = page * PAGE_SIZE_BYTES
        end = min(start + PAGE_SIZE_BYTES, len(content))
        if age == AS_SIZE_POINT or start >= end:
            continue
        source = points[age][start:end]
        content[start:end] = source + bytes(end - start - len(source))
    return bytes(content)


class WeakestProfile(Profile):
    name = "weakest"

    def images(self, state: DiskState, rng: random.Random, limits: Limits) -> list[Image]:
        atoms = _atoms(state)
        chains: dict[tuple[str, str], list[int]] = {}
        for position, (_, directory, name, _) in enumerate(atoms):
            chains.setdefault((directory, name), []).append(position)
        chain_keys = list(chains)
        inodes = sorted(({atom[3] for atom in atoms} | set(reachable_inodes(state.durable_entries)))
                        - {DIRECTORY_INODE})
        varying = [inode for inode in inodes if state.inodes[inode].pending]
        dimensions: list = [range(len(chains[key]) + 1) for key in chain_keys]
        # Per varying file: its size point, then (two or more pending effects) one age per page.
        page_plans: list[tuple[int, list[int]]] = []
        for inode in varying:
            inode_state = state.inodes[inode]
            pending = inode_state.pending
            out_of_order = len(pending) >= 2 or any(effect.kind != WRITE for effect in pending)
            pages = touched_pages(inode_state.durable, pending) if out_of_order else []
            dimensions.append(SizePoints(pending) if out_of_order else data_options(pending))
            ages = [AS_SIZE_POINT] + list(range(len(inode_state.pending) + 1))
            dimensions.extend(ages for _ in pages)
            page_plans.append((inode, pages))
        images = []
        for choice in combinations(dimensions, rng, limits):
            kept_atoms = set()
            for key, length in zip(chain_keys, choice[:len(chain_keys)]):
                kept_atoms.update(chains[key][:length])
            entries = durable_namespace(state)
            for position in sorted(kept_atoms):
                kind, directory, name, inode = atoms[position]
                names = entries.setdefault(directory, {})
                if kind == "link":
                    names[name] = inode
                elif names.get(name) == inode:
                    del names[name]
            contents = {inode: state.inodes[inode].durable for inode in reachable_inodes(entries)}
            position = len(chain_keys)
            for inode, pages in page_plans:
                option, ages = choice[position], choice[position + 1:position + 1 + len(pages)]
                position += 1 + len(pages)
                if inode not in contents:
                    continue
                inode_state = state.inodes[inode]
                content = content_for(inode_state.durable, inode_state.pending, option)
                if pages:
                    points = contents_by_point(inode_state.durable, inode_state.pending)
                    content = with_pages(content, points, pages, ages)
                contents[inode] = content
            images.append(make_image(state.directories, entries, contents))
        return images
