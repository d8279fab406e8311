"""Where the keys named by SORT's BY and GET patterns live, for the store's CROSSSLOT rule.

Redis Cluster 7.0 refuses SORT ... BY pattern and SORT ... GET outright ("denied in Cluster
mode"), since a pattern names keys that may live in other slots. The store answers for a
pattern when it can prove where every key the pattern can name lives: with slot routing, a
pattern whose part before the `*` holds a complete, non-empty `{hashtag}` names only keys
of that hashtag's slot, whatever the element substituted for `*`. Such a pattern counts as
a key of that shard; any other key-reading pattern makes the command refuse with CROSSSLOT
on a sharded store. Patterns that read no key (`GET #`, `BY nosort`) are always fine.
"""

from __future__ import annotations

from kevy_persist.commands.sort import reading_patterns
from kevy_persist.layout.routing import Router, Routing

SORT_VERBS = frozenset({b"SORT", b"SORT_RO"})


def pattern_shard(router: Router, pattern: bytes) -> int | None:
    """The shard of every key `pattern` can name, or None when that is not fixed."""
    if router.routing is not Routing.SLOTS:
        return None
    prefix = pattern.split(b"\0", 1)[0].split(b"*", 1)[0]
    opening = prefix.find(b"{")
    closing = prefix.find(b"}", opening + 1) if opening >= 0 else -1
    if opening < 0 or closing <= opening + 1:
        return None
    return router.shard_for_key(prefix[opening : closing + 1])


def pattern_shards(router: Router, argv: list[bytes]) -> set[int] | None:
    """The shards a SORT argv's patterns read (empty: none), or None if some is unknown."""
    if not argv or argv[0].upper() not in SORT_VERBS:
        return set()
    shards = set()
    for pattern in reading_patterns(argv):
        shard = pattern_shard(router, pattern)
        if shard is None:
            return None
        shards.add(shard)
    return shards
