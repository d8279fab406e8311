"""Faults beyond crashes: every door call can fail, bits flip at rest, reads fail in recovery.

What each fault models (a `FaultPlan` names one fault and the step it hits):
- `<errno>-<call>` for errno `eio` or `enospc` and every call of the door that changes the
  disk -- `write`, `fsync`, `fsync_dir`, `rename`, `create` (an `open_write`, `open_append`
  or `lock` that makes a new name), `remove`, `truncate` -- the call at step K raises that
  errno. What it leaves behind:
  - `write`: nothing written (the file is unchanged);
  - `fsync`: as Linux does, the dirty pages are marked clean: the pending data stays readable
    but never reaches the disk, and a retried fsync of the same file "succeeds". Code that
    retries and trusts it acknowledges lost writes;
  - `fsync_dir`: the directory's pending names may have been written in part: the plan's
    `variant` picks which (0: none, 1: all, 2 and up: a seeded subset that respects each
    name's program order, as a crash would); the ones not written stay pending (a later
    crash may or may not keep them). Code must treat every name it changed since the last
    good `fsync_dir` as possibly on disk and possibly not;
  - `rename`, `create`, `remove`, `truncate`: the call did nothing.
  `eio` and `enospc` keep their old meaning as aliases: `eio-fsync` and `enospc-write`.
- `short-write`: the write at step K writes only its first half (at least one byte when it
  has two or more), then fails with ENOSPC -- a partial record is left in the file.
- `bitflip`: not a call failure but damage at rest: in a crash image, one bit of data that
  was fsynced is inverted. Recovery must refuse loudly (a checksum error) or come back with
  a state the oracle accepts -- never a silently different value.
- `eio-read`: recovery's own reads fail. The run is fault-free; recovering a crash image,
  the read at recovery step J raises EIO. Recovery must refuse with a typed error (never
  treat the file as missing or empty) and leave the disk so that the next recovery, with
  the read working again, still satisfies the oracle.
The injection points are the steps of the matching kind in a fault-free run of the workload
(`injection_steps`; for `eio-read`, of a fault-free recovery); the explorer sweeps them one
at a time, all of them or an evenly spaced sample (`sample_points`).
"""

from __future__ import annotations

import errno as errno_codes
import random

import attrs

from .disk import Image, flip_bit

ERRNOS = {"eio": errno_codes.EIO, "enospc": errno_codes.ENOSPC}
DOOR_CALLS = ("write", "fsync", "fsync_dir", "rename", "create", "remove", "truncate")
DOOR_FAULTS = tuple(f"{name}-{call}" for call in DOOR_CALLS for name in ERRNOS)
ALIASES = {"eio": "eio-fsync", "enospc": "enospc-write"}
READ_FAULT = "eio-read"
FAULT_KINDS = ("eio", "enospc", "short-write", "bitflip", READ_FAULT, *DOOR_FAULTS)
# The variants swept for a failed fsync_dir: nothing written, everything, two seeded subsets.
FSYNC_DIR_VARIANTS = (0, 1, 2, 3)


def _call_of(kind: str) -> str:
    if kind == "short-write":
        return "write"
    if kind == READ_FAULT:
        return "read"
    return ALIASES.get(kind, kind).partition("-")[2]


