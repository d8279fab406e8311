"""COMMAND on kevy-server answers as Redis 7.0 does, for every command kevy implements.

Method: one kevy-server and the reference redis-server 7.0 (`redis` marker), each asked the
same questions over a raw connection in RESP2 and in RESP3, replies parsed with their RESP
types kept (`WireClient`):
- COMMAND INFO and COMMAND DOCS of every implemented command and subcommand (COMMAND LIST's
  names): equal, once Redis's subcommand lists are cut to the subcommands kevy implements;
- COMMAND GETKEYS and GETKEYSANDFLAGS of sample requests built from each command's own
  argument docs (`command_samples`: shortest, longest, one per branch): equal replies,
  errors included;
- kevy's own key finder (`command_keys`, which routes requests to shards) names the same
  keys as Redis's GETKEYS for those requests, and the store's arity and (first, last,
  step) equal Redis's for every store command;
- COMMAND COUNT / LIST / LIST FILTERBY / HELP and the errors of the verb.
The captured data file itself is compared with the running reference server (a refresh of
`kevy_server/command_data/redis-7.0.15.json` is due when they differ).
"""

from __future__ import annotations

import json

import pytest
from command_samples import sample_requests
from redis_oracle import redis_port  # noqa: F401 -- fixture
from server_differential import WireClient
from server_support import running_server

from kevy_persist.commands import COMMAND_TABLE
from kevy_persist.commands.key_positions import command_keys
from kevy_server import command_data
from kevy_server.command_data import capture
from kevy_server.introspection import implemented_commands

pytestmark = [pytest.mark.redis, pytest.mark.timeout(300)]


