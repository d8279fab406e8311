"""SAVE, BGREWRITEAOF and re-shard traces of the simulator, validated against their models.

What it checks. `specs/model_check.py` models each protocol as a state machine over an
abstract disk. A recording of a workload (`sim.explorer.record`) holds every door call of the
run (`(index, operation, path, site)`); this module cuts out each run of a protocol (a
*segment*), maps its door calls to the model's transition labels, and asks the model
(`follow`) whether the labels are a path of it on which every state satisfies the
protocol's invariant -- every crash image the model derives from that state recovers as the
contract says. A trace that takes a step the model does not have (a rename before its fsync,
a SAVE that installs the log first, a commit that skips the last tee copy) or that reaches a
state the invariant rejects fails, so the models and the code cannot drift apart silently.

The mapping, door call -> label (calls that change nothing durable are left out: reads,
`size`, `exists`, `close`, `open_append`, and the writes that fill a file being created):
- `open_write P` -> `create NAME FILE`; `fsync P` -> `fsync FILE` (the file created at P);
  `rename P` -> `rename NAME TARGET`; `remove P` -> `remove NAME`; `fsync_dir` -> `fsync_dir`.
- SAVE (`Shard.save`: from its first temp's creation to the fsync_dir after the log swap):
  names `dump.tmp`, `dump`, `aof.tmp`, `aof`; files `snapshot-2`, `log-2`.
- BGREWRITEAOF (from the rewrite temp's creation to the commit's fsync_dir, the shard's own
  files and every fsync_dir of the directory): a write to the live log is `client write`,
  a write of the tee's copy (`copy_log_range`) to the temp is `copy`; the lock the commit
  holds has no door call (the model's invisible `lock`).
- re-shard (from the first temp `dump-i.rdb.reshard`, or a recovery's first move of a
  source, to the fsync_dir after the journal's removal): the real names; the model is built
  for the segment's shape (temps, sources moved, shards installed, shards kept in place).
"""

from __future__ import annotations

import functools
import posixpath

from .model_traces import load_models

_IGNORED = frozenset({"write", "close", "size", "exists", "open_append", "open_read", "read", "seek", "list_dir",
                      "read_bytes", "make_dirs", "lock", "truncate_handle"})


@functools.lru_cache(maxsize=1)
def _models():
    return load_models()


def _follow(model: tuple, labels: tuple[str, ...], invisible: frozenset = frozenset()) -> str:
    problem, _ = _models().follow(*model, labels, invisible)
    return problem


# --------------------------------------------------------------------------- SAVE


def save_segments(steps: list) -> list[list[str]]:
    """The label sequence of every `Shard.save()` in a run: per shard, from the creation of
    its snapshot or log temp to the fsync_dir after the log's rename, kept when its snapshot
    came from `save_snapshot` (a log swap alone -- a shard's first log, a synchronous
    rewrite -- is no SAVE). A write to the live log inside one is a `client write`."""
    segments, open_segments = [], {}  # (directory, shard index) -> [labels, from a SAVE]
    for _, operation, path, site in steps:
        directory, base = posixpath.split(path)
        if operation == "open_write" and base.endswith((".rdb.tmp", ".aof.tmp")):
            key = (directory, base.split("-")[1].split(".")[0])
            open_segments.setdefault(key, [[], False])
        for (directory_of, index), segment in list(open_segments.items()):
            names = {f"{directory_of}/dump-{index}.rdb.tmp": "dump.tmp", f"{directory_of}/dump-{index}.rdb": "dump",
                     f"{directory_of}/aof-{index}.aof.tmp": "aof.tmp", f"{directory_of}/aof-{index}.aof": "aof"}
            label = _save_label(operation, path, names, directory_of)
            if label is None:
                continue
            segment[0].append(label)
            segment[1] = segment[1] or "in save_snapshot" in site
            if label == "fsync_dir" and "rename aof.tmp aof" in segment[0]:
                del open_segments[(directory_of, index)]
                if segment[1]:
                    segments.append(segment[0])
    # an unfinished SAVE is a prefix (a run cut short)
    return segments + [labels for labels, from_save in open_segments.values() if from_save]