@attrs.frozen
class FaultPlan:
    kind: str
    step_index: int = -1  # the call it hits (unused for bitflip)
    variant: int = 0  # fsync_dir only: which pending names the failed call wrote

    def __attrs_post_init__(self) -> None:
        assert self.kind in FAULT_KINDS, self.kind

    @property
    def call(self) -> str:
        return _call_of(self.kind)

    @property
    def errno(self) -> int:
        if self.kind == "short-write":
            return errno_codes.ENOSPC
        return ERRNOS[ALIASES.get(self.kind, self.kind).partition("-")[0]]

    def failure(self, step_index: int, call: str) -> int | None:
        """The errno the door call `call` at `step_index` raises, or None (it succeeds)."""
        if step_index != self.step_index or call != self.call or self.kind == "bitflip":
            return None
        return self.errno

    def write_outcome(self, step_index: int, size_bytes: int) -> tuple[int, int | None]:
        """How many bytes the write at `step_index` writes, and the errno it then raises."""
        code = self.failure(step_index, "write")
        if code is None:
            return size_bytes, None
        if self.kind == "short-write":
            return size_bytes // 2, code
        return 0, code

    def fsync_fails(self, step_index: int) -> bool:
        return self.failure(step_index, "fsync") is not None

    def written_names(self, pending: list, rng_seed: str) -> list[bool]:
        """For a failed fsync_dir: which of the directory's pending name operations (in
        program order) were written anyway. A name operation is written only if every
        earlier one touching the same name was (the per-name order a crash respects)."""
        if self.variant == 0:
            return [False] * len(pending)
        if self.variant == 1:
            return [True] * len(pending)
        rng = random.Random(f"{rng_seed}:{self.variant}")
        blocked: set[str] = set()
        chosen = []
        for operation in pending:
            names = {name for name in (operation.source, operation.target) if name}
            keep = not (names & blocked) and rng.random() < 0.5
            if not keep:
                blocked |= names
            chosen.append(keep)
        return chosen

    def label(self) -> str:
        if self.kind == "bitflip" or self.step_index < 0:
            return self.kind
        suffix = f":{self.variant}" if self.call == "fsync_dir" else ""
        return f"{self.kind}@{self.step_index}{suffix}"


def parse_fault(text: str | None) -> FaultPlan | None:
    """`eio@12`, `enospc@7`, `short-write@7`, `eio-rename@9`, `eio-fsync_dir@4:2`, `bitflip`,
    `eio-read@3` (the read at step 3 of each recovery), or None."""
    if not text:
        return None
    kind, _, where = text.partition("@")
    step, _, variant = where.partition(":")
    return FaultPlan(kind, int(step) if step else -1, int(variant) if variant else 0)


def injection_steps(kind: str, steps: list[tuple[int, str, str, str]],
                    creating_steps: frozenset[int] = frozenset()) -> list[int]:
    """The step indexes of a fault-free run where a fault of `kind` can hit."""
    call = _call_of(kind)
    if call == "create":
        return sorted(creating_steps)
    if call == "read":
        return [index for index, name, _, _ in steps if name in ("read", "read_bytes", "open_read")]
    return [index for index, name, _, _ in steps if name == call]


def plans_for(kind: str, step_index: int) -> list[FaultPlan]:
    """The plans one injection point gives (one, or one per fsync_dir variant)."""
    if _call_of(kind) == "fsync_dir":
        return [FaultPlan(kind, step_index, variant) for variant in FSYNC_DIR_VARIANTS]
    return [FaultPlan(kind, step_index)]


def sample_points(points: list[int], count: int | None) -> list[int]:
    """All points (count None), or `count` of them evenly spaced, first and last included."""
    if count is None or len(points) <= count:
        return points
    if count <= 1:
        return points[-1:]
    last = len(points) - 1
    return sorted({points[round(number * last / (count - 1))] for number in range(count)})


def bit_flips(image: Image, durable_sizes: dict[str, int], rng: random.Random,
              count: int) -> list[tuple[Image, str, int]]:
    """Up to `count` copies of `image`, each with one bit flipped in a file's synced bytes,
    with the path and byte offset of the flip.

    `durable_sizes` maps a path to how many of its leading bytes were fsynced."""
    candidates = [(path, min(len(data), durable_sizes[path])) for path, data in image.files
                  if durable_sizes.get(path, 0) and data]
    if not candidates:
        return []
    flipped = []
    for _ in range(count):
        path, size_bytes = rng.choice(candidates)
        bit_index = rng.randrange(size_bytes * 8)
        flipped.append((flip_bit(image, path, bit_index), path, bit_index // 8))
    return flipped


def bit_flipped_images(image: Image, durable_sizes: dict[str, int], rng: random.Random,
                       count: int) -> list[Image]:
    """`bit_flips` without the locations."""
    return [flipped for flipped, _, _ in bit_flips(image, durable_sizes, rng, count)]
