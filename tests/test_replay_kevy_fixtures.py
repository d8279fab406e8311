"""Replaying kevy 1.23's own logs rebuilds exactly the content kevy recorded.

Method: the AOF-only fixture (`n2-aof-only`, written by the Rust server, no snapshots) is
read record by record with the KEVYAOF1 framing, every argv is applied with `replay` into one
keyspace per shard, and the union must equal `n2-aof-only.expected.json` key for key: type,
value (list order, hash/set content, zset members with the scores' Python repr) and whether
the key carries a deadline. Every verb the fixtures' logs use must be in the command table.
"""

from __future__ import annotations

import json

from fixture_paths import FIXTURES_DIR

from kevy_persist.commands import COMMAND_TABLE, replay
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import ZSet
from kevy_persist.formats.aof_format import detect_format, read_record

REPLAY_AT_MS = 1_800_000_000_000


def read_log(path) -> list[list[bytes]]:
    data = path.read_bytes()
    format_version, position = detect_format(data[:16])
    argvs = []
    while position < len(data):
        argv, position = read_record(format_version, data, position)
        argvs.append(argv)
    return argvs


def logical(keyspace: Keyspace) -> dict:
    content = {}
    for key, kind, value, deadline_ms in keyspace.iter_entries():
        if isinstance(value, bytes):
            shown = value.hex()
        elif isinstance(value, dict):
            shown = {field.hex(): item.hex() for field, item in value.items()}
        elif isinstance(value, set):
            shown = sorted(member.hex() for member in value)
        elif isinstance(value, ZSet):
            shown = [[member.hex(), repr(score)] for member, score in value.items()]
        else:
            shown = [item.hex() for item in value]
        content[key.hex()] = {"type": kind.type_name, "value": shown, "has_ttl": deadline_ms is not None}
    return content


def test_every_verb_in_the_fixture_logs_is_replayable() -> None:
    """Method: collect the verbs of every fixture log; each must be in the command table."""
    verbs = {argv[0].lower() for path in FIXTURES_DIR.glob("*/aof-*.aof") for argv in read_log(path)}
    assert verbs, "no fixture logs found"
    assert sorted(verb for verb in verbs if verb not in COMMAND_TABLE) == []


def test_aof_only_fixture_replays_to_its_expected_content() -> None:
    """Method: replay both shard logs of n2-aof-only and compare with the expected JSON."""
    expected = json.loads((FIXTURES_DIR / "n2-aof-only.expected.json").read_text())["keys"]
    for entry in expected.values():
        if entry["type"] == "set":
            entry["value"] = sorted(entry["value"])
    content = {}
    for path in sorted((FIXTURES_DIR / "n2-aof-only").glob("aof-*.aof")):
        keyspace = Keyspace()
        for argv in read_log(path):
            # kevy 1.23 logs some commands that failed (INCRBY on a non-number); replay
            # refuses them again with no effect, as Redis does while loading.
            replay(keyspace, argv, REPLAY_AT_MS)
        content.update(logical(keyspace))
    assert content == expected
