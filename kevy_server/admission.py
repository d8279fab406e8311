"""Who may connect: Redis's two refusals at accept time, and how a peer's address is shown.

What it models. Redis refuses a connection before reading a byte from it in two cases: the
server already serves `maxclients` connections (`-ERR max number of clients reached`), or
protected mode is on, the default user has no password and the peer is not on the loopback
interface (the long `-DENIED` text below, Redis 7.0's word for word). A unix socket counts as
local. Addresses are shown as CLIENT LIST's `addr=` / `laddr=` fields: `host:port`, with an
IPv6 host in brackets.

Guarantees: pure functions of their arguments; `is_loopback` never raises on a malformed
address (it is simply not loopback).
"""

from __future__ import annotations

import ipaddress
from typing import Any

__all__ = ["DENIED_REPLY", "MAX_CLIENTS_REPLY", "address_text", "is_loopback"]

MAX_CLIENTS_REPLY = b"-ERR max number of clients reached\r\n"
DENIED_REPLY = (
    b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set "
    b"for the default user. In this mode connections are only accepted from the loopback interface. If you "
    b"want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just "
    b"disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface "
    b"by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not "
    b"publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) "
    b"Alternatively you can just disable the protected mode by editing the Redis configuration file, and "
    b"setting the protected mode option to 'no', and then restarting the server. 3) If you started the "
    b"server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an "
    b"authentication password for the default user. NOTE: You only need to do one of the above things in "
    b"order for the server to start accepting connections from the outside.\r\n"
)


def address_text(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = address[0]
        return f"[{host}]:{address[1]}" if ":" in str(host) else f"{host}:{address[1]}"
    return str(address)


def is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # a unix socket is local
    try:
        parsed = ipaddress.ip_address(address[0])
    except ValueError:
        return False
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return parsed.is_loopback