def _save_label(operation: str, path: str, names: dict, directory: str) -> str | None:
    if operation == "write" and names.get(path) == "aof":
        return "client write"  # a SAVE runs under the shard's lock: none may land inside it
    if operation in _IGNORED:
        return None
    if operation == "fsync_dir":
        return "fsync_dir" if path == directory else None
    name = names.get(path)
    if name is None:
        return None
    files = {"dump.tmp": "snapshot-2", "aof.tmp": "log-2", "dump": "snapshot-1", "aof": "log-1"}
    if operation == "open_write":
        return f"create {name} {files[name]}"
    if operation == "fsync":
        return None if name == "aof" else f"fsync {files[name]}"  # the live log's own fsyncs: writes before SAVE
    if operation == "rename":
        return f"rename {name} {name.removesuffix('.tmp')}"
    return f"{operation} {name}"  # a remove, or anything else the model has no transition for


def validate_save(steps: list) -> tuple[int, str]:
    """(SAVE segments validated, "" or the first problem)."""
    segments = save_segments(steps)
    for number, labels in enumerate(segments):
        problem = _follow(tuple(_models().save_model()), tuple(labels))
        if problem:
            return number, f"SAVE {number}: {problem}; labels {labels}"
    return len(segments), ""


# --------------------------------------------------------------------------- BGREWRITEAOF


def rewrite_segments(steps: list) -> list[tuple[list[str], int]]:
    """The label sequence of every BGREWRITEAOF (its temp created by `_write_rewrite_temp`),
    and how many writes the live log took since it was last installed: the job's freeze has
    no door call, so any of them may have come after it (and must be teed)."""
    segments, open_segments = [], {}  # live log path -> labels, writes before the temp
    writes_since_install: dict[str, int] = {}
    for _, operation, path, site in steps:
        if operation == "write" and path.endswith(".aof"):
            writes_since_install[path] = writes_since_install.get(path, 0) + 1
        elif operation == "rename" and path.endswith(".aof.tmp"):
            writes_since_install[path.removesuffix(".tmp")] = 0
        if operation == "open_write" and path.endswith(".aof.tmp") and "_write_rewrite_temp" in site:
            log = path.removesuffix(".tmp")
            open_segments[log] = ([], writes_since_install.get(log, 0))
        for log, (labels, before) in list(open_segments.items()):
            label = _rewrite_label(operation, path, site, log)
            if label is None:
                continue
            labels.append(label)
            if label == "fsync_dir" and "rename aof.tmp aof" in labels:
                segments.append(open_segments.pop(log))
    return segments + list(open_segments.values())


def _rewrite_label(operation: str, path: str, site: str, log: str) -> str | None:
    temp = log + ".tmp"
    if operation == "fsync_dir":
        return "fsync_dir" if path == posixpath.dirname(log) else None
    if path == log:
        return "client write" if operation == "write" else None  # its fsync acknowledges it
    if path != temp or operation in _IGNORED - {"write"}:
        return None
    if operation == "write":
        return "copy" if "copy_log_range" in site else None  # else the base content being created
    if operation == "open_write":
        return "create aof.tmp base-log"
    if operation == "fsync":
        return "fsync base-log"
    if operation == "rename":
        return "rename aof.tmp aof"
    return f"{operation} aof.tmp"


def validate_rewrite(steps: list) -> tuple[int, str]:
    models = _models()
    segments = rewrite_segments(steps)
    for number, (labels, before) in enumerate(segments):
        phase, disk, _, copied = models.rewrite_initial()
        initial = [(phase, disk, written, copied) for written in range(before + 1)]
        model = (initial, models.rewrite_successors(max_writes=before + labels.count("client write")),
                 {"recovery-is-exact": models.rewrite_recovers_exactly})
        problem = _follow(model, tuple(labels), frozenset({"lock"}))
        if problem:
            return number, f"BGREWRITEAOF {number}: {problem}; labels {labels}"
    return len(segments), ""


