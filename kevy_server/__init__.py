"""kevy_server: the network shell over `kevy_persist.Store` -- a threaded RESP2 server.

    kevy-server --port 6379 --dir ./kevy-data --appendfsync always

Modules: `request_parser` (bytes -> requests, limits), `frame_scan` (precise header checks),
`inline` (inline command lines),
`session` (per-client state, AUTH, MULTI/EXEC), `server_commands` (server-level verbs),
`info` (INFO, CONFIG, CLIENT LIST), `connection` (one socket's read/answer loop), `server`
(accept loop, client limit, graceful shutdown), `config` and `cli`.
"""

from .config import ServerConfig
from .server import KevyServer

__all__ = ["KevyServer", "ServerConfig"]
