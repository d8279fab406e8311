"""The embedded store (`kevy_persist.Store`): shards behind locks, thread-safe, in-process.

`config` is what a program chooses, `opening` reconciles the layout and opens every shard,
`runtime` owns the threads and real time (locks, ticker, group commit), `shard_runner` runs a
command on a shard under its lock and waits for its durability, `store` is the `Store`,
`typed_api` its Pythonic methods, `multishard` the commands whose keys span shards,
`transaction` the `with store.transaction()` block.
"""
