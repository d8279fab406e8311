"""The explorer: cut a workload before every step, crash, recover, check; then crash recovery.

What it does, for one (workload, profile, seed[, fault]):
1. Runs the workload once on a recording `SimFileSystem`; before every step K it freezes the
   disk state and the workload's history (`required`, `issued`) -- that is cut K. The state
   after the last step is one more cut.
2. Per cut, asks the crash profile for the images it allows (every one up to a cap, then a
   sample drawn with `random.Random(f"{seed}:{K}")`, K = the first cut with that state).
   Image index I = position in that list.
3. Runs the real recovery code on each image, once per distinct image (a dict keyed by the
   image's content de-duplicates), and hands the recovered state with the cut's history to
   the workload's checker (an oracle; see `sim.checkers`).
4. Nested crash: recovery itself runs on a recording file system; before each of its steps
   J (and after its last) the explorer takes the images the profile allows (sampled with
   `random.Random(f"{seed}:nested:{digest}:{J}")`, digest = the image's BLAKE2b) and recovers
   each again: image id `I.J.M`. Every nested outcome must satisfy the same checker, and a
   crash after recovery returned must keep the bytes it quarantined (`sim.quarantine`).
5. Faults (`sim.faults`): a failing door call (`eio-rename`, `enospc-fsync_dir`, `short-write`,
   ...) is swept over every injection point of a fault-free run, or an evenly spaced sample
   of `fault_points` of them (one run per point and, for fsync_dir, per variant of what the
   failed call wrote; cuts from that point on); `bitflip` adds flipped copies of each image
   (`I~F`); `eio-read` fails each read of recovery in turn (`I!rJ`, then `I!rJ.M` for the
   recoveries after that refusal, `sim.read_faults`).
7. Concurrent workloads run once per schedule of their simulated threads (`sim.interleavings`).
8. Restart (`restart=True`): killed at each cut, recovered on the live state, then crashed
   (`K@restart`, `K@J.M`; `sim.restart`).
6. Resume (`resume=True`): after each accepted recovery the workload writes more, crashes at
   every step of that and recovers again (`I+J.M`, `sim.resume`).
Same seed, same result, bit for bit: every choice comes from the seeded generators above
and every iteration order is fixed. Replay one case with `sim.report.replay_line`.
"""

from __future__ import annotations

import random
import time
import traceback

import attrs

from kevy_persist.errors import KevyError

from .checkers import Outcome, Verdict
from .disk import DIRECTORY_INODE, Image, durable_namespace, image_digest, join_path
from .faults import (
    READ_FAULT,
    FaultPlan,
    bit_flips,
    injection_steps,
    parse_fault,
    plans_for,
    sample_points,
)
from .interleavings import explore_schedules
from .model import History
from .profiles import Limits, Profile, profile_named
from .quarantine import QUARANTINE_LOST, lost_quarantines, reported_quarantines
from .read_faults import judge_read_faults, replay_read_fault
from .restart import restart_outcomes
from .resume import judge_resume, replay_resume
from .scheduler import parse_schedule
from .simfs import SimFileSystem
from .workloads import Workload, workload_named


@attrs.frozen
class SweepConfig:
    workload: str
    profile: str
    seed: int = 0
    limits: Limits = Limits(256, 64)
    nested_limits: Limits = Limits(16, 8)
    nested: bool = True
    fault: str | None = None  # "eio", "eio@12", "enospc", "short-write", "bitflip"
    keep: tuple[int, ...] | None = None  # operation indexes kept (shrinking); None = all
    operation_count: int | None = None  # None = the workload's default
    stop_at_first: bool = False
    disabled_sync_sites: frozenset[str] = frozenset()
    bitflips_per_image: int = 2
    fault_points: int | None = None  # injection points swept per fault kind (None: all)
    resume: bool = False  # after each accepted recovery, write more and crash again (sim.resume)
    restart: bool = False  # kill at each cut, recover on the live state, then crash (sim.restart)
    schedule: str | None = None  # concurrent workloads: replay this one schedule ("0,1,0")
    schedule_limit: int = 2000  # schedules enumerated (fewest preemptions first) before sampling
    preemption_bound: int = 2
    schedule_samples: int = 8


