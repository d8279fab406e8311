"""kevy_persist: the persistence core of kevy and the embedded store.

    import kevy_persist
    with kevy_persist.Store.open(kevy_persist.StoreConfig(data_dir="data")) as store:
        store.set("greeting", "hello")

See README.md ("Embedded store") for the API and what each fsync policy promises.
"""

from kevy_persist.engine.aof import FsyncPolicy
from kevy_persist.errors import (
    CommandError,
    CorruptionError,
    HistoryGapError,
    KevyError,
    LayoutError,
    StorageIOError,
    StoreClosedError,
    WritesRefusedError,
)
from kevy_persist.layout.routing import Routing
from kevy_persist.store.config import MetricEvent, StoreConfig
from kevy_persist.store.store import Store, StoreOpenReport
from kevy_persist.store.transaction import Transaction, TransactionAbortedError

__all__ = [
    "CommandError",
    "CorruptionError",
    "FsyncPolicy",
    "HistoryGapError",
    "KevyError",
    "LayoutError",
    "MetricEvent",
    "Routing",
    "StorageIOError",
    "Store",
    "StoreClosedError",
    "StoreConfig",
    "StoreOpenReport",
    "Transaction",
    "TransactionAbortedError",
    "WritesRefusedError",
]
