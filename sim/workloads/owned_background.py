"""Background jobs driven the way kevy-server's loop drives them: through the single-owner path
(`owned-background-always`, `-everysec`; `no` adds nothing the store's `-no` lacks).

What runs. The schedule of `store-background-*` (two shards, a write between every step of a
BGSAVE and of the BGREWRITEAOF queued behind it, `background_worker="inline"`), but every
operation goes as the server's loop sends it (`kevy_server/loop.py`, `persistence.py`):
- `CMD` / `MULTI`: `OwnedShards.execute_routed` (a block between `begin_block` and
  `end_block`), then one `write_pending` -- the turn's write -- and under `always` one
  `sync` per written shard before the write counts as acknowledged;
- `BGSAVE` / `BGREWRITEAOF`: `write_pending` first (the freeze must see the log's end), then
  `Store.bgsave(may_commit=False)` / `bgrewriteaof(may_commit=False)`;
- `TICK`: the clock moves 400 ms; under `everysec` the due shards are synced (the loop's fsync
  thread, here in line: a commit never overlaps it, as the server waits for it first); then
  `poll_background()` -- a commit when the job is ready, else `may_commit=False`.
Shutdown as the server's: `Store.shutdown()` (save=None) after the last write; the history
bookkeeping is `store-background`'s (`StoreBackgroundWorkload.run`), only `issuer` differs.

What must survive: as in `store-background-*` (every acknowledged write under `always`; under
`everysec` what a tick left synced and everything 2 s old; a committed job makes its shard
durable to that point; everything after a shutdown that returned), judged per shard by
`sim.sharded_checker`.
"""

from __future__ import annotations

from kevy_persist.commands import ErrorReply
from kevy_persist.errors import KevyError
from sim.workloads.store_background import SHARD_COUNT, StoreBackgroundWorkload, commands_of, shard_of_key


class OwnedBackgroundWorkload(StoreBackgroundWorkload):
    # The owner's own fsync is what differs from `store-background-*` (which covers ENOSPC and
    # short writes on the same files): EIO alone keeps the default sweep short.
    fault_kinds = ("eio",)

    def __init__(self, policy: str) -> None:
        super().__init__(policy)
        self.name = f"owned-background-{policy}"
        self.summary = (f"BGSAVE then BGREWRITEAOF on {SHARD_COUNT} shards through the single-owner path "
                        f"(kevy-server's loop), a write between steps, {policy}")

    def issuer(self, store, clock):
        from kevy_persist.store.store import single_owner

        owned = single_owner(store)

        def issue(operation: tuple) -> None:
            owned.refresh_clock()
            if self._issue_owned(store, owned, clock, operation):
                raise KevyError("the write was refused (MISCONF)")

        return issue

    def _issue_owned(self, store, owned, clock, operation: tuple) -> bool:
        """Run one operation as the loop would; True when its write was refused (MISCONF)."""
        kind = operation[0]
        if kind in (b"BGSAVE", b"BGREWRITEAOF"):
            owned.write_pending()
            if kind == b"BGSAVE":
                store.bgsave(may_commit=False)
            else:
                store.bgrewriteaof(may_commit=False)
            return False
        if kind == b"TICK":
            clock.advance(400)
            owned.refresh_clock()
            if self.policy == "everysec":
                for shard in range(owned.shard_count):
                    if owned.sync_due(shard):
                        owned.sync(shard)
            if store.background_commit_ready():
                store.poll_background()
            else:
                store.poll_background(may_commit=False)
            return False
        commands = commands_of(operation)
        shard = shard_of_key(commands[0][1])
        if kind == b"MULTI":
            start = owned.begin_block(shard)
            replies = [owned.execute(shard, argv) for argv in commands]
            owned.end_block(shard, start)
        else:
            replies = [owned.execute_routed(commands[0])]
        written, failed = owned.write_pending()
        if failed or any(isinstance(reply, ErrorReply) for reply in replies):
            return True
        if self.policy == "always":
            for index in written:
                owned.sync(index)
        return False


def workloads() -> list[OwnedBackgroundWorkload]:
    return [OwnedBackgroundWorkload("always"), OwnedBackgroundWorkload("everysec")]
