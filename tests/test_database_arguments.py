"""The one parser of database arguments (`kevy_persist/commands/database_arguments.py`).

Method: the parser's answers for each error class in Redis 7.0's order (the texts and the
order are also checked against a real redis-server by tests/test_differential_databases.py,
through the server), then the three callers -- one keyspace's COPY (what a log replays), the
embedded store's COPY ... DB and SELECT -- giving the same errors for the same argv.
"""

from __future__ import annotations

import random

import pytest

from kevy_persist import Store, StoreConfig
from kevy_persist.commands import CommandContext, ErrorReply, execute
from kevy_persist.commands.context import CommandError
from kevy_persist.commands.database_arguments import (
    DB_OUT_OF_RANGE,
    INT_RANGE,
    SAME_OBJECT,
    CopyOptions,
    database_index,
    parse_copy_options,
    without_database,
)
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.errors import CommandError as StoreCommandError

NOT_INTEGER = "ERR value is not an integer or out of range"
SYNTAX = "ERR syntax error"


def _argv(line: str) -> list[bytes]:
    return [part.encode() for part in line.split()]


@pytest.mark.parametrize(("text", "expected"), [
    ("0", 0), ("15", 15), ("16", DB_OUT_OF_RANGE), ("-1", DB_OUT_OF_RANGE), ("x", NOT_INTEGER),
    ("1.5", NOT_INTEGER), ("2147483648", INT_RANGE), ("-2147483649", INT_RANGE),
    ("99999999999999999999", NOT_INTEGER),
])
def test_a_database_index_is_read_as_redis_reads_it(text, expected):
    if isinstance(expected, int):
        assert database_index(text.encode(), 16) == expected
        return
    with pytest.raises(CommandError) as raised:
        database_index(text.encode(), 16)
    assert raised.value.message == expected
    with pytest.raises(CommandError) as raised:  # SWAPDB's own text covers the integer errors
        database_index(text.encode(), 16, "ERR invalid first DB index")
    assert raised.value.message == (DB_OUT_OF_RANGE if expected == DB_OUT_OF_RANGE else "ERR invalid first DB index")


@pytest.mark.parametrize(("line", "expected"), [
    ("COPY a b", CopyOptions(None, False)),
    ("COPY a b replace DB 3", CopyOptions(3, True)),
    ("COPY a b DB 3 DB 0", CopyOptions(0, False)),
    ("COPY a b DB 16 FOO", DB_OUT_OF_RANGE),  # the index is checked where it is read
    ("COPY a b FOO DB 16", SYNTAX),
    ("COPY a b DB", SYNTAX),
    ("COPY a b DB y REPLACE", NOT_INTEGER),
    ("COPY a b DB 4294967296", INT_RANGE),
])
def test_copy_options_are_checked_left_to_right(line, expected):
    if isinstance(expected, CopyOptions):
        assert parse_copy_options(_argv(line), 16) == expected
        return
    with pytest.raises(CommandError) as raised:
        parse_copy_options(_argv(line), 16)
    assert raised.value.message == expected


def test_without_database_keeps_every_other_option():
    assert without_database(_argv("COPY a b DB 3 REPLACE DB 4")) == _argv("COPY a b REPLACE")


def test_one_keyspace_copy_accepts_only_its_own_database():
    """A keyspace is one database: `DB 0` (a log written before kevy had databases) copies,
    any other index is out of range, and the option errors are the parser's."""
    keyspace = Keyspace()
    context = CommandContext(0, random.Random(0))
    execute(keyspace, _argv("SET a v"), context)
    assert execute(keyspace, _argv("COPY a b DB 0"), context).reply == 1
    for line, message in [("COPY a c DB 1", DB_OUT_OF_RANGE), ("COPY a c FOO DB 1", SYNTAX),
                          ("COPY a a DB 0", SAME_OBJECT), ("COPY a c DB 2147483648", INT_RANGE)]:
        reply = execute(keyspace, _argv(line), context).reply
        assert reply == ErrorReply(message), line


def test_the_store_gives_the_parsers_errors(tmp_path):
    with Store.open(StoreConfig(data_dir=str(tmp_path), ticker="manual")) as store:
        store.set("a", "v")
        for arguments, message in [(("COPY", "a", "b", "DB", "2147483648"), INT_RANGE),
                                   (("COPY", "a", "b", "FOO", "DB", "99"), SYNTAX),
                                   (("COPY", "a", "b", "DB", "99", "FOO"), DB_OUT_OF_RANGE),
                                   (("COPY", "a", "a", "DB", "0"), SAME_OBJECT),
                                   (("SELECT", "4294967296"), INT_RANGE),
                                   (("MOVE", "a", "-1"), DB_OUT_OF_RANGE),
                                   (("SWAPDB", "x", "1"), "ERR invalid first DB index")]:
            with pytest.raises(StoreCommandError) as raised:
                store.execute(*arguments)
            assert raised.value.message == message, arguments
        assert store.execute("COPY", "a", "b", "DB", "3") == 1
        assert store.database(3).get("b") == b"v"
