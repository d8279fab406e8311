"""`with store.transaction() as tx:` -- a block of commands that applies entirely or not at all.

Queued commands run when the block exits without an exception, under the lock of the one
shard that owns every key they name (a transaction spanning shards is refused with CROSSSLOT,
as Redis Cluster refuses it). Two guarantees:

- In memory: if any command answers with an error, every key the block touched is restored
  and nothing is logged; `TransactionAbortedError` carries the error.
- Across a crash: the block's records are one append bracketed by begin/commit markers
  (`transaction_log.py`); replay discards a block the crash cut, under every fsync policy.

`Store.execute_transaction(argvs, atomic=False)` is the form `MULTI/EXEC` uses: Redis's rule,
where a command failing at run time does not undo the others, with the same crash atomicity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import KevyError
from .store_api import TypedCommands

if TYPE_CHECKING:
    from .store import Store


class TransactionAbortedError(KevyError):
    """A command in the block failed; the block was not applied."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(f"transaction aborted at command {position}: {message}")
        self.position = position
        self.message = message


class Transaction(TypedCommands):
    def __init__(self, store: Store) -> None:
        self._store = store
        self._queued: list[list[bytes]] = []
        self.results: list[Any] | None = None

    def execute(self, *arguments: Any) -> None:
        """Queue a command; its reply is in `results` after the block."""
        from .store import encode_argument

        assert self.results is None, "the transaction already ran"
        self._queued.append([encode_argument(argument) for argument in arguments])

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exception_type: object, *exc_info: object) -> None:
        if exception_type is None:
            self.commit()

    def commit(self) -> list[Any]:
        from .commands import ErrorReply
        from .store import CommandError

        replies = self._store.execute_transaction(self._queued, atomic=True)
        if isinstance(replies, ErrorReply):
            raise CommandError(str(replies))
        for position, reply in enumerate(replies):
            if isinstance(reply, ErrorReply):
                raise TransactionAbortedError(position, str(reply))
        self.results = replies
        return replies
