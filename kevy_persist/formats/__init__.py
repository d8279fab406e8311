"""Pure codecs of kevy's files and wire format, one module per format and one spec each.

RESP (`resp`), CRC-32C (`crc`), the log (`aof_format` framing, `aof_scan` where the valid
records stop, `log_markers` our epoch and transaction markers), the snapshot
(`snapshot_format` constants and encoder, `snapshot_decode`, `snapshot_raw` records as bytes),
the value kinds the snapshot stores (`records`) and the history positions files record
(`positions`); Redis's RDB files and DUMP payloads (`rdb_format` constants and encoder,
`rdb_decode` files and payloads, `rdb_values` one value by type, `rdb_reader` bounded
primitives, `rdb_packed` listpack / ziplist / intset, `lzf`, `crc64`). Nothing here holds
state; files are read through a `FileSystem` handed in.
"""
