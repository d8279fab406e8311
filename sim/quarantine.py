"""Oracle: bytes recovery quarantined, once reported, survive any later crash.

What it checks. When a recovery cuts a damaged or torn log tail it first copies the tail to
`<log>.corrupt-quarantine.<secs>` and reports that file (DESIGN §2): the evidence must not
depend on luck. For every crash image of the disk as that recovery left it (the state after
its last step), each quarantined tail must still be somewhere on disk: as a file with those
exact bytes, or still inside the log it was cut from (when the cut itself did not reach the
disk either). A loss is the violation `quarantine-lost`, judged on the nested crash image
that lost it (image id `I.J.M`, J = the last recovery step).
"""

from __future__ import annotations

from .disk import Image

QUARANTINE_LOST = "quarantine-lost"
MARK = ".corrupt-quarantine."


def reported_quarantines(image: Image, fs) -> dict[str, bytes]:
    """The quarantine files recovery created (new in the live state, non-empty)."""
    if not fs.has_live_name_containing(MARK):
        return {}  # the common case, checked without building the live image
    before = dict(image.files)
    return {path: data for path, data in fs.live_image().files
            if MARK in path and data and before.get(path) != data}


def lost_quarantines(reported: dict[str, bytes], crash_image: Image) -> str:
    """A description of every reported quarantine `crash_image` lost ("" when none)."""
    files = dict(crash_image.files)
    contents = set(files.values())
    lost = []
    for path, data in sorted(reported.items()):
        log_path = path.split(MARK, 1)[0]
        if data in contents or data in files.get(log_path, b""):
            continue
        lost.append(f"{path} ({len(data)} bytes) reported by recovery is gone after a crash")
    return "; ".join(lost)
