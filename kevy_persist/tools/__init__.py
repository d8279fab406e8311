"""`kevy-persist`, the file tools: dump, check and reshard a data dir (`cli`, `cli_reshard`),
export it as a Redis RDB file or build one from it (`cli_rdb`, `rdb_export`, `rdb_import`),
and the logical dump shape the fixtures' expected.json files use (`logical_dump`)."""
