"""Oracle: after every recovery the workload keeps writing, and crashes again.

What it models. A recovery can leave a disk that reads back right but is wrong to build on:
a log whose valid end lies before the offset a snapshot covers (appends there would be
skipped by the next replay), a log left behind garbage, a snapshot paired with the wrong log.
Only writing after recovery and crashing again shows it. For a recovered image whose outcome
the oracle accepted, the workload's `resume` recovers the image again and issues
`RESUME_OPERATIONS` (INCR, LPUSH, a SAVE, APPEND on keys the history also writes), each
acknowledged only after an fsync; the explorer cuts before every step of that run (and after
its last), takes the crash images the profile allows (the nested caps, sampled with
`random.Random(f"{seed}:resume:{digest}:{J}")`), recovers each, and requires the state to be
the first recovery's state with a prefix q of the resumed operations applied (the plain-dict
model), q at least the acknowledged count. A workload whose state is not one keyspace names its
own resumed operations and model (`resume_operations`, `resume_apply`: `move-1shard` writes the
keys its MOVEs moved away, at their sources). Violations: `resume-lost-acknowledged`,
`resume-not-a-prefix` (a skipped tail, a double application), `resume-<failure>` (a refusal or
a crash of a recovery after the resume). Image ids: `I+J.M`.
"""

from __future__ import annotations

import random

from kevy_persist.errors import KevyError

from .checkers import Outcome, Verdict
from .disk import Image, image_digest
from .model import History, apply, canonical
from .simfs import SimFileSystem

RESUME_OPERATIONS = (
    (b"INCR", b"counter:0"), (b"LPUSH", b"list:0", b"resumed"), (b"SAVE",), (b"APPEND", b"text:0", b"+r"),
)


def _plan(workload) -> tuple[tuple, object]:
    """The resumed operations and the model that applies them (the workload's, if it has one)."""
    return getattr(workload, "resume_operations", RESUME_OPERATIONS), getattr(workload, "resume_apply", apply)


def _expected_states(workload, state) -> list:
    operations, apply_operation = _plan(workload)
    model = dict(state)
    states = [canonical(model)]
    for argv in operations:
        apply_operation(model, argv)
        states.append(canonical(model))
    return states


def _cases(explorer, image: Image) -> list[tuple[str, Image | None, tuple]]:
    """(label, crash image, (required, issued)) per resumed crash; image None = the resume
    run itself failed (its label carries the error)."""
    config = explorer.config
    history = History()
    cuts: list = []

    def observer(fs: SimFileSystem, index: int, operation: str, path: str) -> None:
        cuts.append((index, fs.snapshot(), history.freeze()))

    fs = SimFileSystem.from_image(image, observer=observer, disabled_sync_sites=config.disabled_sync_sites)
    try:
        explorer.workload.resume(fs, list(_plan(explorer.workload)[0]), history)
    except KevyError as error:
        return [(f"run:{type(error).__name__}: {error}", None, history.freeze())]
    cuts.append((fs.step_count, fs.snapshot(), history.freeze()))
    digest = image_digest(image)
    cases = []
    seen: set[int] = set()
    for index, state, freeze in cuts:
        if id(state) in seen:
            continue
        seen.add(id(state))
        rng = random.Random(f"{config.seed}:resume:{digest}:{index}")
        for number, crash_image in enumerate(explorer.profile.images(state, rng, config.nested_limits)):
            cases.append((f"{index}.{number}", crash_image, freeze))
    return cases


def _verdict(expected: list, outcome: Outcome | None, freeze, label: str, operations=RESUME_OPERATIONS) -> Verdict:
    if outcome is None:
        return Verdict("resume-run-failed", False, f"writing after a good recovery failed: {label}")
    if outcome.failure:
        return Verdict(f"resume-{outcome.failure}", False, outcome.detail)
    required, issued = freeze
    matches = [count for count, state in enumerate(expected) if state == outcome.state]
    if not matches:
        return Verdict("resume-not-a-prefix", False,
                       f"after writing on the recovered state, a crash gives {outcome.state!r}: no prefix "
                       f"of the resumed operations {list(operations)} applied to it")
    if any(required <= count <= issued for count in matches):
        return Verdict("resumed", True)
    return Verdict("resume-lost-acknowledged", False,
                   f"resumed state is prefix {max(matches)} but {required} resumed operations were acknowledged")


def judge_resume(explorer, image: Image, outcome: Outcome) -> list[tuple[str, Verdict]]:
    """One verdict per distinct outcome of the crashes after resuming on `image` (cached)."""
    if outcome.failure or not hasattr(explorer.workload, "resume"):
        return []
    cached = explorer.resumes.get(image)
    if cached is None:
        expected = _expected_states(explorer.workload, outcome.state)
        operations = _plan(explorer.workload)[0]
        cached = []
        seen: set = set()
        for label, crash_image, freeze in _cases(explorer, image):
            resumed = explorer.recover_plain(crash_image) if crash_image is not None else None
            verdict = _verdict(expected, resumed, freeze, label, operations)
            key = (resumed, freeze)
            if key not in seen:
                seen.add(key)
                cached.append((label if crash_image is not None else "run", verdict))
        explorer.resumes[image] = cached
    return cached


def replay_resume(explorer, image: Image, outcome: Outcome, resume_id: str) -> tuple[Verdict, Outcome, Image]:
    """Reproduce the resumed case `resume_id` (`J.M`) on `image`."""
    expected = _expected_states(explorer.workload, outcome.state)
    for label, crash_image, freeze in _cases(explorer, image):
        if label == resume_id and crash_image is not None:
            resumed = explorer.recover_plain(crash_image)
            return _verdict(expected, resumed, freeze, label, _plan(explorer.workload)[0]), resumed, crash_image
    raise KeyError(f"no resumed case {resume_id!r} for this image")
