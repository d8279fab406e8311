"""The keyspace and its value types: what a shard holds in memory.

`keyspace.Keyspace` maps keys to values with absolute-deadline TTLs, lazy and sampled expiry,
and copy-on-write views; `zset.ZSet` is the sorted set. No I/O, no logging: the command layer
above decides what a change means, the engine what reaches the disk.
"""