@attrs.frozen
class Violation:
    cut: int
    image: str
    kind: str
    detail: str
    fault: str | None
    schedule: str | None = None  # concurrent workloads: the schedule's decisions


@attrs.define
class SweepResult:
    config: SweepConfig
    steps: int = 0
    cuts: int = 0
    images_checked: int = 0
    distinct_images: int = 0
    outcomes: dict[str, int] = attrs.Factory(dict)
    violations: list[Violation] = attrs.Factory(list)
    violation_count: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    sync_sites: dict[str, int] = attrs.Factory(dict)
    fault_runs: int = 0
    schedules: int = 0

    @property
    def images_per_cpu_second(self) -> float:
        return self.distinct_images / self.cpu_seconds if self.cpu_seconds > 0 else 0.0


@attrs.frozen
class Recording:
    """One run of the workload: its cuts (step index, frozen state, frozen history) and steps."""

    cuts: list
    steps: list
    sync_sites: dict
    run_failure: str
    failed: frozenset[int]
    creating_steps: frozenset[int] = frozenset()


class _Stop(Exception):
    pass


def selected_operations(workload: Workload, config: SweepConfig) -> list:
    operations = workload.operations(config.seed)
    if config.operation_count is not None:
        operations = operations[:config.operation_count]
    if config.keep is not None:
        operations = [operations[index] for index in config.keep]
    return operations


def record(workload: Workload, operations: list, config: SweepConfig, fault: FaultPlan | None) -> Recording:
    history = History()
    cuts: list = []

    def observer(fs: SimFileSystem, index: int, operation: str, path: str) -> None:
        cuts.append((index, fs.snapshot(), history.freeze()))

    options = dict(observer=observer, faults=fault, record_sites=True,
                   disabled_sync_sites=config.disabled_sync_sites)
    initial = workload.initial_image(config.seed)
    fs = SimFileSystem.from_image(initial, **options) if initial is not None else SimFileSystem(**options)
    run_failure = ""
    try:
        workload.run(fs, operations, history)
    except Exception as error:  # noqa: BLE001 -- a crash of the run is itself a finding
        run_failure = f"{type(error).__name__}: {error}"
    cuts.append((fs.step_count, fs.snapshot(), history.freeze()))
    return Recording(cuts, fs.steps, dict(fs.sync_sites_seen), run_failure, frozenset(history.failed),
                     frozenset(fs.creating_steps))


