"""The shape of a data dir: file names, the recorded shard layout, and key routing.

`names` spells every file a dir may hold (kevy 1.23's names) and the re-shard journal,
`meta` reads and writes `shards.meta` (and infers a legacy layout), `routing` picks the shard
of a key (KevyHash or cluster slots), `kevyhash` is kevy's hash, bit for bit.
"""
