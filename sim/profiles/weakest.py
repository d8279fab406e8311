"""Crash profile `weakest`: the least a POSIX file system promises.

Model.
- Names: any subset of the pending name changes that respects, per name, program order
  (a change to name N persists only if every earlier change to N does). A rename is two
  changes, "target now names the file" and "source no longer names it", so a crash may
  leave neither name, the old, the new, or both.
- Data: per file, the size persists as of some pending effect (a prefix of the effects, as
  metadata), and the last write inside that size may be torn at any byte. The bytes of that
  last (whole or torn) write may read back as the data, as zeros (size committed, block not
  written) or as garbage (stale blocks). Earlier pending writes within the size are kept.
- Nothing links data and names: a renamed or created file may come back with any of its
  data points, including empty.
The choices are one prefix per name chain and one (effects, torn bytes, fill) per file.
"""

from __future__ import annotations

import random

from ..disk import WRITE, DiskState, Effect, Image, apply_effects, durable_namespace, make_image
from . import Limits, Profile, combinations, garbage

DATA, ZEROS, GARBAGE = "data", "zeros", "garbage"


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


class WeakestProfile(Profile):
    name = "weakest"

    def images(self, state: DiskState, rng: random.Random, limits: Limits) -> list[Image]:
        atoms = _atoms(state)
        chains: dict[tuple[str, str], list[int]] = {}
        for position, (_, directory, name, _) in enumerate(atoms):
            chains.setdefault((directory, name), []).append(position)
        chain_keys = list(chains)
        inodes = sorted({atom[3] for atom in atoms}
                        | {inode for names in state.durable_entries.values() for inode in names.values()})
        varying = [inode for inode in inodes if state.inodes[inode].pending]
        dimensions = ([range(len(chains[key]) + 1) for key in chain_keys]
                      + [data_options(state.inodes[inode].pending) for inode in varying])
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
            contents = {inode: state.inodes[inode].durable
                        for names in entries.values() for inode in names.values()}
            for inode, option in zip(varying, choice[len(chain_keys):]):
                if inode in contents:
                    inode_state = state.inodes[inode]
                    contents[inode] = content_for(inode_state.durable, inode_state.pending, option)
            images.append(make_image(state.directories, entries, contents))
        return images
