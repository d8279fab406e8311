"""kevy 1.23's own data dirs route every logged key to the shard whose log holds it.

Method: each fixture's `aof-{i}.aof` (KEVYAOF1 + RESP multibulk frames) is split into
argvs by a tiny local splitter (independent of the project's RESP codec, so a bug there
cannot hide one here); every key a frame names must route to shard i under the layout
`read_layout` finds for the dir. For the AOF-only fixture, every key of the expected
content must also appear in the log of the shard it routes to.
"""

from __future__ import annotations

import json
import pathlib

import pytest
from fixture_paths import FIXTURES_DIR

from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.layout.meta import read_layout
from kevy_persist.layout.routing import Routing, key_slot, router_for, slot_range_for_shard

FIXTURES = FIXTURES_DIR
FIXTURE_NAMES = ["n1-kevyhash", "n2-aof-only", "n3-kevyhash", "n4-slots"]
pytestmark = pytest.mark.skipif(not FIXTURES.exists(), reason="kevy 1.23 fixtures absent")

LOG_MAGIC = b"KEVYAOF1\n"
# Verbs whose every argument after the verb is a key; the rest name one key, argv[1].
ALL_KEYS_VERBS = {b"DEL", b"UNLINK"}


def split_frames(data: bytes) -> list[list[bytes]]:
    """RESP multibulk frames of a whole, untorn KEVYAOF1 log (asserts on anything else)."""
    assert data.startswith(LOG_MAGIC)
    position = len(LOG_MAGIC)
    frames = []
    while position < len(data):
        assert data[position : position + 1] == b"*", position
        line_end = data.index(b"\r\n", position)
        count = int(data[position + 1 : line_end])
        position = line_end + 2
        argv = []
        for _ in range(count):
            assert data[position : position + 1] == b"$", position
            line_end = data.index(b"\r\n", position)
            length = int(data[position + 1 : line_end])
            position = line_end + 2
            argv.append(data[position : position + length])
            assert data[position + length : position + length + 2] == b"\r\n"
            position += length + 2
        frames.append(argv)
    return frames


def logged_keys(argv: list[bytes]) -> list[bytes]:
    if argv[0].upper() in ALL_KEYS_VERBS:
        return argv[1:]
    return argv[1:2]


def keys_by_log(directory: pathlib.Path, shard_count: int) -> dict[int, set[bytes]]:
    result = {}
    for index in range(shard_count):
        frames = split_frames((directory / f"aof-{index}.aof").read_bytes())
        result[index] = {key for argv in frames for key in logged_keys(argv)}
    return result


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_logged_key_routes_to_its_logs_shard(name: str) -> None:
    """Under the dir's recorded layout, each key in aof-{i}.aof routes to shard i."""
    directory = FIXTURES / name
    layout = read_layout(OsFileSystem(), str(directory)).layout
    assert layout is not None
    router = router_for(layout.shard_count, layout.routing)
    checked = 0
    for index, keys in keys_by_log(directory, layout.shard_count).items():
        for key in keys:
            assert router.shard_for_key(key) == index, (name, key, index)
            if layout.routing is Routing.SLOTS:
                assert key_slot(key) in slot_range_for_shard(index, layout.shard_count)
            checked += 1
    assert checked >= 40, f"{name}: only {checked} keys seen; the splitter found too little"


@pytest.mark.parametrize("name", ["n3-kevyhash", "n4-slots"])
def test_the_other_routing_would_misplace_keys(name: str) -> None:
    """The check has teeth: under the *other* routing, some logged key lands elsewhere."""
    directory = FIXTURES / name
    layout = read_layout(OsFileSystem(), str(directory)).layout
    assert layout is not None
    other = Routing.SLOTS if layout.routing is Routing.KEVYHASH else Routing.KEVYHASH
    router = router_for(layout.shard_count, other)
    misplaced = [
        key
        for index, keys in keys_by_log(directory, layout.shard_count).items()
        for key in keys
        if router.shard_for_key(key) != index
    ]
    assert misplaced


def test_aof_only_fixture_holds_every_expected_key_in_its_routed_shards_log() -> None:
    """n2-aof-only: every surviving key was written to the log of the shard it routes to."""
    directory = FIXTURES / "n2-aof-only"
    expected = json.loads((FIXTURES / "n2-aof-only.expected.json").read_text())
    layout = read_layout(OsFileSystem(), str(directory)).layout
    assert layout is not None
    assert layout.shard_count == expected["threads"]
    assert layout.routing.value == expected["routing"]
    router = router_for(layout.shard_count, layout.routing)
    logs = keys_by_log(directory, layout.shard_count)
    shards_used = set()
    for key_hex in expected["keys"]:
        key = bytes.fromhex(key_hex)
        index = router.shard_for_key(key)
        assert key in logs[index], key
        shards_used.add(index)
    assert shards_used == set(range(layout.shard_count))
