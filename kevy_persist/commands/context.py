"""What a command runs with (time, randomness) and what it produces (reply, log argvs).

Commands are pure functions of (keyspace, argv, context): the current time and a random
source come in through `CommandContext`, so the store, the simulator and the tests drive them
deterministically. A command raises `CommandError` for a Redis error reply; `execute` turns it
into an `ErrorReply` with nothing logged.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

from kevy_persist.commands.replies import ErrorReply
from kevy_persist.data.keyspace import NEVER_EXPIRES_MS


class RandomSource(Protocol):
    """The randomness commands need (SPOP, SRANDMEMBER...); `random.Random` fits."""

    def randrange(self, n: int, /) -> int: ...


class FirstChoice:
    """A RandomSource that always picks 0: used by replay, where no choice is random."""

    def randrange(self, n: int, /) -> int:
        assert n > 0
        return 0


class Blocking(enum.Enum):
    """Whether a command with a BLOCK option may ask its caller to park the client.

    NEVER: answer at once as if the timeout passed (MULTI, replay, the embedded store, and
    any caller that cannot park a client; Redis does the same for CLIENT_DENY_BLOCKING).
    ALLOWED: an event loop that can park the client; the command returns a wait object
    (e.g. `stream_reads.StreamWait`) instead of a reply when there is nothing to serve.
    RETRY: that loop re-running a parked client's command after one of its keys changed;
    the command answers what Redis answers to a client it unblocks, or waits again.
    """

    NEVER = 0
    ALLOWED = 1
    RETRY = 2


class CommandContext:
    """The current unix time in ms and the random source; `loading` marks log replay.

    While loading, nothing expires (like Redis loading its AOF): `lookup_now_ms` is then
    far in the past, while `now_ms` still turns relative TTLs into deadlines. `blocking`
    says whether a BLOCK option may park the client (see `Blocking`). A plain slotted
    class, not attrs: the store builds one per command.
    """

    __slots__ = ("now_ms", "random", "loading", "lookup_now_ms", "blocking")

    def __init__(
        self, now_ms: int, random: RandomSource, loading: bool = False, blocking: Blocking = Blocking.NEVER
    ) -> None:
        self.now_ms = now_ms
        self.random = random
        self.loading = loading
        self.lookup_now_ms = NEVER_EXPIRES_MS if loading else now_ms
        self.blocking = Blocking.NEVER if loading else blocking

    def __repr__(self) -> str:
        return f"CommandContext(now_ms={self.now_ms}, loading={self.loading})"


class CommandOutcome:
    """A reply plus the argvs to append to the log (empty when nothing must be logged).

    A plain slotted class rather than attrs: one is built per command on the hot path.
    """

    __slots__ = ("reply", "log")

    def __init__(self, reply: Any, log: tuple[list[bytes], ...] = ()) -> None:
        self.reply = reply
        self.log = log

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CommandOutcome):
            return NotImplemented
        return self.reply == other.reply and self.log == other.log

    def __repr__(self) -> str:
        return f"CommandOutcome(reply={self.reply!r}, log={self.log!r})"


class CommandError(Exception):
    """Raised by a command for an error reply; `message` is the full Redis text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def reply(self) -> ErrorReply:
        return ErrorReply(self.message)


WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
NO_SUCH_KEY = "ERR no such key"
INDEX_OUT_OF_RANGE = "ERR index out of range"
OVERFLOW = "ERR increment or decrement would overflow"


def wrong_arity(name: bytes) -> str:
    return f"ERR wrong number of arguments for '{name.decode('utf-8', 'replace').lower()}' command"
