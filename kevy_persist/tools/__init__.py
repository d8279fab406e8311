"""`kevy-persist`, the file tools: dump, check and reshard a data dir (`cli`, `cli_reshard`),
and the logical dump shape the fixtures' expected.json files use (`logical_dump`)."""
