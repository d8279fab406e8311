"""Self-check of the syncs: is every fsync and fsync_dir call site needed, and is it checked?

Method. Sweep each workload under each profile once with nothing disabled (the baseline,
which must be clean) and collect every fsync / fsync_dir call site it reached -- in the
workload's run and in recovery. Then, one site at a time, turn that site into a no-op (the
call returns without making anything durable) and sweep again, stopping at the first
violation. A site whose removal no sweep detects is reported: either the sync is not needed,
or a checker or workload is too weak to notice its absence. Such a site must be justified in
`JUSTIFIED` (keyed by `sim.simfs.site_key`: `caller -> frame` with the line numbers left
out, so edits do not stale it), or removed from the core, or covered by a stronger workload.
A site no plain sweep detects is tried once more with `resume` (write after every recovery,
crash again) on the workloads that support it.
A site is labelled by its frame and, inside the core, its caller (`sim.simfs.call_site`), so
each caller of a shared helper (`LogWriter.fsync`, `write_layout`, `install_snapshot`) is a
row of its own and is checked on its own.
"""

from __future__ import annotations

import attrs

from .explorer import SweepConfig, sweep
from .profiles import Limits
from .report import replay_line
from .simfs import innermost_frame, site_key
from .workloads import workload_named

# Workloads whose detection needs more images than the self-check's caps: the one image of
# `open-hole-filled` where a lost truncate lets the first append's page resurrect the old
# tail is found at 128 images per cut and up, under `weakest`.
STRONGER_LIMITS: dict[str, Limits] = {"open-hole-filled": Limits(256, 64)}


def limits_for(workload: str, limits: Limits) -> Limits:
    return STRONGER_LIMITS.get(workload, limits)


# Sites whose removal no sweep can detect, with the reason they stay (none today: every
# site's removal is caught by some sweep's oracle). A new row needs a reason a reviewer can
# check: why losing what the sync makes durable breaks no promise of the contract.
JUSTIFIED: dict[str, str] = {}


@attrs.frozen
class SiteReport:
    site: str
    calls: int
    detected_by: str  # "workload/profile: kind" or "" when nothing detected the removal
    replay: str
    justification: str


def self_check(configs: list[SweepConfig], *, include_sim_sites: bool = False) -> tuple[list[SiteReport], list[str]]:
    """Rows of the self-check table, and the baselines that were not clean (should be none)."""
    sites: dict[str, int] = {}
    reached_by: dict[str, list[SweepConfig]] = {}
    unclean = []
    for config in configs:
        baseline = sweep(config)
        if baseline.violation_count:
            unclean.append(f"{config.workload}/{config.profile}: {baseline.violation_count} violations")
        for site, calls in baseline.sync_sites.items():
            if not include_sim_sites and innermost_frame(site).startswith("sim/"):
                continue
            sites[site] = sites.get(site, 0) + calls
            reached_by.setdefault(site, []).append(config)
    rows = []
    for site in sorted(sites):
        detected_by, replay = "", ""
        # Then, for what no plain sweep detects, the same sweeps writing after each recovery
        # (`resume`, where the workload can): a sync in recovery that only a later write and
        # crash depend on (a settled MOVE journal's removal) shows only there.
        attempts = [config for config in reached_by[site]] + [
            attrs.evolve(config, resume=True) for config in reached_by[site]
            if not config.resume and hasattr(workload_named(config.workload), "resume")]
        for config in attempts:
            result = sweep(attrs.evolve(config, disabled_sync_sites=frozenset({site}), stop_at_first=True))
            if result.violation_count:
                violation = result.violations[0]
                detected_by = f"{config.workload}/{config.profile}{' --resume' if config.resume else ''}: {violation.kind}"
                replay = replay_line(config, violation) + f" --disable-sync '{site}'"
                break
        rows.append(SiteReport(site, sites[site], detected_by, replay, JUSTIFIED.get(site_key(site), "")))
    return rows, unclean


def format_table(rows: list[SiteReport]) -> str:
    lines = ["| sync call site | calls | removal detected by | justification if undetected |",
             "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| `{row.site}` | {row.calls} | {row.detected_by or '**NOT DETECTED**'} | "
                     f"{row.justification if not row.detected_by else ''} |")
    return "\n".join(lines)
