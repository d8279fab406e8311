"""Call sites of simulated file-system calls: who made the call, as a stable label.

A step's call site is the first stack frame outside the simulator's file-system machinery
and outside `kevy_persist/disk/fs.py`, e.g. `sim/workloads/toy.py:110 in _fsync`; when that frame
is in `kevy_persist/` and so is its caller, the caller comes first, so a shared helper is told
apart by who called it: `kevy_persist/engine/shard.py:194 in sync_log -> kevy_persist/engine/aof.py:179 in
fsync`. `site_key` drops line numbers, so justifications survive unrelated edits. Frames are
walked with `sys._getframe` (not `inspect.stack()`): this runs on every simulated call.
"""

from __future__ import annotations

import os
import re
import sys

_REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_MACHINERY_FILES = frozenset(
    os.path.join(_REPOSITORY_ROOT, relative)
    for relative in ("sim/simfs.py", "sim/simfs_handles.py", "sim/disk.py", "sim/faults.py", "kevy_persist/disk/fs.py")
)

_CORE_ROOT = os.path.join(_REPOSITORY_ROOT, "kevy_persist") + os.sep


def _frame_label(frame) -> str:
    filename = frame.f_code.co_filename
    if filename.startswith(_REPOSITORY_ROOT):
        filename = filename[len(_REPOSITORY_ROOT):]
    return f"{filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def call_site(depth: int = 2) -> str:
    """The first frame outside the file-system machinery, as `relative/path.py:line in function`,
    preceded by its caller (`caller -> frame`) when both are in `kevy_persist/`."""
    frame = sys._getframe(depth)
    while frame is not None and frame.f_code.co_filename in _MACHINERY_FILES:
        frame = frame.f_back
    if frame is None:
        return "?"
    label = _frame_label(frame)
    caller = frame.f_back
    if frame.f_code.co_filename.startswith(_CORE_ROOT) and caller is not None \
            and caller.f_code.co_filename.startswith(_CORE_ROOT):
        label = f"{_frame_label(caller)} -> {label}"
    return label


def site_key(site: str) -> str:
    """A site without its line numbers: `a.py:12 in f -> b.py:34 in g` -> `a.py in f -> b.py in g`."""
    return re.sub(r":\d+ in ", " in ", site)


def innermost_frame(site: str) -> str:
    """The frame that made the call: the last part of `caller -> frame`."""
    return site.rpartition(" -> ")[2]
