"""kevy_persist: the persistence core of kevy and the embedded store.

    import kevy_persist
    with kevy_persist.Store.open(kevy_persist.StoreConfig(data_dir="data")) as store:
        store.set("greeting", "hello")

See README.md ("Embedded store") for the API and what each fsync policy promises.
"""

from .aof import FsyncPolicy
from .config import MetricEvent, StoreConfig
from .errors import (
    CorruptionError,
    HistoryGapError,
    KevyError,
    LayoutError,
    StorageIOError,
    StoreClosedError,
    WritesRefusedError,
)
from .routing import Routing
from .store import CommandError, Store, StoreOpenReport
from .transaction import Transaction, TransactionAbortedError

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
