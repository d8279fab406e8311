"""Crash profiles: which crash images a pending disk state may leave behind.

A profile maps one frozen `sim.disk.DiskState` (durable bytes and names plus the pending
effects, in program order) to the list of images a crash at that instant allows. Each profile
module states its model in prose first. They share one enumeration rule: a profile describes
its choices as independent dimensions (one list of options each); when the product of their
sizes is at most `Limits.exhaustive_cap` every combination is listed in a fixed order,
otherwise `Limits.sample_count` combinations are drawn with the caller's seeded `random.Random`.
The position of an image in that list is its image index, which a replay line names.

Profiles: `strict`, `ext4-ordered`, `weakest` (see their modules).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

import attrs

from ..disk import DiskState, Image


@attrs.frozen
class Limits:
    exhaustive_cap: int = 256  # list every image when there are at most this many
    sample_count: int = 64  # otherwise draw this many (seeded)


def combinations(dimensions: Sequence[Sequence], rng: random.Random, limits: Limits) -> list[tuple]:
    """Every combination of one option per dimension, or a seeded sample of them (a dimension
    with a `choose(rng)` method draws its own option: a weighted draw)."""
    total = math.prod(len(options) for options in dimensions)
    assert total > 0, "every dimension offers at least one option"
    if total <= limits.exhaustive_cap:
        return list(itertools.product(*dimensions))
    return [tuple(options.choose(rng) if hasattr(options, "choose") else rng.choice(options)
                  for options in dimensions) for _ in range(limits.sample_count)]


def garbage(offset: int, length: int) -> bytes:
    """Deterministic junk for a torn region: what stale disk blocks might hold."""
    return bytes(((offset + index) * 167 + 91) & 0xFF for index in range(length))


class Profile:
    name = ""

    def images(self, state: DiskState, rng: random.Random, limits: Limits) -> list[Image]:
        raise NotImplementedError


def profile_named(name: str) -> Profile:
    from .ext4_ordered import Ext4OrderedProfile
    from .strict import StrictProfile
    from .weakest import WeakestProfile

    profiles = {profile.name: profile for profile in
                (StrictProfile(), Ext4OrderedProfile(), WeakestProfile())}
    if name not in profiles:
        raise KeyError(f"unknown crash profile {name!r}; known: {', '.join(sorted(profiles))}")
    return profiles[name]


PROFILE_NAMES = ("strict", "ext4-ordered", "weakest")
