"""Re-shard: re-home every key of a data dir under a new layout, crash-safe, with a journal.

`reconcile` is the entry point (finish or discard an interrupted re-shard, then re-shard if
the recorded layout differs), `protocol` the phase table, `recovery` roll-forward and discard,
`sources` reads the old shards without changing them, `route` moves raw snapshot records,
`progress` draws the progress bar, `fresh_install` builds a new data dir in one commit with
the same journal (RDB import). Protocol and crash outcomes: `specs/reshard.md`.
"""
