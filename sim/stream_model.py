"""The oracle's model of streams: a plain interpreter of the stream commands the `streams-*`
workloads issue, written from Redis's documented semantics with tuples and dicts only.

It never uses kevy's stream code. A stream is held in the model dict as an immutable
canonical value, rebuilt by each command, so `sim.model.canonical` compares it as is:

    ("stream", entries, last_id, groups)
    entries = ((id, fields), ...) in ID order      id = (ms, seq); fields = flat bytes tuple
    groups  = ((name, last_delivered, pending, consumers), ...) by name
    pending = ((id, consumer, delivery_count), ...) in ID order; consumers = sorted names

Delivery times, consumers' seen times and the groups' read counters are left out: they
follow the clock or are estimated after a snapshot, and the workloads do not depend on them.

Commands (only these forms): XADD key <ms-seq> field value; XGROUP CREATE key group 0
MKSTREAM; XREADGROUP GROUP group consumer COUNT n STREAMS key >; XACK key group <id>;
XCLAIM key group consumer 0 <id>; XDEL key <id>; XTRIM key MAXLEN n. Anything the real
server would refuse (a key of another type, an ID not above the last, a missing group)
changes nothing, as an error reply changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

STREAM_VERBS = frozenset({b"XADD", b"XGROUP", b"XREADGROUP", b"XACK", b"XCLAIM", b"XDEL", b"XTRIM"})
EMPTY_STREAM = ("stream", (), (0, 0), ())
_KEY_POSITION = {b"XGROUP": 2, b"XREADGROUP": 7}


def parse_id(text: bytes) -> tuple[int, int]:
    ms, _, seq = text.partition(b"-")
    return int(ms), int(seq)


def apply_stream(model: dict, argv: Sequence[bytes]) -> None:
    verb = argv[0].upper()
    key = argv[_KEY_POSITION.get(verb, 1)]
    current = model.get(key)
    if current is not None and not (isinstance(current, tuple) and current[:1] == ("stream",)):
        return  # WRONGTYPE
    _, entries, last_id, groups = current if current is not None else EMPTY_STREAM
    entries, groups = list(entries), {group[0]: group for group in groups}
    if verb == b"XADD":
        entry_id = parse_id(argv[2])
        if entry_id <= last_id:
            return
        entries.append((entry_id, tuple(argv[3:])))
        last_id = entry_id
    elif verb == b"XGROUP":
        assert argv[1].upper() == b"CREATE" and tuple(argv[4:]) == (b"0", b"MKSTREAM"), argv
        if argv[3] in groups:
            return  # BUSYGROUP (the stream existed already, as it does after the first)
        groups[argv[3]] = (argv[3], (0, 0), (), ())
    elif current is None:
        return  # every other command needs the key
    elif verb == b"XDEL":
        entries = [entry for entry in entries if entry[0] != parse_id(argv[2])]
    elif verb == b"XTRIM":
        keep = int(argv[4])
        entries = entries[len(entries) - keep :] if keep < len(entries) else entries
    else:
        group = groups.get(argv[2])
        if group is None:
            return  # NOGROUP
        groups[group[0]] = _group_command(verb, argv, group, entries)
    model[key] = ("stream", tuple(entries), last_id, tuple(groups[name] for name in sorted(groups)))


def _group_command(verb: bytes, argv: Sequence[bytes], group: tuple, entries: list) -> tuple:
    name, last_delivered, pending, consumers = group
    rows = {entry_id: (holder, count) for entry_id, holder, count in pending}
    known = set(consumers)
    if verb == b"XREADGROUP":
        consumer, count = argv[3], int(argv[5])
        fresh = [entry_id for entry_id, _ in entries if entry_id > last_delivered][:count]
        if fresh:
            known.add(consumer)  # Redis 7.0 creates the consumer only when it serves it
            for entry_id in fresh:
                rows[entry_id] = (consumer, 1)
            last_delivered = fresh[-1]
    elif verb == b"XACK":
        rows.pop(parse_id(argv[3]), None)
    else:
        assert verb == b"XCLAIM" and argv[4] == b"0"
        entry_id, consumer = parse_id(argv[5]), argv[3]
        if entry_id in rows:
            if any(existing == entry_id for existing, _ in entries):
                rows[entry_id] = (consumer, rows[entry_id][1] + 1)
                known.add(consumer)
            else:
                del rows[entry_id]  # the entry is gone: XCLAIM drops its row
    pending = tuple((entry_id, holder, count) for entry_id, (holder, count) in sorted(rows.items()))
    return name, last_delivered, pending, tuple(sorted(known))
