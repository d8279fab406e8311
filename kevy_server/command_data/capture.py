"""Capture Redis's command metadata from a running redis-server, as the JSON kevy serves.

    python -m kevy_server.command_data.capture --port 6379 [--output PATH]

What it records: for every command of the server (subcommands included, inside their
container), the RESP3 reply of `COMMAND INFO name` and of `COMMAND DOCS name` (and, for a
container with a HELP subcommand, the lines `name HELP` answers), with the types kept -- maps, sets, simple strings, arrays, bulk strings, integers -- and the order
of every element (subcommands sorted by name: Redis lists them in a hash order seeded
per process), so that kevy re-encodes them in either protocol exactly as that
redis-server would. The file (`redis-7.0.15.json` next to this module) is data, Redis's
own description of its commands (Redis is BSD-3-Clause licensed); `kevy_server.command_data`
reads it. Re-run this against redis-server 7.0 to refresh it; a test compares the file with
the running reference server when one is installed.

Typed JSON: a bulk string is a JSON string (UTF-8; Redis's metadata is ASCII), an integer a
number, null null, an array a list; the other RESP3 types are one-key objects: `{"+": text}`
simple string, `{"%": [k1, v1, k2, v2...]}` map, `{"~": [...]}` set, `{"#": bool}` boolean,
`{",": text}` double.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from typing import Any

DEFAULT_OUTPUT = os.path.join(os.path.dirname(__file__), "redis-7.0.15.json")


class Resp3Reader:
    """A blocking RESP3 connection that parses replies into typed JSON values, in order."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=30)
        self.buffer = b""

    def call(self, *argv: bytes) -> Any:
        frame = b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%b\r\n" % (len(item), item) for item in argv)
        self.sock.sendall(frame)
        return self.reply()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exact(self, size: int) -> bytes:
        while len(self.buffer) < size + 2:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size + 2 :]
        return data

    def reply(self) -> Any:
        line = self._line()
        marker, rest = line[:1], line[1:]
        if marker == b"$":
            return None if int(rest) < 0 else self._exact(int(rest)).decode()
        if marker == b":":
            return int(rest)
        if marker == b"+":
            return {"+": rest.decode()}
        if marker == b"-":
            raise RuntimeError(rest.decode())
        if marker == b"*":
            return [self.reply() for _ in range(int(rest))]
        if marker == b"%":
            return {"%": [self.reply() for _ in range(2 * int(rest))]}
        if marker == b"~":
            return {"~": [self.reply() for _ in range(int(rest))]}
        if marker == b"_":
            return None
        if marker == b"#":
            return {"#": rest == b"t"}
        if marker == b",":
            return {",": rest.decode()}
        raise RuntimeError(f"unexpected RESP3 line {line!r}")


def capture(port: int) -> dict[str, Any]:
    connection = Resp3Reader(port)
    hello = connection.call(b"HELLO", b"3")
    fields = hello["%"]
    version = fields[fields.index("version") + 1]
    names = sorted(connection.call(b"COMMAND", b"LIST"))
    commands: dict[str, Any] = {}
    for name in names:
        if "|" in name:
            continue  # subcommands are inside their container's entries
        (info,) = connection.call(b"COMMAND", b"INFO", name.encode())
        docs = connection.call(b"COMMAND", b"DOCS", name.encode())["%"]
        assert docs[0] == name, f"COMMAND DOCS {name} answered {docs[0]!r}"
        _sort_subcommands(info, docs[1])
        commands[name] = {"info": info, "docs": docs[1]}
        subcommand_names = [sub[0] for sub in info[9]] if isinstance(info[9], list) else []
        if f"{name}|help" in subcommand_names:
            try:
                commands[name]["help"] = [line["+"] for line in connection.call(name.encode(), b"HELP")]
            except RuntimeError:
                pass  # CLUSTER HELP on a server without cluster support answers an error
    return {"redis_version": version, "commands": commands}


def _sort_subcommands(info: list[Any], docs: dict[str, Any]) -> None:
    """Redis lists subcommands in its hash table's order, which a random seed picks per
    process; sorted by name, the data is the same from every run."""
    if isinstance(info[9], list):
        info[9].sort(key=lambda sub: sub[0])
    fields = docs["%"]
    for index in range(0, len(fields), 2):
        if fields[index] == "subcommands":
            items = fields[index + 1]["%"]
            pairs = sorted(zip(items[0::2], items[1::2]))
            fields[index + 1]["%"] = [item for pair in pairs for item in pair]


def write(data: dict[str, Any], path: str) -> None:
    """One command per line, so a refresh shows as a readable diff."""
    lines = ["{", f'"redis_version": {json.dumps(data["redis_version"])},', '"commands": {']
    entries = sorted(data["commands"].items())
    for position, (name, entry) in enumerate(entries):
        comma = "," if position < len(entries) - 1 else ""
        lines.append(f"{json.dumps(name)}: {json.dumps(entry, separators=(',', ':'))}{comma}")
    lines += ["}", "}"]
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    arguments = parser.parse_args(argv)
    data = capture(arguments.port)
    write(data, arguments.output)
    print(f"{len(data['commands'])} commands of redis {data['redis_version']} written to {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
