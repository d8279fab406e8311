"""A kill without a crash: the process dies at a cut, a new one recovers while the page cache
still holds everything not yet durable, and then the machine crashes.

What it models. `kill -9` (or an exit) at cut K leaves the disk state of that cut with its
pending effects still pending: the next process reads the live state, recovers, and writes
-- and a crash later keeps only what some fsync or fsync_dir made durable, the dead
process's pending names and data included or not, as the profile allows. The explorer
recovers each distinct cut state so (`SimFileSystem.from_state`), judges that recovery's
outcome, then crashes it before each of its steps and after its last and recovers again
(sampled with `random.Random(f"{seed}:restart:{K}:{J}")`). Every outcome must satisfy the
cut's oracle. This is the case a reboot-only model misses: a recovery that trusts a file
because it can read it, although its name or bytes were never made durable. Image ids:
`K@restart` (the restarted recovery itself) and `K@J.M`.
"""

from __future__ import annotations

import random

from .checkers import Outcome
from .simfs import SimFileSystem


def restart_outcomes(explorer, cut_index: int, state) -> list[tuple[str, Outcome]]:
    """(label, outcome) per distinct outcome of restarting at `state` (cached per state)."""
    cached = explorer.restarts.get(id(state))
    if cached is not None:
        return cached[1]
    config = explorer.config
    states: list = []

    def observer(fs: SimFileSystem, index: int, operation: str, path: str) -> None:
        states.append((index, fs.snapshot()))

    fs = SimFileSystem.from_state(state, observer=observer, disabled_sync_sites=config.disabled_sync_sites)
    results = [("restart", explorer.run_recovery(fs))]
    states.append((fs.step_count, fs.snapshot()))
    seen_outcomes = {results[0][1]}
    seen_states: set[int] = set()
    for index, crash_state in states:
        if id(crash_state) in seen_states:
            continue
        seen_states.add(id(crash_state))
        rng = random.Random(f"{config.seed}:restart:{cut_index}:{index}")
        for number, image in enumerate(explorer.profile.images(crash_state, rng, config.nested_limits)):
            outcome = explorer.recover_plain(image)
            if outcome not in seen_outcomes:
                seen_outcomes.add(outcome)
                results.append((f"{index}.{number}", outcome))
    explorer.restarts[id(state)] = (state, results)  # the state is kept so its id stays unique
    return results
