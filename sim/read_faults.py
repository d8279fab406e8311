"""Reads that fail during recovery (`--fault eio-read`): refuse, never guess; then recover.

What it models. Recovering one crash image, the read at recovery step J (an `open_read`,
`read` or `read_bytes`) raises EIO; each J of a fault-free recovery of that image is tried
in turn (all of them, or `fault_points` evenly spaced). What it checks:
- the failed recovery either refuses with a typed error (`refused-read-error`, accepted: a
  `StorageIOError`, a `QuarantineError` that could not read the tail it had to copy aside,
  a `LayoutError` for an unreadable journal -- any `KevyError`) or
  comes back with a state the oracle accepts -- a recovery that takes an unreadable file for
  a missing or empty one returns a state that lost acknowledged writes, and fails here;
- whatever that recovery wrote before it gave up must not hurt the next one: the disk as the
  process left it (`rJ.live`) and every crash image of it the profile allows (`rJ.M`) are
  recovered again with reads working, and each must satisfy the oracle.
Image ids: `I!rJ`, `I!rJ.live`, `I!rJ.M`. Deterministic: the images after the refusal are
drawn with `random.Random(f"{seed}:read:{digest}:{J}")`.
"""

from __future__ import annotations

import random

from .checkers import Outcome, Verdict
from .disk import Image, image_digest
from .faults import READ_FAULT, FaultPlan, injection_steps, sample_points
from .simfs import SimFileSystem


def _outcomes(explorer, image: Image) -> list[tuple[str, Outcome, Image]]:
    """(read id, outcome, the image recovered) per failed read of recovering `image`."""
    config = explorer.config
    probe = SimFileSystem.from_image(image, record_sites=True, disabled_sync_sites=config.disabled_sync_sites)
    explorer.run_recovery(probe)
    results = []
    digest = None
    for step_index in sample_points(injection_steps(READ_FAULT, probe.steps), config.fault_points):
        fs = SimFileSystem.from_image(image, faults=FaultPlan(READ_FAULT, step_index),
                                      disabled_sync_sites=config.disabled_sync_sites)
        outcome = explorer.run_recovery(fs)
        results.append((f"r{step_index}", outcome, image))
        if not outcome.failure:
            continue  # recovery read around the failed read: judged like any recovery
        after = fs.live_image()
        results.append((f"r{step_index}.live", explorer.recover_plain(after), after))
        digest = digest or image_digest(image)
        rng = random.Random(f"{config.seed}:read:{digest}:{step_index}")
        for number, crash_image in enumerate(explorer.profile.images(fs.snapshot(), rng, config.nested_limits)):
            results.append((f"r{step_index}.{number}", explorer.recover_plain(crash_image), crash_image))
    return results


def _verdict(checker, read_id: str, outcome: Outcome, freeze) -> Verdict:
    if "." not in read_id and outcome.failure.startswith("refused:"):
        return Verdict("refused-read-error", True, outcome.detail)
    return checker.check(outcome, freeze)


def judge_read_faults(explorer, checker, image: Image, freeze) -> list[tuple[str, Verdict]]:
    """One verdict per failed read of recovering `image` and per recovery after it."""
    cached = explorer.read_faults.get(image)
    if cached is None:
        cached = [(read_id, outcome) for read_id, outcome, _ in _outcomes(explorer, image)]
        explorer.read_faults[image] = cached
    return [(read_id, _verdict(checker, read_id, outcome, freeze)) for read_id, outcome in cached]


def replay_read_fault(explorer, checker, image: Image, freeze, read_id: str) -> tuple[Verdict, Outcome, Image]:
    """Reproduce the case `read_id` (`rJ`, `rJ.live`, `rJ.M`) of recovering `image`."""
    for candidate, outcome, recovered in _outcomes(explorer, image):
        if candidate == read_id:
            return _verdict(checker, read_id, outcome, freeze), outcome, recovered
    raise KeyError(f"no read-fault case {read_id!r} for this image")