def _frame(argv: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%b\r\n" % (len(item), item) for item in argv)


class Pair:
    """The same request to both servers."""

    def __init__(self, kevy_port: int, redis_port: int, protocol: int) -> None:
        self.ours, self.theirs = WireClient(kevy_port), WireClient(redis_port)
        for connection in (self.ours, self.theirs):
            connection.send(b"HELLO %d\r\n" % protocol)
            connection.reply()

    def ask(self, argv: list[bytes]) -> tuple:
        self.ours.send(_frame(argv))
        self.theirs.send(_frame(argv))
        return self.ours.reply(), self.theirs.reply()


@pytest.fixture(scope="module")
def kevy(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("introspection") / "data") as server:
        yield server


def _implemented_names(kevy_port: int) -> list[bytes]:
    connection = WireClient(kevy_port)
    connection.send(b"COMMAND LIST\r\n")
    return connection.reply()


def _cut_subcommands(reply, kept: set[bytes]):
    """A COMMAND INFO entry with only the subcommands kevy implements, sorted by name (Redis
    lists them in a hash order its random seed picks per process)."""
    if isinstance(reply, list) and len(reply) == 10 and isinstance(reply[9], list) and reply[9]:
        return [*reply[:9], sorted(sub for sub in reply[9] if sub[0] in kept)]
    return reply


def _cut_docs(reply, kept: set[bytes]):
    if isinstance(reply, tuple) and reply[0] == "map":
        items = list(reply[1])
    elif isinstance(reply, list):
        items = list(reply)
    else:
        return reply
    for index in range(0, len(items), 2):
        if items[index] == b"subcommands":
            inner = items[index + 1]
            pairs = inner[1] if isinstance(inner, tuple) else inner
            chosen = sorted((pairs[position], pairs[position + 1]) for position in range(0, len(pairs), 2)
                            if pairs[position] in kept)
            cut = [item for pair in chosen for item in pair]
            items[index + 1] = ("map", cut) if isinstance(inner, tuple) else cut
    return ("map", items) if isinstance(reply, tuple) else items


@pytest.mark.parametrize("protocol", [2, 3])
def test_command_info_and_docs_of_every_implemented_command_match_redis(kevy, redis_port, protocol) -> None:
    names = _implemented_names(kevy.port)
    kept = set(names)
    pair = Pair(kevy.port, redis_port, protocol)
    for name in names:
        ours, theirs = pair.ask([b"COMMAND", b"INFO", name])
        if name == b"client|setinfo":
            assert theirs in ([None], [("null",)]) and ours[0][0] == name  # Redis 7.2's: 7.0 does not know it
            continue
        without_setinfo = kept - {b"client|setinfo"}
        assert [_cut_subcommands(item, without_setinfo) for item in ours] == [
            _cut_subcommands(item, kept) for item in theirs
        ], name
        ours, theirs = pair.ask([b"COMMAND", b"DOCS", name])
        inner_theirs = theirs[1][1] if isinstance(theirs, tuple) else theirs[1]
        inner_ours = ours[1][1] if isinstance(ours, tuple) else ours[1]
        assert _cut_docs(inner_ours, without_setinfo) == _cut_docs(inner_theirs, kept), name


@pytest.mark.parametrize("protocol", [2, 3])
def test_getkeys_and_getkeysandflags_match_redis_on_sample_requests(kevy, redis_port, protocol) -> None:
    names = [name.decode() for name in _implemented_names(kevy.port)]
    pair = Pair(kevy.port, redis_port, protocol)
    asked = 0
    for name in names:
        if name == "client|setinfo":
            continue
        for request in sample_requests(name):
            for verb in (b"GETKEYS", b"GETKEYSANDFLAGS"):
                ours, theirs = pair.ask([b"COMMAND", verb, *request])
                assert ours == theirs, (verb, request)
                asked += 1
    assert asked > 900


def test_kevys_key_finder_names_the_keys_redis_names(redis_port) -> None:
    """What routes a request to its shard agrees with Redis's GETKEYS on every sample."""
    reference = WireClient(redis_port)
    checked = 0
    for name in implemented_commands():
        spec = COMMAND_TABLE.get(name.encode())
        if spec is None or name in ("sort", "sort_ro"):
            continue  # verbs route themselves; SORT's BY/GET patterns name keys by content
        for request in sample_requests(name):
            reference.send(_frame([b"COMMAND", b"GETKEYS", *request]))
            reply = reference.reply()
            redis_keys = reply if isinstance(reply, list) else []
            assert command_keys(request) == redis_keys, request
            checked += 1
    assert checked > 300


def test_store_arity_and_key_range_equal_redis_for_every_store_command() -> None:
    for name, spec in COMMAND_TABLE.items():
        data = command_data.entry(name.decode())
        assert data is not None, name
        assert spec.arity == data.info[1], name
        if not data.subcommands:  # containers: Redis keeps the keys on the subcommands
            assert (spec.first_key, spec.last_key, spec.key_step) == tuple(data.info[3:6]), name


COMMAND_SCRIPT = [
    [b"COMMAND", b"COUNT", b"x"], [b"COMMAND", b"NOSUCH"], [b"COMMAND", b"HELP"],
    [b"COMMAND", b"GETKEYS"], [b"COMMAND", b"GETKEYS", b"get"], [b"COMMAND", b"GETKEYS", b"nosuch", b"a"],
    [b"COMMAND", b"GETKEYS", b"set", b"a"], [b"COMMAND", b"GETKEYS", b"ping", b"x"],
    [b"COMMAND", b"GETKEYS", b"zunionstore", b"d", b"3", b"a", b"b"],
    [b"COMMAND", b"GETKEYS", b"zunionstore", b"d", b"x", b"a"],
    [b"COMMAND", b"GETKEYS", b"zunionstore", b"d", b"-1", b"a"],
    [b"COMMAND", b"GETKEYS", b"lmpop", b"0", b"LEFT"],
    [b"COMMAND", b"GETKEYS", b"xread", b"STREAMS", b"a", b"b", b"0", b"0"],
    [b"COMMAND", b"GETKEYS", b"xread", b"COUNT", b"2", b"STREAMS", b"a"],
    [b"COMMAND", b"GETKEYSANDFLAGS", b"sort", b"k", b"BY", b"w*", b"STORE", b"d"],
    [b"COMMAND", b"GETKEYSANDFLAGS", b"config", b"get", b"x"],
    [b"COMMAND", b"INFO", b"nosuch", b"get", b"client|list", b"CLIENT|nosuch"],
    [b"COMMAND", b"DOCS", b"nosuch", b"GET", b"client|list"],
    [b"COMMAND", b"LIST", b"FILTERBY", b"MODULE", b"x"], [b"COMMAND", b"LIST", b"FILTERBY", b"foo", b"x"],
    [b"COMMAND", b"LIST", b"FILTERBY", b"ACLCAT"], [b"COMMAND", b"LIST", b"x"],
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_command_subcommand_replies_and_errors_match_redis(kevy, redis_port, protocol) -> None:
    pair = Pair(kevy.port, redis_port, protocol)
    for request in COMMAND_SCRIPT:
        ours, theirs = pair.ask(request)
        assert ours == theirs, request


def test_count_and_filtered_lists_agree_with_redis_on_what_kevy_implements(kevy, redis_port) -> None:
    pair = Pair(kevy.port, redis_port, 2)
    ours, theirs = pair.ask([b"COMMAND", b"LIST"])
    assert set(ours) <= set(theirs) | {b"client|setinfo"}
    assert pair.ask([b"COMMAND", b"COUNT"])[0] == len([name for name in ours if b"|" not in name])
    for filters in ([b"ACLCAT", b"read"], [b"ACLCAT", b"dangerous"], [b"PATTERN", b"x*"], [b"PATTERN", b"CLIENT|*"]):
        ours, theirs = pair.ask([b"COMMAND", b"LIST", b"FILTERBY", *filters])
        implemented = set(pair.ask([b"COMMAND", b"LIST"])[0])
        assert set(ours) - {b"client|setinfo"} == set(theirs) & implemented, filters
    ours, theirs = pair.ask([b"COMMAND"])
    assert len(ours) == pair.ask([b"COMMAND", b"COUNT"])[0]


def test_the_captured_data_is_what_the_reference_server_says(redis_port) -> None:
    captured = capture.capture(redis_port)
    with open(command_data.DATA_PATH, encoding="utf-8") as handle:
        stored = json.load(handle)
    if captured["redis_version"] != stored["redis_version"]:
        pytest.skip(f"the reference server is {captured['redis_version']}, the data {stored['redis_version']}")
    assert captured == stored