# --------------------------------------------------------------------------- re-shard


def reshard_segments(steps: list) -> list[tuple[list[tuple], bool]]:
    """Each re-shard's door calls as model steps, and whether it starts at the commit (a
    recovery rolling a committed re-shard forward)."""
    segments, current, from_commit = [], None, False
    files: dict[str, str] = {}
    for _, operation, path, site in steps:
        name = posixpath.basename(path)
        if current is None:
            if operation == "open_write" and name.endswith(".rdb.reshard"):
                current, from_commit = [], False
            elif operation == "rename" and "in finish_committed" in site:
                current, from_commit = [], True
            else:
                continue
        if "in _is_new_snapshot" in site and not name.endswith(".reshard"):
            current.append(("probe", name))  # finish_committed compares an old file with its new shard
        if operation in _IGNORED:
            continue
        if operation == "open_write":
            files[name] = _reshard_file(name)
            current.append(("create", name, files[name]))
        elif operation == "fsync":
            current.append(("fsync", files.get(name, f"old:{name}")))
        elif operation == "rename":
            current.append(("rename", name, "shards.meta" if name == "shards.meta.tmp" else f"{name}.premigration"))
        elif operation in ("remove", "fsync_dir"):
            current.append((operation, name) if operation == "remove" else ("fsync_dir",))
            if current[-1] == ("fsync_dir",) and ("remove", "reshard.journal") in current:
                segments.append((current, from_commit))
                current = None
        else:
            current.append((operation, name))
    return segments + ([(current, from_commit)] if current is not None else [])


def _reshard_file(name: str) -> str:
    if name.endswith(".rdb.reshard"):
        return f"new-{name.split('-')[1].split('.')[0]}"
    if name.startswith("dump-") and name.endswith(".rdb"):
        return f"new-{name.split('-')[1].split('.')[0]} copy"
    return {"reshard.journal": "journal", "shards.meta.tmp": "meta-new"}.get(name, name)


def reshard_shape(segment: list[tuple]) -> dict:
    """The model's parameters for one segment: read from the names it touches."""
    temps = {step[1] for step in segment if step[0] in ("create", "remove") and step[1].endswith(".rdb.reshard")}
    installs = tuple(int(step[2].split("-")[1].split()[0]) for step in segment
                     if step[0] == "create" and step[2].endswith(" copy"))
    sources = tuple(step[1] for step in segment if step[0] == "rename" and step[1] != "shards.meta.tmp")
    # kept in place: an old `dump-i.rdb` compared with its new shard, then neither moved nor replaced
    probed = {step[1] for step in segment if step[0] == "probe"}
    kept = tuple(sorted(int(name.split("-")[1].split(".")[0]) for name in probed
                        if name not in sources and name.startswith("dump-")
                        and int(name.split("-")[1].split(".")[0]) not in installs))
    return {"temps": len(temps), "sources": sources, "installs": installs, "kept": kept}


@functools.lru_cache(maxsize=256)
def _reshard_problem(segment: tuple, from_commit: bool) -> str:
    models = _models()
    model = models.reshard_model(**reshard_shape(list(segment)), from_commit=from_commit)
    labels = tuple(models.step_label(step) for step in segment if step[0] != "probe")
    return _follow(model, labels)


def validate_reshard(steps: list) -> tuple[int, str]:
    segments = reshard_segments(steps)
    for number, (segment, from_commit) in enumerate(segments):
        problem = _reshard_problem(tuple(segment), from_commit)
        if problem:
            return number, f"re-shard {number}: {problem}; steps {segment}"
    return len(segments), ""