class Explorer:
    """Holds the caches of one sweep: images per frozen state, outcomes per image."""

    def __init__(self, workload: Workload, profile: Profile, config: SweepConfig) -> None:
        self.workload = workload
        self.profile = profile
        self.config = config
        self.outcomes: dict[Image, Outcome] = {}
        self.nested: dict[Image, list[tuple[str, Outcome]]] = {}
        self.sync_sites: dict[str, int] = {}
        self.read_faults: dict[Image, list[tuple[str, Outcome]]] = {}
        self.flips: dict[Image, tuple[Image, str, int]] = {}  # flipped -> (original, path, byte)
        self.quarantine_losses: dict[Image, list[tuple[str, str]]] = {}
        self.resumes: dict[Image, list[tuple[str, Verdict]]] = {}
        self.schedule_label: str | None = None  # the schedule being explored (concurrent workloads)
        self.restarts: dict[int, tuple] = {}

    # -- recovery -----------------------------------------------------------------------------

    def run_recovery(self, fs: SimFileSystem) -> Outcome:
        try:
            return Outcome(state=self.workload.recover(fs))
        except KevyError as error:
            return Outcome(failure=f"refused:{type(error).__name__}", detail=str(error))
        except Exception as error:  # noqa: BLE001 -- any other exception is a recovery bug
            where = traceback.extract_tb(error.__traceback__)[-1]
            return Outcome(failure=f"recovery-crashed:{type(error).__name__}",
                           detail=f"{error} (at {where.filename}:{where.lineno})")

    def recover_plain(self, image: Image) -> Outcome:
        outcome = self.outcomes.get(image)
        if outcome is None:
            fs = SimFileSystem.from_image(image, disabled_sync_sites=self.config.disabled_sync_sites)
            outcome = self.run_recovery(fs)
            self.outcomes[image] = outcome
        return outcome

    def nested_images(self, image: Image):
        """Recover `image` on a recording file system; yield (J.M label, crash image) for the
        images a crash at each recovery step J (and after the last) allows. The outcome of
        the recovery itself is stored in `self.outcomes`."""
        states: list = []

        def observer(fs: SimFileSystem, index: int, operation: str, path: str) -> None:
            states.append((index, fs.snapshot()))

        fs = SimFileSystem.from_image(image, observer=observer, track_sync_sites=True,
                                      disabled_sync_sites=self.config.disabled_sync_sites)
        self.outcomes[image] = self.run_recovery(fs)
        for site, calls in fs.sync_sites_seen.items():
            self.sync_sites[site] = self.sync_sites.get(site, 0) + calls
        states.append((fs.step_count, fs.snapshot()))
        reported = reported_quarantines(image, fs) if not self.outcomes[image].failure else {}
        losses = self.quarantine_losses.setdefault(image, [])
        seen_states: set[int] = set()
        digest = None
        for index, state in states:
            if id(state) in seen_states:
                continue
            seen_states.add(id(state))
            if index == states[0][0] and not state.pending_names \
                    and all(not inode.pending for inode in state.inodes.values()):
                continue  # nothing happened yet: the only image is the image itself
            digest = digest or image_digest(image)
            rng = random.Random(f"{self.config.seed}:nested:{digest}:{index}")
            for number, crash_image in enumerate(self.profile.images(state, rng, self.config.nested_limits)):
                if reported and index == fs.step_count:
                    lost = lost_quarantines(reported, crash_image)
                    if lost:
                        losses.append((f"{index}.{number}", lost))
                if crash_image != image:
                    yield f"{index}.{number}", crash_image

    def recover_nested(self, image: Image) -> tuple[Outcome, list[tuple[str, Outcome]]]:
        """Recover `image`, then crash that recovery at each of its steps and recover again.

        Returns the outcome and one (label, outcome) per distinct nested outcome."""
        nested = self.nested.get(image)
        if nested is not None:
            return self.outcomes[image], nested
        nested = []
        seen_outcomes: set[Outcome] = set()
        for label, crash_image in self.nested_images(image):
            nested_outcome = self.recover_plain(crash_image)
            if nested_outcome not in seen_outcomes:
                seen_outcomes.add(nested_outcome)
                nested.append((label, nested_outcome))
        for label, lost in self.quarantine_losses.pop(image, []):
            nested.append((label, Outcome(failure=QUARANTINE_LOST, detail=lost)))
        self.nested[image] = nested
        return self.outcomes[image], nested

    def damage_of(self, image: Image):
        """Where a bit flip hit, as the workload's oracle locates it (`sim.log_frames`), or None."""
        flip = self.flips.get(image)
        if flip is None:
            return None
        original, path, byte_offset = flip
        return self.workload.damage_of(original, path, byte_offset)

    # -- images per cut -----------------------------------------------------------------------

    def images_for_cuts(self, cuts: list, fault: FaultPlan | None) -> dict[int, list[tuple[str, Image]]]:
        """Per distinct frozen state (by first cut), the (image id, image) pairs to check."""
        by_state: dict[int, list[tuple[str, Image]]] = {}
        first_cut_of_state: dict[int, int] = {}
        for cut_index, state, _ in cuts:
            if id(state) in first_cut_of_state:
                continue
            first_cut_of_state[id(state)] = cut_index
            rng = random.Random(f"{self.config.seed}:{cut_index}")
            images = [(str(number), image) for number, image in
                      enumerate(self.profile.images(state, rng, self.config.limits))]
            if fault is not None and fault.kind == "bitflip":
                durable_sizes = {join_path(directory, name): len(state.inodes[inode].durable)
                                 for directory, names in durable_namespace(state).items()
                                 for name, inode in names.items() if inode != DIRECTORY_INODE}
                flips = []
                for image_id, image in images:
                    flip_rng = random.Random(f"{self.config.seed}:{cut_index}:flip:{image_id}")
                    for flip_number, (flipped, path, byte_offset) in enumerate(bit_flips(
                            image, durable_sizes, flip_rng, self.config.bitflips_per_image)):
                        flips.append((f"{image_id}~{flip_number}", flipped))
                        self.flips.setdefault(flipped, (image, path, byte_offset))
                images.extend(flips)
            by_state[id(state)] = images
        return by_state

    # -- the sweep ----------------------------------------------------------------------------

    def explore(self, recording: Recording, checker, fault: FaultPlan | None, first_cut: int,
                result: SweepResult) -> None:
        images_by_state = self.images_for_cuts(recording.cuts, fault)
        checker = checker.with_failures(recording.failed)
        fault_label = fault.label() if fault is not None else None
        if recording.run_failure:
            self._violation(result, Violation(recording.cuts[-1][0], "-", "run-crashed",
                                              recording.run_failure, fault_label))
        for cut_index, state, freeze in recording.cuts:
            if cut_index < first_cut:
                continue
            result.cuts += 1
            if self.config.restart:
                for label, outcome in restart_outcomes(self, cut_index, state):
                    self._judge(result, checker.check(outcome, freeze), cut_index, f"{cut_index}@{label}",
                                fault_label, "restart ")
            for image_id, image in images_by_state[id(state)]:
                if self.config.nested:
                    outcome, nested = self.recover_nested(image)
                else:
                    outcome, nested = self.recover_plain(image), []
                damage = self.damage_of(image)
                self._judge(result, judge(checker, outcome, freeze, damage), cut_index, image_id, fault_label, "")
                if self.config.resume:
                    for resume_id, verdict in judge_resume(self, image, outcome):
                        self._judge(result, verdict, cut_index, f"{image_id}+{resume_id}", fault_label, "resume ")
                if fault is not None and fault.kind == READ_FAULT:
                    for read_id, verdict in judge_read_faults(self, checker, image, freeze):
                        self._judge(result, verdict, cut_index, f"{image_id}!{read_id}", fault_label, "read-fault ")
                for nested_id, nested_outcome in nested:
                    self._judge(result, judge_nested(checker, outcome, nested_outcome, freeze, damage), cut_index,
                                f"{image_id}.{nested_id}", fault_label, "nested ")

    def _judge(self, result: SweepResult, verdict: Verdict, cut_index: int, image_id: str,
               fault_label: str | None, prefix: str) -> None:
        result.images_checked += 1
        key = prefix + verdict.kind
        result.outcomes[key] = result.outcomes.get(key, 0) + 1
        if not verdict.ok:
            self._violation(result, Violation(cut_index, image_id, verdict.kind, verdict.detail, fault_label,
                                              self.schedule_label))

    def _violation(self, result: SweepResult, violation: Violation) -> None:
        result.violation_count += 1
        if len(result.violations) < 20:
            result.violations.append(violation)
        if self.config.stop_at_first:
            raise _Stop()


