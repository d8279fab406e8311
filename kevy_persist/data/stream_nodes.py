"""How Redis groups a stream's entries into nodes, modelled so `~` trimming matches Redis.

Redis stores a stream as a radix tree of listpack *nodes*: entries are appended to the tail
node until it holds `stream-node-max-entries` (100) entries, live or deleted, and a new node
starts. Approximate trimming (`MAXLEN ~`, `MINID ~`) removes whole nodes from the head only,
and XINFO STREAM reports the node count (`radix-tree-keys`) and the tree's size
(`radix-tree-nodes`). This module keeps, per node in ID order, its master ID (the first
entry appended to it, the node's key in the tree), the last ID appended to it (live or
not), how many entries it received and how many are still live. The entries themselves
live in `Stream.entries`; the live counts partition them: node i holds the next
`live[i]` entries in ID order.

Redis also starts a node when the tail's listpack reaches `stream-node-max-bytes` (4096);
that byte size depends on listpack encodings and is not modelled, so nodes here follow the
entry count only: for entries of a few dozen bytes (the usual case) the node boundaries,
and so `~` trimming and radix-tree-keys, are Redis's exactly; with bigger entries Redis
starts nodes earlier and `~` trims in smaller steps. A snapshot does not record nodes:
loading rebuilds them by chunking the live entries by 100, as a stream built by XADDs alone
would be. A Redis RDB (or DUMP payload) does record them, and loading one keeps Redis's
boundaries (`adopted`), whatever byte limit made them.

Mutations mirror Redis: XDEL frees a node when its last live entry goes
(streamIteratorRemoveEntry); trimming inside a node only lowers its live count.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

NODE_MAX_ENTRIES = 100  # Redis's stream-node-max-entries default
ID_BYTES = 16  # a node's key in the radix tree: ms and seq as big-endian u64s


class StreamNodes:
    """Parallel lists, one item per node in ID order (see the module docstring)."""

    __slots__ = ("masters", "lasts", "received", "live")

    def __init__(self) -> None:
        self.masters: list[int] = []
        self.lasts: list[int] = []
        self.received: list[int] = []
        self.live: list[int] = []

    @classmethod
    def rebuilt(cls, entry_ids: Sequence[int]) -> StreamNodes:
        """Nodes for live entries appended in order with nothing deleted."""
        nodes = cls()
        for start in range(0, len(entry_ids), NODE_MAX_ENTRIES):
            chunk = entry_ids[start : start + NODE_MAX_ENTRIES]
            nodes.masters.append(chunk[0])
            nodes.lasts.append(chunk[-1])
            nodes.received.append(len(chunk))
            nodes.live.append(len(chunk))
        return nodes

    @classmethod
    def adopted(cls, bounds: Sequence[tuple[int, int, int, int]]) -> StreamNodes | None:
        """Nodes as a Redis RDB recorded them -- (master ID, last ID appended, entries
        appended, entries live) each, in ID order, partitioning the live entries (the RDB
        decoder checked that) -- or None when one holds more than NODE_MAX_ENTRIES entries
        (a Redis whose stream-node-max-entries was raised), which this model cannot follow."""
        if any(received > NODE_MAX_ENTRIES for _, _, received, _ in bounds):
            return None
        nodes = cls()
        for master, last, received, live in bounds:
            assert master <= last and 0 <= live <= received, (master, last, received, live)
            nodes.masters.append(master)
            nodes.lasts.append(last)
            nodes.received.append(received)
            nodes.live.append(live)
        return nodes

    def copy(self) -> StreamNodes:
        duplicate = StreamNodes()
        duplicate.masters = self.masters.copy()
        duplicate.lasts = self.lasts.copy()
        duplicate.received = self.received.copy()
        duplicate.live = self.live.copy()
        return duplicate

    def __len__(self) -> int:
        return len(self.masters)

    def appended(self, entry_id: int) -> None:
        """An entry was appended (its ID above every earlier one)."""
        assert not self.lasts or entry_id > self.lasts[-1], "appends go to the tail"
        if not self.masters or self.received[-1] >= NODE_MAX_ENTRIES:
            self.masters.append(entry_id)
            self.lasts.append(entry_id)
            self.received.append(1)
            self.live.append(1)
        else:
            self.lasts[-1] = entry_id
            self.received[-1] += 1
            self.live[-1] += 1

    def deleted(self, entry_id: int) -> None:
        """A live entry was deleted by XDEL; an emptied node is freed, as Redis frees it."""
        index = bisect_right(self.masters, entry_id) - 1
        assert index >= 0 and self.live[index] > 0, "XDEL of an entry no node holds"
        self.live[index] -= 1
        if self.live[index] == 0:
            del self.masters[index], self.lasts[index], self.received[index], self.live[index]

    def drop_head(self) -> int:
        """Remove the first node (trimming); returns how many live entries it held."""
        live = self.live[0]
        del self.masters[0], self.lasts[0], self.received[0], self.live[0]
        return live

    def trimmed_inside_head(self, count: int) -> None:
        """`count` live entries of the first node were trimmed; the node stays."""
        assert 0 <= count <= self.live[0]
        self.live[0] -= count

    def radix_tree_node_count(self) -> int:
        """Nodes of the radix tree keyed by the master IDs, as XINFO's radix-tree-nodes.

        A rax holding keys of equal length is its compressed trie: a run of bytes shared by
        every key below a point is one node, a point where keys diverge is one node with a
        child per byte, and each key ends in a leaf node. An empty tree is its root alone.
        """
        if not self.masters:
            return 1
        keys = [master.to_bytes(ID_BYTES, "big") for master in self.masters]
        return _trie_nodes(keys, 0)

    def check_invariants(self, entry_ids: Sequence[int]) -> None:
        assert len(self.masters) == len(self.lasts) == len(self.received) == len(self.live)
        assert sum(self.live) == len(entry_ids), "live counts partition the entries"
        position = 0
        for master, last, received, live in zip(self.masters, self.lasts, self.received, self.live):
            assert master <= last and 0 <= live <= received <= NODE_MAX_ENTRIES
            for entry_id in entry_ids[position : position + live]:
                assert master <= entry_id <= last, "an entry outside its node"
            position += live
        assert self.masters == sorted(set(self.masters))
        # Nodes do not overlap: a node's entries sort below the next node's master (what
        # `deleted` relies on to find an entry's node by bisection).
        assert all(last < master for last, master in zip(self.lasts, self.masters[1:])), "nodes overlap"


def _trie_nodes(keys: list[bytes], depth: int) -> int:
    """Nodes of the compressed trie of sorted distinct equal-length `keys` below `depth`."""
    if depth == len(keys[0]):
        return 1  # a leaf: the node a key ends on
    first, last = keys[0], keys[-1]
    shared = 0
    while depth + shared < len(first) and first[depth + shared] == last[depth + shared]:
        shared += 1  # sorted keys: what the first and last share, every key shares
    if shared:
        return 1 + _trie_nodes(keys, depth + shared)
    total = 1
    start = 0
    for index in range(1, len(keys) + 1):
        if index == len(keys) or keys[index][depth] != keys[start][depth]:
            total += _trie_nodes(keys[start:index], depth + 1)
            start = index
    return total
