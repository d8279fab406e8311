"""Redis save points: `save "3600 1 300 100 60 10000"` (pure; the job manager applies them).

A save point `(seconds, changes)` is due when at least `changes` writes happened since the last
snapshot and more than `seconds` have passed since it (Redis: `dirty >= changes &&
now - lastsave > seconds`). After a failed background save, a due point waits until 5 s have
passed since that attempt (Redis's CONFIG_BGSAVE_RETRY_DELAY), so a full disk is not hammered.

The text form is Redis's: pairs of integers separated by spaces, seconds >= 1 and changes
>= 0; `""` means no save points. Anything else is `ValueError("Invalid save parameters")`,
Redis's wording for CONFIG SET.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

SavePoint = tuple[int, int]  # (seconds, changes)
RETRY_DELAY_MS = 5000
INVALID = "Invalid save parameters"


def parse_save_points(text: str) -> tuple[SavePoint, ...]:
    """`"3600 1 300 100"` -> ((3600, 1), (300, 100)); raises ValueError on bad input."""
    fields = text.split()
    if len(fields) % 2:
        raise ValueError(INVALID)
    points = []
    for position in range(0, len(fields), 2):
        seconds, changes = (_integer(field) for field in fields[position : position + 2])
        points.append((seconds, changes))
    return validate_save_points(points)


def _integer(field: str) -> int:
    sign = field[:1] in ("-", "+")
    if not field[sign:].isdigit() or not field.isascii():
        raise ValueError(INVALID)
    return int(field)


def validate_save_points(points: Iterable[Sequence[int]]) -> tuple[SavePoint, ...]:
    checked = []
    for point in points:
        if len(point) != 2 or not all(type(number) is int for number in point):
            raise ValueError(INVALID)
        seconds, changes = point
        if seconds < 1 or changes < 0:
            raise ValueError(INVALID)
        checked.append((seconds, changes))
    return tuple(checked)


def save_points_from_config(value: object) -> tuple[SavePoint, ...]:
    """The config converter: Redis's text, or an iterable of (seconds, changes) pairs."""
    if isinstance(value, str):
        return parse_save_points(value)
    return validate_save_points(value)  # type: ignore[arg-type]


def format_save_points(points: Sequence[SavePoint]) -> str:
    """Redis's CONFIG GET form: `"3600 1 300 100"` (`""` for none)."""
    return " ".join(f"{seconds} {changes}" for seconds, changes in points)


def due_save_point(
    points: Sequence[SavePoint],
    changes: int,
    since_save_ms: int,
    last_attempt_failed: bool,
    since_attempt_ms: int,
) -> SavePoint | None:
    """The first point that asks for a snapshot now, or None."""
    if last_attempt_failed and since_attempt_ms <= RETRY_DELAY_MS:
        return None
    for seconds, needed in points:
        if changes >= needed and since_save_ms > seconds * 1000:
            return (seconds, needed)
    return None
