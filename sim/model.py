"""The oracle's model: a plain-dict interpreter of acknowledged writes, and the history.

What it models. A workload's operations are argv lists of a few non-idempotent commands
(`INCR`, `APPEND`, `LPUSH`, plus `SET`, `DEL` and `RPOP`, and `FULLSYNC k v ...`: a replica's full
sync, after which the dataset is exactly those pairs), chosen so that applying one twice or
skipping one leaves a visibly different state, and the stream commands of the `streams-*`
workloads (interpreted by `sim.stream_model`). `states_by_prefix(operations)` gives the state
after every prefix of the history, computed with Python dicts, bytes and tuples only -- never
the keyspace code under test -- in the canonical form recovery results are compared in:
a sorted tuple of `(key, value)`, value = `bytes` for a string, `tuple[bytes, ...]` for a
list (head first).

`History` is what a workload records while it runs: how many operations were issued (begun)
and how many of them must survive any crash from now on (`required`): under `always` every
acknowledged write, under `everysec` those acknowledged before the last completed second's
sync, under `no` only what a synchronous SAVE covered. The explorer freezes it at each cut.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .stream_model import STREAM_VERBS, apply_stream

Argv = tuple[bytes, ...]
CanonicalState = tuple[tuple[bytes, object], ...]


def apply(model: dict[bytes, object], argv: Sequence[bytes]) -> None:
    """Apply one command to the plain-dict model (the oracle's own semantics)."""
    verb = argv[0].upper()
    if verb in (b"SAVE", b"REWRITE", b"TICK"):
        return  # persistence and time steps change no value
    if verb in STREAM_VERBS:
        apply_stream(model, argv)
        return
    if verb == b"FULLSYNC":  # a replica's full sync: the dataset becomes exactly these pairs
        model.clear()
        model.update(zip(argv[1::2], argv[2::2]))
    elif verb == b"SET":
        model[argv[1]] = argv[2]
    elif verb == b"DEL":
        for key in argv[1:]:
            model.pop(key, None)
    elif verb == b"INCR":
        model[argv[1]] = str(int(model.get(argv[1], b"0")) + 1).encode()
    elif verb == b"APPEND":
        model[argv[1]] = model.get(argv[1], b"") + argv[2]
    elif verb == b"LPUSH":
        items = list(model.get(argv[1], ()))
        for item in argv[2:]:
            items.insert(0, item)
        model[argv[1]] = tuple(items)
    elif verb == b"RPOP":
        items = list(model.get(argv[1], ()))
        if items:
            items.pop()
            if items:
                model[argv[1]] = tuple(items)
            else:
                del model[argv[1]]  # an emptied list is no key at all
    else:
        raise AssertionError(f"the model does not know {verb!r}")


def canonical(model: dict[bytes, object]) -> CanonicalState:
    return tuple(sorted(model.items()))


def states_by_prefix(operations: Sequence[Sequence[bytes]]) -> list[CanonicalState]:
    """The model state after each prefix: index p = the first p operations applied."""
    model: dict[bytes, object] = {}
    states = [canonical(model)]
    for argv in operations:
        apply(model, argv)
        states.append(canonical(model))
    return states


def states_with_omissions(operations: Sequence[Sequence[bytes]], omittable: frozenset[int]) -> list[set[CanonicalState]]:
    """Per prefix p, every state reachable by applying the first p operations where each
    operation in `omittable` (one that failed: it may or may not have taken effect) may
    be skipped. With nothing omittable this is `states_by_prefix`, one state per prefix."""
    models: dict[CanonicalState, dict] = {canonical({}): {}}
    result = [set(models)]
    for index, argv in enumerate(operations):
        following: dict[CanonicalState, dict] = {}
        for state, current in models.items():
            applied = dict(current)
            apply(applied, argv)
            following[canonical(applied)] = applied
            if index in omittable:
                following[state] = current
        models = following
        result.append(set(models))
    return result


def random_operations(seed: int, count: int, key_count: int = 3) -> list[Argv]:
    """A seeded mix of non-idempotent writes over a few keys (strings and lists kept apart)."""
    rng = random.Random(f"operations:{seed}")
    operations: list[Argv] = []
    for number in range(count):
        index = rng.randrange(key_count)
        kind = rng.choice(("INCR", "APPEND", "LPUSH"))
        value = b"v%d" % number
        if kind == "INCR":
            operations.append((b"INCR", b"counter:%d" % index))
        elif kind == "APPEND":
            operations.append((b"APPEND", b"text:%d" % index, value))
        else:
            operations.append((b"LPUSH", b"list:%d" % index, value))
    return operations


class History:
    """Issued and must-survive counts, as the workload learns them (frozen at every cut)."""

    __slots__ = ("issued", "required", "failed", "required_by_shard")

    def __init__(self) -> None:
        self.issued = 0
        self.required = 0
        self.failed: set[int] = set()
        # Multi-shard workloads: shard -> the first `count` operations must survive *on that
        # shard* (a background job's commit makes one shard durable, not the others).
        self.required_by_shard: dict[int, int] = {}

    def fail(self, operation_index: int) -> None:
        """Operation `operation_index` returned an error: it may or may not have taken effect,
        and later operations may see either (so the oracle may skip it)."""
        assert operation_index < self.issued, "only an issued operation can fail"
        self.failed.add(operation_index)

    def begin(self, operation_index: int) -> None:
        """Operation `operation_index` is about to be sent (it may or may not survive)."""
        assert operation_index == self.issued, "operations are issued in order"
        self.issued = operation_index + 1

    def require(self, count: int) -> None:
        """The first `count` operations must survive every later crash."""
        assert count <= self.issued, "only issued operations can be required"
        self.required = max(self.required, count)

    def require_shard(self, shard_index: int, count: int) -> None:
        """The first `count` operations must survive on shard `shard_index`."""
        assert count <= self.issued, "only issued operations can be required"
        self.required_by_shard[shard_index] = max(self.required_by_shard.get(shard_index, 0), count)

    def freeze(self) -> tuple:
        """(required, issued), plus the per-shard requirements when a workload set any."""
        if self.required_by_shard:
            return (self.required, self.issued, tuple(sorted(self.required_by_shard.items())))
        return (self.required, self.issued)
