"""What every crash profile shares: the enumeration limits and rule, and the base class.

See the package docstring (`sim/profiles/__init__.py`) for the enumeration rule.
"""


from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

import attrs

from sim.disk import DiskState, Image


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
