"""One shard over the door: its log, its snapshot, the history rules, opening and saving.

`aof` writes and opens the log, `snapshot` saves and loads snapshot files, `history` decides
which snapshot and log offsets make up a shard's state, `shard_opening` recovers one shard,
`shard` is a live shard (apply, append, save, rewrite), `rewrite` the commands of a rewritten
log, `transaction_log` crash-atomic blocks, `integrity` the read-only check of a data dir.
No threads and no locks: the store above owns those.
"""
