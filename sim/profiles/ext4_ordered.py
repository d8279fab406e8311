"""Crash profile `ext4-ordered`: Linux ext4 with `data=ordered` (the default), simplified.

Model.
- Names: the pending creates, renames and removes persist as a *prefix* of their program
  order (the journal commits metadata in order); each rename is atomic (old name or new name,
  never both or neither). A new directory's name is such a create: when the prefix drops it,
  the directory and everything under it are absent (`sim.disk.make_image`).
- Data: each file keeps its durable bytes plus a prefix of its pending effects (writes and
  truncates, in order); within a pending write the kept part may end at any 4 KiB block
  boundary of the file (page-granular writeback before the size update commits). Data never
  shows up as garbage or zeros: ordered mode writes data blocks before the metadata that
  exposes them.
- Replace-by-rename: when a rename overwrote an existing file and that rename is in the kept
  prefix, every effect the renamed file had when it was renamed persists with it (ext4's
  `auto_da_alloc` flushes the data before committing such a rename).
The choices are the name prefix and, per file, its data point; images are every combination
(or a seeded sample above the cap).
"""

from __future__ import annotations

import random

from sim.disk import (
    WRITE,
    DiskState,
    Image,
    apply_effects,
    make_image,
    namespace_after,
    reachable_inodes,
)
from sim.profiles.base import Limits, Profile, combinations

BLOCK_SIZE_BYTES = 4096


def data_points(effects) -> list[tuple[int, int]]:
    """(whole effects kept, bytes kept of the next write or -1), in program order."""
    points: list[tuple[int, int]] = []
    for index, effect in enumerate(effects):
        points.append((index, -1))
        if effect.kind == WRITE:
            first_boundary = (effect.offset // BLOCK_SIZE_BYTES + 1) * BLOCK_SIZE_BYTES
            for boundary in range(first_boundary, effect.offset + len(effect.data), BLOCK_SIZE_BYTES):
                points.append((index, boundary - effect.offset))
    points.append((len(effects), -1))
    return points


def content_at(durable: bytes, effects, point: tuple[int, int]) -> bytes:
    whole, partial_bytes = point
    content = apply_effects(durable, effects[:whole])
    if partial_bytes >= 0:
        effect = effects[whole]
        content = apply_effects(content, [effect._replace(data=effect.data[:partial_bytes])])
    return content


class Ext4OrderedProfile(Profile):
    name = "ext4-ordered"

    def images(self, state: DiskState, rng: random.Random, limits: Limits) -> list[Image]:
        name_count = len(state.pending_names)
        namespaces = [namespace_after(state, count) for count in range(name_count + 1)]
        reachable = sorted({inode for entries in namespaces for inode in reachable_inodes(entries)})
        varying = [inode for inode in reachable if state.inodes[inode].pending]
        dimensions = [range(name_count + 1)] + [data_points(state.inodes[inode].pending) for inode in varying]
        images = []
        for choice in combinations(dimensions, rng, limits):
            prefix = choice[0]
            entries = namespaces[prefix]
            minimum_effects = _forced_by_renames(state, prefix)
            contents = {}
            for inode in reachable_inodes(entries):
                contents[inode] = state.inodes[inode].durable
            for inode, point in zip(varying, choice[1:]):
                if inode not in contents:
                    continue
                inode_state = state.inodes[inode]
                forced = minimum_effects.get(inode, 0) - inode_state.first_effect_index
                if point[0] < forced:
                    point = (forced, -1)
                contents[inode] = content_at(inode_state.durable, inode_state.pending, point)
            images.append(make_image(state.directories, entries, contents))
        return images


def _forced_by_renames(state: DiskState, prefix: int) -> dict[int, int]:
    """Per inode, the effect count a kept replace-by-rename flushed with it."""
    forced: dict[int, int] = {}
    for operation in state.pending_names[:prefix]:
        if operation.kind == "rename" and operation.replaced_inode >= 0:
            forced[operation.inode] = max(forced.get(operation.inode, 0), operation.effects_at_rename)
    return forced
