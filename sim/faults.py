"""Faults beyond crashes: failing syncs, a full disk, short writes, flipped bits.

What each fault models (a `FaultPlan` names one fault and the step it hits):
- `eio`: the fsync at step K returns EIO and, as Linux does, marks the dirty pages clean:
  the pending data stays readable but never reaches the disk, and a retried fsync of the
  same file "succeeds". Code that retries and trusts it acknowledges lost writes.
- `enospc`: the write at step K fails with ENOSPC and writes nothing.
- `short-write`: the write at step K writes only its first half (at least one byte when it
  has two or more), then fails with ENOSPC -- a partial record is left in the file.
- `bitflip`: not a call failure but damage at rest: in a crash image, one bit of data that
  was fsynced is inverted. Recovery must refuse loudly (a checksum error) or come back with
  a state the oracle accepts -- never a silently different value.
The injection points are the steps of the matching kind in a fault-free run of the workload
(`injection_steps`); the explorer sweeps them one at a time.
"""

from __future__ import annotations

import errno as errno_codes
import random

import attrs

from .disk import Image, flip_bit

FAULT_KINDS = ("eio", "enospc", "short-write", "bitflip")
_STEP_KIND = {"eio": "fsync", "enospc": "write", "short-write": "write"}


@attrs.frozen
class FaultPlan:
    kind: str
    step_index: int = -1  # the call it hits (unused for bitflip)

    def __attrs_post_init__(self) -> None:
        assert self.kind in FAULT_KINDS, self.kind

    def write_outcome(self, step_index: int, size_bytes: int) -> tuple[int, int | None]:
        """How many bytes the write at `step_index` writes, and the errno it then raises."""
        if step_index != self.step_index:
            return size_bytes, None
        if self.kind == "enospc":
            return 0, errno_codes.ENOSPC
        if self.kind == "short-write":
            return size_bytes // 2, errno_codes.ENOSPC
        return size_bytes, None

    def fsync_fails(self, step_index: int) -> bool:
        return self.kind == "eio" and step_index == self.step_index

    def label(self) -> str:
        return self.kind if self.kind == "bitflip" else f"{self.kind}@{self.step_index}"


def parse_fault(text: str | None) -> FaultPlan | None:
    """`eio@12`, `enospc@7`, `short-write@7`, `bitflip` (or None)."""
    if not text:
        return None
    kind, _, step = text.partition("@")
    return FaultPlan(kind, int(step) if step else -1)


def injection_steps(kind: str, steps: list[tuple[int, str, str, str]]) -> list[int]:
    """The step indexes of a fault-free run where a fault of `kind` can hit."""
    operation = _STEP_KIND.get(kind)
    return [index for index, name, _, _ in steps if name == operation]


def bit_flipped_images(image: Image, durable_sizes: dict[str, int], rng: random.Random,
                       count: int) -> list[Image]:
    """Up to `count` copies of `image`, each with one bit flipped in a file's synced bytes.

    `durable_sizes` maps a path to how many of its leading bytes were fsynced."""
    candidates = [(path, min(len(data), durable_sizes[path])) for path, data in image.files
                  if durable_sizes.get(path, 0) and data]
    if not candidates:
        return []
    flipped = []
    for _ in range(count):
        path, size_bytes = rng.choice(candidates)
        flipped.append(flip_bit(image, path, rng.randrange(size_bytes * 8)))
    return flipped