def judge(checker, outcome: Outcome, freeze, damage=None) -> Verdict:
    """The checker's verdict; for a bit-flipped image whose damage the workload can locate,
    the stricter `check_damaged` (a shorter prefix only from the damaged record on)."""
    if damage is not None and hasattr(checker, "check_damaged"):
        return checker.check_damaged(outcome, freeze, damage)
    return checker.check(outcome, freeze)


def judge_nested(checker, outcome: Outcome, nested_outcome: Outcome, freeze: tuple[int, int],
                 damage=None) -> Verdict:
    """A nested outcome passes the checker, and a recovery that succeeded must not leave
    files that its next recovery refuses (that only matters where refusals are accepted)."""
    if nested_outcome.failure == QUARANTINE_LOST:
        return Verdict(QUARANTINE_LOST, False, nested_outcome.detail)
    if nested_outcome.failure and not outcome.failure:
        return Verdict("recovery-unstable", False,
                       f"recovery succeeded, a crash during it then gives {nested_outcome.failure}: "
                       f"{nested_outcome.detail}")
    return judge(checker, nested_outcome, freeze, damage)


def sweep(config: SweepConfig) -> SweepResult:
    """Explore every cut of one workload under one profile (and fault); see the module doc."""
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    workload = workload_named(config.workload)
    explorer = Explorer(workload, profile_named(config.profile), config)
    operations = selected_operations(workload, config)
    fault = parse_fault(config.fault)
    checker = workload.checker(operations, bitflip=fault is not None and fault.kind == "bitflip")
    result = SweepResult(config)
    try:
        if fault is not None and fault.kind not in ("bitflip", READ_FAULT) and fault.step_index < 0:
            baseline = record(workload, operations, config, None)
            result.steps = len(baseline.steps)
            result.sync_sites = dict(baseline.sync_sites)
            points = injection_steps(fault.kind, baseline.steps, baseline.creating_steps)
            for step_index in sample_points(points, config.fault_points):
                for plan in plans_for(fault.kind, step_index):
                    recording = record(workload, operations, config, plan)
                    result.fault_runs += 1
                    explorer.explore(recording, checker, plan, step_index, result)
        elif getattr(workload, "concurrent", False):
            explore_schedules(explorer, record, operations, checker, result)
        else:
            recording = record(workload, operations, config, fault)
            result.steps = len(recording.steps)
            result.sync_sites = dict(recording.sync_sites)
            explorer.explore(recording, checker, fault, 0, result)
    except _Stop:
        pass
    for site, calls in explorer.sync_sites.items():
        result.sync_sites[site] = result.sync_sites.get(site, 0) + calls
    result.distinct_images = len(explorer.outcomes)
    result.cpu_seconds = time.process_time() - cpu_start
    result.seconds = time.perf_counter() - wall_start
    return result


