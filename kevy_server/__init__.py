"""kevy_server: the network shell over `kevy_persist.Store` -- one event loop, RESP2 and RESP3.

    kevy-server --port 6379 --dir ./kevy-data --appendfsync always

Modules: `loop` (the event loop: epoll, turns, one log write per shard per turn), `output`
(sending, holding, closing), `accepting` (the listener, admission, the EMFILE back-off),
`durability` (the fsync thread and the replies held behind it), `client` (one connection's
state), `dispatch` (request -> reply, Redis's checks in Redis's order), `verbs` (the registry
of server-level verbs), `connection_commands` / `server_commands` / `transaction_commands` /
`pubsub` / `blocking_commands` (the verbs), `blocking` (blocked clients), `watch` (WATCH),
`notifications` (keyspace events), `replies` (RESP2/RESP3 encoding), `request_parser` /
`frame_scan` / `inline` / `unauthenticated` (bytes -> requests, limits), `limits` (output
buffers, descriptors), `info` (INFO, CONFIG, CLIENT LIST), `server` (lifecycle), `config`
and `cli`.
"""

from .config import ServerConfig
from .server import KevyServer

__all__ = ["KevyServer", "ServerConfig"]
