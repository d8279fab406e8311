"""Resource limits: output buffers per client class, and the client count the fd limit allows.

`client-output-buffer-limit` (Redis's syntax: `<class> <hard> <soft> <soft seconds>`, classes
`normal`, `slave`/`replica`, `pubsub`, sizes with b/k/kb/m/mb/g/gb units): a client whose
pending output passes the hard limit, or stays past the soft limit for the soft seconds, is
disconnected (`over_limit`). Defaults are Redis's: normal unlimited, pubsub 32 MiB hard and
8 MiB for 60 s soft.

`cap_maxclients`: the server needs a descriptor per client plus a few of its own (Redis keeps
32 in reserve); it raises its soft RLIMIT_NOFILE as far as the hard limit allows and caps
`maxclients` to what fits, saying so, instead of failing accepts later.
"""

from __future__ import annotations

import resource

import attrs

__all__ = ["DEFAULT_OUTPUT_LIMITS", "OutputLimit", "cap_maxclients", "format_output_limits", "over_limit",
           "parse_output_limits"]

RESERVED_DESCRIPTORS = 32
_CLASSES = ("normal", "slave", "pubsub")
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


@attrs.frozen
class OutputLimit:
    hard_bytes: int
    soft_bytes: int
    soft_seconds: int


DEFAULT_OUTPUT_LIMITS = {
    "normal": OutputLimit(0, 0, 0),
    "slave": OutputLimit(268435456, 67108864, 60),
    "pubsub": OutputLimit(33554432, 8388608, 60),
}


def _memory(text: str) -> int | None:
    lowered = text.lower()
    digits = lowered.rstrip("bkmg")
    unit = lowered[len(digits):]
    if not digits.isdigit() or unit not in _UNITS:
        return None
    return int(digits) * _UNITS[unit]


def parse_output_limits(text: str, current: dict[str, OutputLimit]) -> dict[str, OutputLimit] | str:
    """The limits after applying `text` to `current`, or Redis's refusal text."""
    tokens = text.split()
    if len(tokens) % 4:
        return "Wrong number of arguments in buffer limit configuration."
    limits = dict(current)
    for index in range(0, len(tokens), 4):
        kind = tokens[index].lower()
        kind = "slave" if kind == "replica" else kind
        if kind not in _CLASSES:
            return "Invalid client class specified in buffer limit configuration."
        hard, soft = _memory(tokens[index + 1]), _memory(tokens[index + 2])
        seconds = tokens[index + 3]
        if hard is None or soft is None or not seconds.isdigit():
            return "Error in hard, soft or soft_seconds setting in buffer limit configuration."
        limits[kind] = OutputLimit(hard, soft, int(seconds))
    return limits


def format_output_limits(limits: dict[str, OutputLimit]) -> str:
    return " ".join(
        f"{kind} {limits[kind].hard_bytes} {limits[kind].soft_bytes} {limits[kind].soft_seconds}" for kind in _CLASSES
    )


def over_limit(limit: OutputLimit, size_bytes: int, soft_since_ms: int | None, now_ms: int) -> tuple[bool, int | None]:
    """(disconnect now?, when the soft limit was first passed) for a client's output size."""
    if limit.hard_bytes and size_bytes >= limit.hard_bytes:
        return True, soft_since_ms
    if limit.soft_bytes and size_bytes >= limit.soft_bytes:
        since = now_ms if soft_since_ms is None else soft_since_ms
        return now_ms - since >= limit.soft_seconds * 1000, since
    return False, None


def cap_maxclients(requested: int) -> tuple[int, str | None]:
    """(the maxclients the descriptor limit allows, a warning when it is below `requested`)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = requested + RESERVED_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return requested, None
    allowed = max(1, soft - RESERVED_DESCRIPTORS)
    return allowed, (
        f"maxclients {requested} needs {needed} file descriptors but the limit is {soft}: "
        f"serving at most {allowed} clients (raise it with 'ulimit -n')"
    )
