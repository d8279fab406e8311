"""Running one session against redis-server 7.0 and kevy-server, for the admin-verb tests
(not a test module): `compare` resets the reference server's settings the sessions touch,
runs the steps on both (`server_differential.run_session`) and asserts equal transcripts;
`lines` turns a script (one request per line) into steps.
"""

from __future__ import annotations

from typing import Any

from redis_oracle import RespClient
from server_differential import Step, assert_same_transcripts, run_session
from server_support import running_server

# Settings a session may change on the shared reference server, with Redis 7.0's defaults.
REFERENCE_DEFAULTS = [
    (b"notify-keyspace-events", b""),
    (b"client-output-buffer-limit", b"pubsub 33554432 8388608 60"),
    (b"slowlog-log-slower-than", b"10000"),
    (b"slowlog-max-len", b"128"),
    (b"timeout", b"0"),
    (b"latency-monitor-threshold", b"0"),
]


def reset_reference(port: int) -> None:
    client = RespClient(port)
    client.call([b"FLUSHALL"])
    for name, value in REFERENCE_DEFAULTS:
        client.call([b"CONFIG", b"SET", name, value])
    client.call([b"SLOWLOG", b"RESET"])
    client.call([b"CLIENT", b"UNPAUSE"])
    users = client.call([b"ACL", b"USERS"])
    for user in users if isinstance(users, list) else []:
        if user != b"default":
            client.call([b"ACL", b"DELUSER", user])
    # Not "reset": it would add sanitize-payload, which the default user does not start with.
    client.call([b"ACL", b"SETUSER", b"default", b"on", b"nopass", b"clearselectors", b"allkeys", b"allchannels", b"+@all"])
    client.close()


def compare(redis_port: int, data_dir: Any, steps: list[Step], normalize_reply: Any = None, **options: Any) -> None:
    """`normalize_reply`, when given, is applied to every reply of both transcripts first
    (to blank what legitimately differs, such as times)."""
    reset_reference(redis_port)
    theirs = run_session(redis_port, steps)
    with running_server(data_dir, **options) as server:
        ours = run_session(server.port, steps)
    if normalize_reply is not None:
        theirs = [(name, [normalize_reply(reply) for reply in replies]) for name, replies in theirs]
        ours = [(name, [normalize_reply(reply) for reply in replies]) for name, replies in ours]
    assert_same_transcripts(ours, theirs)


def lines(connection: str, text: str, replies_each: int = 1) -> list[Step]:
    """One step per line of `text` on `connection`, each read for `replies_each` replies."""
    return [(connection, line.strip().encode() + b"\r\n", replies_each) for line in text.strip().splitlines()]
