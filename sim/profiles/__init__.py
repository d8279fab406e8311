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

from sim.profiles.base import Limits, Profile
from sim.profiles.ext4_ordered import Ext4OrderedProfile
from sim.profiles.strict import StrictProfile
from sim.profiles.weakest import WeakestProfile

__all__ = ["PROFILE_NAMES", "Limits", "Profile", "profile_named"]


def profile_named(name: str) -> Profile:
    profiles = {profile.name: profile for profile in
                (StrictProfile(), Ext4OrderedProfile(), WeakestProfile())}
    if name not in profiles:
        raise KeyError(f"unknown crash profile {name!r}; known: {', '.join(sorted(profiles))}")
    return profiles[name]


PROFILE_NAMES = ("strict", "ext4-ordered", "weakest")
