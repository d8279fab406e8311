"""Reports: the replay line of a failure, the summary of a sweep (text or JSON).

Every violation prints as one line that reproduces it exactly:
`python -m sim replay --workload W --profile P --seed S --cut K --image I` (plus `--fault`,
`--count`, `--keep` when the sweep used them).
"""

from __future__ import annotations

import json

from .explorer import ReplayReport, SweepConfig, SweepResult, Violation


def replay_line(config: SweepConfig, violation: Violation) -> str:
    parts = ["python -m sim replay", f"--workload {config.workload}", f"--profile {config.profile}",
             f"--seed {config.seed}", f"--cut {violation.cut}", f"--image {violation.image}"]
    if violation.fault:
        parts.append(f"--fault {violation.fault}")
    if violation.schedule is not None:
        parts.append("--schedule " + (violation.schedule or "''"))
    if config.operation_count is not None:
        parts.append(f"--count {config.operation_count}")
    if config.keep is not None:
        parts.append(f"--keep {','.join(map(str, config.keep)) or 'none'}")
    return " ".join(parts)


def summary(result: SweepResult) -> dict:
    config = result.config
    return {
        "workload": config.workload,
        "profile": config.profile,
        "seed": config.seed,
        "fault": config.fault,
        "steps": result.steps,
        "cuts": result.cuts,
        "fault_runs": result.fault_runs,
        "schedules": result.schedules,
        "images_checked": result.images_checked,
        "distinct_images": result.distinct_images,
        "outcomes": dict(sorted(result.outcomes.items())),
        "violations": result.violation_count,
        "seconds": round(result.seconds, 3),
        "cpu_seconds": round(result.cpu_seconds, 3),
        "images_per_cpu_second": round(result.images_per_cpu_second, 1),
        "replay": [replay_line(config, violation) for violation in result.violations[:5]],
    }


def format_summary(result: SweepResult, *, as_json: bool = False) -> str:
    data = summary(result)
    if as_json:
        return json.dumps(data, sort_keys=True)
    outcomes = ", ".join(f"{kind}={count}" for kind, count in data["outcomes"].items())
    lines = [
        f"{data['workload']} / {data['profile']}"
        + (f" / fault {data['fault']}" if data["fault"] else "") + f" / seed {data['seed']}",
        f"  steps {data['steps']}, cuts {data['cuts']}, images checked {data['images_checked']}, "
        f"distinct images {data['distinct_images']}",
        # The two count different things, and the second is often the larger: say which.
        "  (images checked: verdicts, one per image of every cut plus one per distinct outcome of "
        "its nested crashes; distinct images: disk images recovered, each once, nested crash "
        "images included)",
        f"  outcomes: {outcomes}",
        f"  violations: {data['violations']}",
        f"  {data['seconds']} s ({data['cpu_seconds']} CPU s), "
        f"{data['images_per_cpu_second']} distinct images per CPU-second",
    ]
    for violation in result.violations[:5]:
        lines.append(f"  VIOLATION {violation.kind} at cut {violation.cut} image {violation.image}: "
                     f"{violation.detail}")
        lines.append(f"    {replay_line(result.config, violation)}")
    return "\n".join(lines)


def _operation_text(operation: object) -> str:
    """A command argv as text; other workloads' operations (layouts, ...) as their repr."""
    if isinstance(operation, (tuple, list)) and all(isinstance(part, bytes) for part in operation):
        return b" ".join(operation).decode(errors="replace")
    return repr(operation)


def format_replay(report: ReplayReport) -> str:
    lines = [f"operations: {[_operation_text(operation) for operation in report.operations]}",
             f"history at the cut: required={report.freeze[0]} issued={report.freeze[1]}",
             "last steps before the cut:"]
    lines += [f"  #{index} {operation} {path}  ({site})" for index, operation, path, site in
              report.steps_before_cut]
    lines += ["crash image:", report.image.describe()]
    if report.outcome.failure:
        lines.append(f"recovery: {report.outcome.failure}: {report.outcome.detail}")
    else:
        lines.append(f"recovered state: {report.outcome.state!r}")
    verdict = report.verdict
    lines.append(f"verdict: {verdict.kind} ({'ok' if verdict.ok else 'VIOLATION'}) {verdict.detail}")
    return "\n".join(lines)
