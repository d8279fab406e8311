"""Sweeping a concurrent workload: every interleaving up to a bound, then samples.

What it does. A workload with `concurrent = True` runs its threads on `sim.scheduler`; one
recording per schedule. The schedules are enumerated breadth-first by
preemptions (a switch away from a thread that could have continued): the run with none,
then every single deviation from each run so far, at most `preemption_bound` preemptions,
up to `schedule_limit` runs; then `schedule_samples` more, drawn with
`random.Random(f"{seed}:{n}:schedule")` at every decision. Every recording is explored like
any other (cuts at every step -- door calls, lock operations, waits, notifies, the middle of
each fsync -- crash images, recovery, nested crashes), with the image caches shared, so an
image reached by many interleavings is recovered once. Each violation carries the schedule
that produced it: the decisions the run made, which replay it exactly
(`python -m sim replay ... --schedule 0,1,0`).
"""

from __future__ import annotations

from collections import deque

from .scheduler import Schedule, parse_schedule


def explore_schedules(explorer, record, operations, checker, result) -> None:
    """Record and explore each schedule of the module docstring into `result`."""
    config = explorer.config
    workload = explorer.workload
    if config.schedule is not None:
        schedules = iter([parse_schedule(config.schedule)])
    else:
        schedules = schedules_for(workload, config)
    for schedule in schedules:
        workload.schedule = schedule
        recording = record(workload, operations, config, None)
        label = ",".join(str(choice) for choice, _, _ in workload.last_decisions)
        explorer.schedule_label = label
        result.schedules += 1
        result.steps = max(result.steps, len(recording.steps))
        for site, calls in recording.sync_sites.items():
            result.sync_sites[site] = result.sync_sites.get(site, 0) + calls
        explorer.explore(recording, checker, None, 0, result)
    explorer.schedule_label = None


def schedules_for(workload, config):
    """Breadth-first by preemptions (CHESS's iterative context bounding): the schedule with
    none first, then every single deviation from each schedule run so far, fewest preemptions
    first, up to `schedule_limit` runs; then the samples."""
    queue: deque[tuple[tuple[int, ...], int]] = deque([((), 0)])
    seen: set[tuple[int, ...]] = {()}
    count = 0
    while queue and count < config.schedule_limit:
        prefix, preemptions = queue.popleft()
        yield Schedule(prefix)
        count += 1
        decisions = workload.last_decisions
        choices = tuple(choice for choice, _, _ in decisions)
        for position in range(len(prefix), len(decisions)):
            _, options, zero_continues = decisions[position]
            cost = preemptions + (1 if zero_continues else 0)
            if cost > config.preemption_bound:
                continue
            for alternative in range(1, options):
                deviation = choices[:position] + (alternative,)
                if deviation not in seen:
                    seen.add(deviation)
                    queue.append((deviation, cost))
    for number in range(config.schedule_samples):
        yield Schedule((), sample_seed=f"{config.seed}:{number}")
