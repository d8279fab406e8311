"""`with store.transaction() as tx:` -- a block of commands that applies entirely or not at all.

    with store.transaction() as tx:
        tx.decr("stock:42")
        tx.lpush("orders", "42")
    tx.results  # [replies...], shaped like the typed methods' return values

Queued commands run when the block exits without an exception (an exception discards the
block; nothing ran), under the lock of the one shard that owns every key they name. A block
whose keys live on different shards is refused with Redis Cluster's `CROSSSLOT` error
(`CommandError`), and so are store-wide commands (FLUSHALL, KEYS, DBSIZE, SCAN...) in a block
on a store with several shards: an atomic write across shards would need a cross-log commit
that the log format cannot express. Guarantees:

- In memory: if any command answers with an error (WRONGTYPE, not an integer...), every key
  the block touched is restored and nothing is logged; `TransactionAbortedError` says which
  command failed and why. An unknown command or a wrong argument count refuses the whole block
  before anything runs (`CommandError` with Redis's EXECABORT text).
- Other threads never see part of a block: it runs under its shard's lock.
- Across a crash, under every fsync policy: the block's records are one append bracketed by
  begin/commit markers (`transaction_log.py`); replay applies a block only when its commit
  marker is in the log, so a crash keeps all of it or none of it. When `commit()` returns
  under `appendfsync always`, the whole block is durable.

`Store.execute_transaction(argvs, atomic=False)` is the form `MULTI/EXEC` uses: Redis's rule,
where a command failing at run time does not undo the others, with the same crash atomicity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.errors import CommandError, KevyError
from kevy_persist.store.typed_api import Converter, TypedCommands, encode_argument

# `Store.execute_transaction`: (argvs, atomic) -> the replies, or one ErrorReply.
BlockExecutor = Callable[[list[list[bytes]], bool], Any]


class TransactionAbortedError(KevyError):
    """Command `position` of the block failed with `message`; nothing of the block applied."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(f"transaction aborted at command {position}: {message}")
        self.position = position
        self.message = message


def _raw(reply: Any) -> Any:
    return reply


class Transaction(TypedCommands):
    """Queues commands (typed methods or `execute`); `commit()` runs them as one block."""

    def __init__(self, execute_block: BlockExecutor) -> None:
        self._execute_block = execute_block
        self._queued: list[list[bytes]] = []
        self._converters: list[Converter] = []
        self.results: list[Any] | None = None
        self._finished = False

    def _call(self, convert: Converter, *arguments: Any) -> None:
        if self._finished:
            raise KevyError("the transaction already ran or was discarded; start a new one")
        self._queued.append([encode_argument(argument) for argument in arguments])
        self._converters.append(convert)

    def execute(self, *arguments: Any) -> None:
        """Queue any command; its raw reply is in `results` after the block."""
        self._call(_raw, *arguments)

    def __len__(self) -> int:
        return len(self._queued)

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exception_type: object, *exc_info: object) -> None:
        if exception_type is None:
            self.commit()
        else:
            self.discard()

    def discard(self) -> None:
        """Drop the queued commands without running them."""
        self._finished = True
        self._queued = []
        self._converters = []

    def commit(self) -> list[Any]:
        """Run the block; the shaped replies (also in `results`). Raises as the docstring says."""
        if self._finished:
            raise KevyError("the transaction already ran or was discarded; start a new one")
        self._finished = True
        replies = self._execute_block(self._queued, True)
        if isinstance(replies, ErrorReply):
            raise CommandError(str(replies))
        for position, reply in enumerate(replies):
            if isinstance(reply, ErrorReply):
                raise TransactionAbortedError(position, str(reply))
        assert len(replies) == len(self._converters)
        self.results = [convert(reply) for convert, reply in zip(self._converters, replies)]
        return self.results