@attrs.frozen
class ReplayReport:
    verdict: Verdict
    outcome: Outcome
    image: Image
    steps_before_cut: list
    freeze: tuple[int, int]
    operations: list


def replay(config: SweepConfig, cut: int, image_id: str) -> ReplayReport:
    """Reproduce one checked case exactly: cut `cut`, image `I`, `I~F` (bit flip) or `I.J.M`
    (nested). `config.fault` must name the injection step (`eio@12`) when there is one."""
    workload = workload_named(config.workload)
    explorer = Explorer(workload, profile_named(config.profile), config)
    operations = selected_operations(workload, config)
    fault = parse_fault(config.fault)
    assert fault is None or fault.kind == "bitflip" or fault.step_index >= 0, "name the fault's step"
    checker = workload.checker(operations, bitflip=fault is not None and fault.kind == "bitflip")
    if config.schedule is not None:
        workload.schedule = parse_schedule(config.schedule)
    recording = record(workload, operations, config, None if fault is not None and fault.kind == READ_FAULT else fault)
    checker = checker.with_failures(recording.failed)
    matching = [entry for entry in recording.cuts if entry[0] == cut]
    if not matching:
        raise KeyError(f"no cut {cut}: the run has cuts 0..{recording.cuts[-1][0]}")
    _, state, freeze = matching[0]
    if "@" in image_id:  # a restart case: K@restart or K@J.M (sim.restart)
        label = image_id.partition("@")[2]
        outcome = dict(restart_outcomes(explorer, cut, state))[label]
        return ReplayReport(checker.check(outcome, freeze), outcome, Image((), ()),
                            [step for step in recording.steps if step[0] < cut][-8:], freeze, operations)
    images = dict(explorer.images_for_cuts(recording.cuts, fault)[id(state)])
    image_id, _, resume_id = image_id.partition("+")
    top_id, _, read_id = image_id.partition("!")
    top_id, _, nested_id = top_id.partition(".")
    image = images[top_id]
    outcome = explorer.recover_plain(image)
    damage = explorer.damage_of(image)
    verdict = judge(checker, outcome, freeze, damage)
    if read_id:
        verdict, outcome, image = replay_read_fault(explorer, checker, image, freeze, read_id)
        nested_id = ""
    if resume_id:
        verdict, outcome, image = replay_resume(explorer, image, outcome, resume_id)
        nested_id = ""
    if nested_id:
        crash_images = dict(explorer.nested_images(image))
        losses = dict(explorer.quarantine_losses.pop(image, []))
        image = crash_images.get(nested_id, image)
        nested_outcome = Outcome(failure=QUARANTINE_LOST, detail=losses[nested_id]) if nested_id in losses \
            else explorer.recover_plain(image)
        verdict = judge_nested(checker, outcome, nested_outcome, freeze, damage)
        outcome = nested_outcome
    return ReplayReport(verdict, outcome, image,
                        [step for step in recording.steps if step[0] < cut][-8:], freeze, operations)
