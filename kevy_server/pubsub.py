"""Pub/sub: channels, patterns and shard channels, and the verbs that use them.

Redis 7.0's rules, checked against a real server:
- SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE answer one confirmation per channel, `[kind, channel,
  count]`, as an array in RESP2 and a push frame in RESP3; the count is channels + patterns
  (SSUBSCRIBE: shard channels). UNSUBSCRIBE without arguments drops every channel, or answers
  `[unsubscribe, nil, count]` when there was none.
- In RESP2 a client with any subscription may only send the subscribe family, PING (answered
  `[pong, message]`), QUIT and RESET (the dispatcher enforces it); in RESP3 anything goes and
  messages arrive as pushes between replies.
- PUBLISH answers the number of deliveries (each matching pattern counts once per
  subscriber); messages are `[message, channel, payload]`, `[pmessage, pattern, channel,
  payload]`, `[smessage, channel, payload]`.
- A subscriber whose pending output passes `client-output-buffer-limit pubsub` (32 MiB hard,
  or 8 MiB for 60 s by default) is disconnected instead of growing the server's memory.
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.glob import glob_match

from . import command_data
from .replies import Multiple, Push, encode2, encode3
from .verbs import subcommand_arity, subcommands, unknown_subcommand, verb

__all__ = ["PubSub"]


class PubSub:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.channels: dict[bytes, dict[Any, None]] = {}
        self.patterns: dict[bytes, dict[Any, None]] = {}
        self.shard_channels: dict[bytes, dict[Any, None]] = {}

    def channel_count(self) -> int:
        return len(self.channels)

    def pattern_count(self) -> int:
        return len(self.patterns)

    def shard_channel_count(self) -> int:
        return len(self.shard_channels)

    # -- subscriptions ------------------------------------------------------------------------

    def _table(self, kind: bytes) -> tuple[dict[bytes, dict[Any, None]], str]:
        if kind in (b"subscribe", b"unsubscribe"):
            return self.channels, "channels"
        if kind in (b"psubscribe", b"punsubscribe"):
            return self.patterns, "patterns"
        return self.shard_channels, "shard_channels"

    @staticmethod
    def _count(client: Any, kind: bytes) -> int:
        if kind in (b"ssubscribe", b"sunsubscribe"):
            return len(client.shard_channels)
        return client.subscription_count()

    def subscribe(self, client: Any, kind: bytes, names: list[bytes]) -> Multiple:
        table, attribute = self._table(kind)
        own = getattr(client, attribute)
        replies = Multiple()
        for name in names:
            if name not in own:
                own[name] = None
                table.setdefault(name, {})[client] = None
            replies.append(Push([kind, name, self._count(client, kind)]))
        client.update_gate()
        return replies

    def unsubscribe(self, client: Any, kind: bytes, names: list[bytes]) -> Multiple:
        table, attribute = self._table(kind)
        own = getattr(client, attribute)
        replies = Multiple()
        if not names:
            names = list(own)
            if not names:
                replies.append(Push([kind, None, self._count(client, kind)]))
        for name in names:
            if name in own:
                del own[name]
                subscribers = table.get(name)
                if subscribers is not None:
                    subscribers.pop(client, None)
                    if not subscribers:
                        del table[name]
            replies.append(Push([kind, name, self._count(client, kind)]))
        client.update_gate()
        return replies

    def unsubscribe_everything(self, client: Any) -> None:
        for kind in (b"unsubscribe", b"punsubscribe", b"sunsubscribe"):
            if getattr(client, self._table(kind)[1]):
                self.unsubscribe(client, kind, [])

    forget = unsubscribe_everything

    # -- delivery -----------------------------------------------------------------------------

    def publish(self, channel: bytes, message: bytes) -> int:
        deliveries = 0
        subscribers = self.channels.get(channel)
        if subscribers:
            frames = _Frames([b"message", channel, message])
            for client in list(subscribers):
                self._deliver(client, frames)
            deliveries += len(subscribers)
        for pattern, clients in list(self.patterns.items()):
            if glob_match(pattern, channel):
                frames = _Frames([b"pmessage", pattern, channel, message])
                for client in list(clients):
                    self._deliver(client, frames)
                deliveries += len(clients)
        return deliveries

    def shard_publish(self, channel: bytes, message: bytes) -> int:
        subscribers = self.shard_channels.get(channel)
        if not subscribers:
            return 0
        frames = _Frames([b"smessage", channel, message])
        for client in list(subscribers):
            self._deliver(client, frames)
        return len(subscribers)

    def _deliver(self, client: Any, frames: _Frames) -> None:
        server = self.server
        server.loop.emit(client, frames.for_protocol(client.protocol))
        server.check_output_limit(client, "pubsub")


class _Frames:
    """One message encoded at most once per protocol, however many subscribers get it."""

    __slots__ = ("_items", "_resp2", "_resp3")

    def __init__(self, items: list[bytes]) -> None:
        self._items = items
        self._resp2: bytes | None = None
        self._resp3: bytes | None = None

    def for_protocol(self, protocol: int) -> bytes:
        if protocol == 3:
            if self._resp3 is None:
                self._resp3 = encode3(Push(self._items))
            return self._resp3
        if self._resp2 is None:
            self._resp2 = encode2(self._items)
        return self._resp2


# -- verbs ------------------------------------------------------------------------------------


@verb("SUBSCRIBE", -2, "pubsub subscribed")
def subscribe(server: Any, client: Any, argv: list[bytes]) -> Any:
    return server.pubsub.subscribe(client, b"subscribe", argv[1:])


@verb("PSUBSCRIBE", -2, "pubsub subscribed")
def psubscribe(server: Any, client: Any, argv: list[bytes]) -> Any:
    return server.pubsub.subscribe(client, b"psubscribe", argv[1:])


@verb("SSUBSCRIBE", -2, "pubsub subscribed", key_range=(1, -1, 1))
def ssubscribe(server: Any, client: Any, argv: list[bytes]) -> Any:
    return server.pubsub.subscribe(client, b"ssubscribe", argv[1:])


@verb("UNSUBSCRIBE", -1, "pubsub subscribed")
def unsubscribe(server: Any, client: Any, argv: list[bytes]) -> Any:
    return server.pubsub.unsubscribe(client, b"unsubscribe", argv[1:])


@verb("PUNSUBSCRIBE", -1, "pubsub subscribed")
def punsubscribe(server: Any, client: Any, argv: list[bytes]) -> Any:
    return server.pubsub.unsubscribe(client, b"punsubscribe", argv[1:])


@verb("SUNSUBSCRIBE", -1, "pubsub subscribed", key_range=(1, -1, 1))
def sunsubscribe(server: Any, client: Any, argv: list[bytes]) -> Any:
    return server.pubsub.unsubscribe(client, b"sunsubscribe", argv[1:])


@verb("PUBLISH", 3, "pubsub fast")
def publish(server: Any, client: Any, argv: list[bytes]) -> Any:
    return publish_and_propagate(server, argv, from_master=False)


@verb("SPUBLISH", 3, "pubsub fast", key_range=(1, 1, 1))
def spublish(server: Any, client: Any, argv: list[bytes]) -> Any:
    return publish_and_propagate(server, argv, from_master=False)


def publish_and_propagate(server: Any, argv: list[bytes], *, from_master: bool) -> int:
    """Deliver PUBLISH / SPUBLISH here, then pass it to this server's replicas, as Redis does
    outside cluster mode, so their subscribers get the message too. What a replica's own
    clients publish stays local (Redis's replicas only pass on their master's stream);
    what its master streams (`from_master`) goes down the chain."""
    if argv[0].upper() == b"SPUBLISH":
        deliveries = server.pubsub.shard_publish(argv[1], argv[2])
    else:
        deliveries = server.pubsub.publish(argv[1], argv[2])
    if from_master or not server.upstream.active:
        server.master.feed([argv], select=False)  # pub/sub ignores databases: no SELECT needed
    return deliveries


def _matching(names: dict[bytes, Any], argv: list[bytes]) -> list[bytes]:
    pattern = argv[2] if len(argv) > 2 else None
    return [name for name in names if pattern is None or glob_match(pattern, name)]


@verb("PUBSUB", -2, "")
def pubsub_command(server: Any, client: Any, argv: list[bytes]) -> Any:
    registry = server.pubsub
    subcommand = argv[1].upper()
    if subcommand in (b"CHANNELS", b"SHARDCHANNELS"):
        error = subcommand_arity(argv, -2)
        if error is None and len(argv) > 3:
            error = ErrorReply(f"ERR wrong number of arguments for 'pubsub|{subcommand.lower().decode()}' command")
        table = registry.channels if subcommand == b"CHANNELS" else registry.shard_channels
        return error or _matching(table, argv)
    if subcommand in (b"NUMSUB", b"SHARDNUMSUB"):
        table = registry.channels if subcommand == b"NUMSUB" else registry.shard_channels
        reply: list[Any] = []
        for channel in argv[2:]:
            reply += [channel, len(table.get(channel, ()))]
        return reply
    if subcommand == b"NUMPAT":
        return subcommand_arity(argv, 2) or len(registry.patterns)
    if subcommand == b"HELP":
        return subcommand_arity(argv, 2) or command_data.help_reply("pubsub")
    return unknown_subcommand(argv)


# What PUBSUB implements (for COMMAND INFO and ACL rules; `pubsub_command` dispatches itself).
subcommands("pubsub", {name: (0, pubsub_command) for name in (
    b"CHANNELS", b"NUMPAT", b"NUMSUB", b"SHARDCHANNELS", b"SHARDNUMSUB", b"HELP",
)})
