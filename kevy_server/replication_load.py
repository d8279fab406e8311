"""A full sync's dataset, from the master's RDB into every database of a replica.

`replace_every_database(owned, databases)` makes each database hold what the decoded RDB
holds for it (`store.dataset_replace` per shard of the database): an open database the RDB
does not name is emptied, one not opened yet is opened only if it gets keys, and databases
beyond this server's `databases` count are logged and not kept. The selected database is
restored afterwards. The caller saves at once, so the files never hold a mix.
"""

from __future__ import annotations

import logging
from typing import Any

from kevy_persist.store.dataset_replace import replace_dataset

__all__ = ["replace_every_database"]

log = logging.getLogger("kevy_server")


def replace_every_database(owned: Any, databases: dict[int, list[Any]]) -> tuple[int, int]:
    """Every database holds what the master's RDB holds for it (an open database the RDB
    does not name is emptied; one not opened yet is opened only if it gets keys)."""
    count = len(owned.bases)
    beyond = sorted(number for number, records in databases.items() if number >= count and records)
    if beyond:
        log.warning("replication: the master's databases %s are beyond `databases %d` and not kept", beyond, count)
    loaded = skipped = 0
    previous = owned.selected
    try:
        for number in range(count):
            records = databases.get(number, [])
            if not owned.is_open(number):
                if not records:
                    continue
                owned.select(number)
                owned.open_selected()
            slots = owned.database_slots(number)
            done, left_out = replace_dataset([owned.shards[slot] for slot in slots], owned.router.shard_for_key, records)
            loaded, skipped = loaded + done, skipped + left_out
    finally:
        owned.select(previous)
    return loaded, skipped
