"""The arguments that name a database (SELECT, MOVE, SWAPDB, COPY ... DB), parsed once.

Every layer that answers these commands -- one keyspace (`keys.copy_command`, also what a log
replays), the embedded store (`store/database_commands.py`) and the server's verbs
(`kevy_server/database_commands.py`, `connection_commands.py`) -- reads them here, so all
give Redis 7.0's errors in Redis's order:

- a database index is read as Redis's `getIntFromObjectOrReply` reads it, then checked as
  `selectDb` checks it (`database_index`): not an integer -> NOT_INTEGER; outside the C
  `int` range -> INT_RANGE; outside 0..databases-1 -> DB_OUT_OF_RANGE. SWAPDB passes its own
  text ("ERR invalid first DB index"), which Redis gives for the first two cases;
- COPY's options (`copyCommand`), left to right: `REPLACE`; `DB` with a following argument,
  an index checked at once as above; anything else, or a `DB` with nothing after it, is a
  syntax error. So `COPY a b DB 99 FOO` is out of range and `COPY a b FOO DB 99` a syntax
  error, as in Redis. The same-object check (same database, same key) needs to know which
  database runs the command, so it is the caller's: `SAME_OBJECT` is its text.

Errors are raised as this layer's `CommandError` (`commands.context`), as every command
handler's are.
"""

from __future__ import annotations

import attrs

from kevy_persist.commands.context import NOT_INTEGER, SYNTAX, CommandError
from kevy_persist.commands.numbers import parse_int

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
INT_RANGE = f"ERR value is out of range, value must between {INT_MIN} and {INT_MAX}"
DB_OUT_OF_RANGE = "ERR DB index is out of range"
SAME_OBJECT = "ERR source and destination objects are the same"


def database_index(text: bytes, database_count: int, message: str | None = None) -> int:
    """The database `text` names; `message` replaces the two integer errors (SWAPDB's)."""
    value = parse_int(text)
    if value is None:
        raise CommandError(message or NOT_INTEGER)
    if not INT_MIN <= value <= INT_MAX:
        raise CommandError(message or INT_RANGE)
    if not 0 <= value < database_count:
        raise CommandError(DB_OUT_OF_RANGE)
    return value


@attrs.frozen
class CopyOptions:
    database: int | None  # the DB option's index; None when COPY names none
    replace: bool


def parse_copy_options(argv: list[bytes], database_count: int) -> CopyOptions:
    """The options of `argv` (COPY source destination ...), checked as the module says."""
    database: int | None = None
    replace = False
    index = 3
    while index < len(argv):
        option = argv[index].upper()
        if option == b"REPLACE":
            replace = True
        elif option == b"DB" and index + 1 < len(argv):
            database = database_index(argv[index + 1], database_count)
            index += 1
        else:
            raise CommandError(SYNTAX)
        index += 1
    return CopyOptions(database, replace)


def without_database(argv: list[bytes]) -> list[bytes]:
    """COPY's argv without its DB option: what one database's shards run (and log), once the
    caller has decided the copy stays in its own database. `argv` parsed already."""
    kept = list(argv[:3])
    index = 3
    while index < len(argv):
        if argv[index].upper() == b"DB":
            index += 2
            continue
        kept.append(argv[index])
        index += 1
    return kept
