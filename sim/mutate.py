"""`python -m sim mutate`: plant each mutant in a scratch copy, run the sweeps, tabulate.

What it does. The mutants are the catalogue (`sim.mutants.CATALOGUE`: named durability bugs,
each with the sweeps meant to catch it) and, in the exhaustive tier, one generated mutant per
sync call site of `kevy_persist/` (the `fsync()` or `fsync_dir(...)` line replaced by `pass`),
tried against `sync_site_sweeps` (every core workload, its file's area first). Per mutant:
copy `kevy_persist/` and `sim/` into a scratch directory, write the patched file there, and
run its sweeps in a child Python whose import path starts at the copy (the checkout is never
touched), stopping at the first violation. A
mutant is *killed* when a sweep's oracle reports a violation, and the table names that sweep
and its replay line; a mutant is *survived* when none does. The default tier runs a small
sample (the catalogue's first `DEFAULT_SAMPLE` entries), `--all` every mutant.
Deterministic: the sweeps are seeded as always; the sample is the catalogue's order.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import attrs

from .mutants import CATALOGUE
from .planted import Mutant, Sweep, patched_source

DEFAULT_SAMPLE = 4
ROOT = pathlib.Path(__file__).resolve().parent.parent
SYNC_LINE = re.compile(r"^(?P<indent>\s*)(?P<call>[\w.]+\.fsync\(\)|[\w.]*(?:fs|file_system)\.fsync_dir"
                       r"\([^()]*(\([^()]*\))?[^()]*\))\s*(#.*)?$")
# The sweeps a sync-site mutant faces: the stronger ones the self-check's detections need
# in its file's area first (a removed truncate fsync shows only with more images; an
# abandoned re-shard only under an fsync_dir fault), then every core workload under `strict`
# and `weakest` with small caps -- the workloads of the file's area (`_AREAS`) first, since a
# mutant stops at the first sweep that kills it.
_FIRST = {
    "kevy_persist/engine/aof.py": (
        Sweep("open-hole-filled", "weakest", cap=256, samples=64, nested_cap=4, nested_samples=2),),
    # A MOVE journal settled at open: its removal matters only to a write after that open.
    "kevy_persist/store/databases.py": (
        Sweep("move-1shard", "strict", cap=32, samples=8, nested_cap=4, nested_samples=2, resume=True),),
    # SWAPDB: the swaps of databases 1 and 2 never fsync the root early (a journal whose
    # removal was lost comes back); an abandoned swap needs its commit fsync_dir to fail
    # (step 116 of swapdb-chain-1shard, variant 1: every pending name written) under weakest;
    # the temps' fsync_dir and the commit point show under weakest on swapdb-1shard.
    "kevy_persist/reshard/swapdb.py": (
        Sweep("swapdb-chain-1shard", "strict", cap=32, samples=8, nested_cap=4, nested_samples=2),
        Sweep("swapdb-1shard", "weakest", cap=32, samples=8, nested_cap=4, nested_samples=2),
        Sweep("swapdb-chain-1shard", "weakest", "eio-fsync_dir@116:1", cap=32, samples=8, nested_cap=4,
              nested_samples=2)),
    "kevy_persist/reshard/": (
        Sweep("reshard-grow-1-3", "weakest", "eio-fsync_dir", cap=16, samples=6, nested_cap=2, nested_samples=1),),
}
_AREAS = {
    "kevy_persist/reshard/swapdb.py": ("swapdb-",), "kevy_persist/store/databases.py": ("move-", "swapdb-"),
    "kevy_persist/store/database_lifecycle.py": ("swapdb-",), "kevy_persist/store/store.py": ("move-", "swapdb-"), "kevy_persist/reshard/fresh_install.py": ("import-rdb",),
    "kevy_persist/tools/": ("export-rdb", "import-rdb"), "kevy_persist/reshard/": ("reshard-",),
    "kevy_persist/engine/background_job.py": ("background-", "store-background-", "owned-background-"),
    "kevy_persist/store/background.py": ("store-background-", "owned-background-"),
    "kevy_persist/engine/aof.py": ("log-", "open-"), "kevy_persist/layout/": ("layout-",),
}


def _core_workloads() -> list[str]:
    from .workloads import all_workloads

    return [workload.name for workload in all_workloads() if not workload.name.startswith("toy")
            and not workload.broken_on_purpose and workload.skip_reason() is None]


def sync_site_sweeps(relative_path: str) -> tuple[Sweep, ...]:
    """The sweeps for a mutant of the sync line in `relative_path` (see `_FIRST`)."""
    prefixes = next((area for prefix, area in _AREAS.items() if relative_path.startswith(prefix)), ())
    first = next((sweeps for prefix, sweeps in _FIRST.items() if relative_path.startswith(prefix)), ())
    names = _core_workloads()
    ordered = [name for prefix in prefixes for name in names if name.startswith(prefix)]
    ordered += [name for name in names if name not in ordered]
    return first + tuple(Sweep(name, profile, cap=32, samples=8, nested_cap=4, nested_samples=2)
                         for name in ordered for profile in ("strict", "weakest"))


@attrs.frozen
class MutantResult:
    mutant: Mutant
    killed_by: str  # the sweep's label, or ""
    kind: str
    replay: str


def sync_site_mutants() -> list[Mutant]:
    """One mutant per fsync / fsync_dir line of the core (the line made a no-op)."""
    mutants = []
    for path in sorted((ROOT / "kevy_persist").rglob("*.py")):
        if path.parts[-2] == "disk":
            continue  # the door itself, not a caller of it
        lines = path.read_text().splitlines(keepends=True)
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for number, line in enumerate(lines, start=1):
            match = SYNC_LINE.match(line.rstrip("\n"))
            if not match:
                continue
            context = "".join(lines[max(0, number - 3):number])  # two lines before: unique text
            new = context[: len(context) - len(line)] + f"{match['indent']}pass  # mutant: {match['call']} removed\n"
            if "".join(lines).count(context) != 1:
                continue
            relative = path.relative_to(ROOT)
            mutants.append(Mutant(f"no-sync:{relative}:{number}", module, context, new,
                                  f"{match['call']} at {relative}:{number} removed", sync_site_sweeps(str(relative))))
    return mutants


def _scratch_copy(mutant: Mutant) -> pathlib.Path:
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="kevy-mutant-"))
    for package in ("kevy_persist", "sim"):
        shutil.copytree(ROOT / package, scratch / package, ignore=shutil.ignore_patterns("__pycache__"))
    target = scratch / pathlib.Path(*mutant.module.split(".")).with_suffix(".py")
    target.write_text(patched_source(mutant, target.read_text()))
    return scratch


def run_mutant(mutant: Mutant) -> MutantResult:
    """Plant `mutant` in a scratch copy and run its sweeps there (module docstring)."""
    scratch = _scratch_copy(mutant)
    try:
        sweeps = json.dumps([attrs.asdict(sweep) for sweep in mutant.sweeps])
        completed = subprocess.run(
            [sys.executable, "-c", _CHILD, sweeps, str(scratch)], cwd=scratch, capture_output=True, text=True,
            env={"PYTHONPATH": str(scratch), "PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"}, check=False)
        if completed.returncode != 0:
            return MutantResult(mutant, "", "child-failed", completed.stderr.strip().splitlines()[-1:][0]
                                if completed.stderr.strip() else "")
        answer = json.loads(completed.stdout.strip().splitlines()[-1])
        return MutantResult(mutant, answer["sweep"], answer["kind"], answer["replay"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# The child: runs in the scratch copy, imports its (mutated) core, sweeps until a violation.
_CHILD = """
import json, logging, sys
import kevy_persist
assert kevy_persist.__file__.startswith(sys.argv[2]), kevy_persist.__file__
logging.getLogger("kevy_persist").addHandler(logging.NullHandler())
logging.getLogger("kevy_persist").propagate = False
from sim.explorer import SweepConfig, sweep
from sim.profiles import Limits
from sim.report import replay_line
answer = {"sweep": "", "kind": "", "replay": ""}
for spec in json.loads(sys.argv[1]):
    config = SweepConfig(spec["workload"], spec["profile"], fault=spec["fault"],
                         limits=Limits(spec["cap"], spec["samples"]),
                         nested_limits=Limits(spec["nested_cap"], spec["nested_samples"]),
                         resume=spec["resume"], stop_at_first=True)
    result = sweep(config)
    if result.violation_count:
        violation = result.violations[0]
        label = f"{spec['workload']}/{spec['profile']}" + (f" --fault {spec['fault']}" if spec["fault"] else "") \\
            + (" --resume" if spec["resume"] else "")
        answer = {"sweep": label, "kind": violation.kind, "replay": replay_line(config, violation)}
        break
print(json.dumps(answer))
"""


def mutants_for(tier_all: bool, only: list[str] | None) -> list[Mutant]:
    mutants = list(CATALOGUE) + (sync_site_mutants() if tier_all or only else [])
    if only:
        return [mutant for mutant in mutants if mutant.name in only]
    return mutants if tier_all else mutants[:DEFAULT_SAMPLE]


def format_table(results: list[MutantResult]) -> str:
    killed = sum(1 for result in results if result.killed_by)
    lines = [f"mutants: {len(results)}, killed: {killed}, survived: {len(results) - killed}", "",
             "| mutant | result | killing sweep | violation | replay (with the mutant planted) |", "|---|---|---|---|---|"]
    for result in results:
        verdict = "killed" if result.killed_by else "**SURVIVED**"
        lines.append(f"| `{result.mutant.name}` | {verdict} | {result.killed_by} | {result.kind} | "
                     f"{'`' + result.replay + '`' if result.replay else ''} |")
    return "\n".join(lines)
