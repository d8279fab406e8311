"""Crash profile `strict`: only what was made durable survives.

Model. After a crash the disk holds exactly the data of each file as of its last completed
`fsync`, under exactly the names made durable by the last completed `fsync_dir` of their
directory (a directory too: a new one whose name in its parent was never fsynced is gone,
with everything in it). Every pending write, truncate, create, rename and remove is lost. There is one
image per cut. This is the profile that catches a missing sync most directly: without the
sync, the effect is simply gone.
"""

from __future__ import annotations

import random

from sim.disk import DiskState, Image, durable_namespace, make_image, reachable_inodes
from sim.profiles.base import Limits, Profile


class StrictProfile(Profile):
    name = "strict"

    def images(self, state: DiskState, rng: random.Random, limits: Limits) -> list[Image]:
        entries = durable_namespace(state)
        contents = {inode: state.inodes[inode].durable for inode in reachable_inodes(entries)}
        return [make_image(state.directories, entries, contents)]
