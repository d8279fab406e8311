"""Sample requests for every command, built from Redis 7.0's own argument docs (not a test
module).

`sample_requests(name)` reads the command's COMMAND DOCS argument tree (`command_data`) and
builds requests that follow it: the shortest one (required arguments only, one of each
`multiple`, the first branch of each `oneof`), the longest one (every optional argument,
two of each `multiple`, the last branch of each `oneof`), and one per `oneof` branch of the
top level. Keys are distinct names (`{t}k1`, `{t}k2`... with one hash tag, so they share a
slot), strings `v`, integers and counts `1`, doubles `1.5`, patterns `*`, times a fixed unix
time; a `numkeys` counts the keys that follow it. The requests need not succeed when run; they are what COMMAND GETKEYS and the key
finders are asked about.
"""

from __future__ import annotations

from typing import Any

from kevy_server import command_data

_VALUES = {b"string": b"v", b"integer": b"1", b"double": b"1.5", b"pattern": b"*", b"unix-time": b"1700000000"}


class _Keys:
    def __init__(self) -> None:
        self.count = 0

    def next(self) -> bytes:
        self.count += 1
        return b"{t}k%d" % self.count


def _fields(argument: list[Any]) -> dict[bytes, Any]:
    return dict(zip(argument[0::2], argument[1::2]))


def _render(argument: list[Any], keys: _Keys, longest: bool, branch: int | None = None) -> list[bytes]:
    fields = _fields(argument)
    kind = fields[b"type"]
    flags = {str(flag) for flag in fields.get(b"flags", [])}
    if "optional" in flags and not longest:
        return []
    repeats = 2 if longest and ("multiple" in flags or "multiple_token" in flags) else 1
    out: list[bytes] = []
    for repeat in range(repeats):
        if fields.get(b"token") is not None and (repeat == 0 or "multiple_token" in flags):
            out.append(fields[b"token"])
        if kind == b"key":
            out.append(keys.next())
        elif kind == b"pure-token":
            pass
        elif kind == b"oneof":
            branches = fields[b"arguments"]
            chosen = branches[branch if branch is not None else (-1 if longest else 0)]
            out += _render(chosen, keys, longest)
        elif kind == b"block":
            for child in fields[b"arguments"]:
                out += _render(child, keys, longest)
        elif fields.get(b"name") == b"numkeys":
            out.append(b"2" if longest else b"1")  # it counts the `multiple` keys that follow
        else:
            out.append(_VALUES[kind])
    return out


def _arguments(name: str) -> list[list[Any]]:
    data = command_data.entry(name)
    docs = _fields(list(data.docs))
    return docs.get(b"arguments", [])


def sample_requests(name: str) -> list[list[bytes]]:
    """Requests for `name` (a command or `container|sub`), the command words included."""
    words = [word.encode().upper() for word in name.split("|")]
    arguments = _arguments(name)
    requests = []
    for longest in (False, True):
        keys = _Keys()
        requests.append(words + [part for argument in arguments for part in _render(argument, keys, longest)])
    for position, argument in enumerate(arguments):
        fields = _fields(argument)
        if fields[b"type"] != b"oneof":
            continue
        for branch in range(len(fields[b"arguments"])):
            keys = _Keys()
            request = list(words)
            for other_position, other in enumerate(arguments):
                chosen = branch if other_position == position else None
                if other_position == position:
                    request += _render_required(other, keys, chosen)
                else:
                    request += _render(other, keys, False)
            requests.append(request)
    unique = []
    for request in requests:
        if request not in unique:
            unique.append(request)
    return unique


def _render_required(argument: list[Any], keys: _Keys, branch: int | None) -> list[bytes]:
    """An optional top-level oneof included, with the given branch."""
    fields = _fields(argument)
    flags = [flag for flag in fields.get(b"flags", []) if str(flag) != "optional"]
    forced = []
    for index in range(0, len(argument), 2):
        if argument[index] == b"flags":
            forced += [b"flags", flags]
        else:
            forced += [argument[index], argument[index + 1]]
    return _render(forced, keys, False, branch)
