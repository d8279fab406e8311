"""Keys routed per second, for both routings, over 1M keys (re-shard's inner loop).

Method: build `key_count` keys of the shape `key:{i}` (short, the common case) and, as a
second shape, 40-byte keys with a hashtag; for each (routing, shard count) build the
`Router` once and time `router.shard_indexes(keys)` (one pass over the list, best of
`--repeat`). Also times the reference (unoptimised) KevyHash and CRC16 for comparison.

    python bench/bench_routing.py [--keys 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from kevy_persist.layout.kevyhash import kevy_hash, kevy_hash_reference
from kevy_persist.layout.routing import Routing, crc16_xmodem_reference, router_for


def best_seconds(function: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    count = arguments.keys
    shapes = {
        "key:{i}": [b"key:%d" % index for index in range(count)],
        "40B {tag}": [b"{user%07d}:profile:settings:0123456789ab" % index for index in range(count)],
    }
    for shape, keys in shapes.items():
        for routing in Routing:
            for shard_count in (3, 4, 16):
                router = router_for(shard_count, routing)
                seconds = best_seconds(lambda: router.shard_indexes(keys), arguments.repeat)
                print(f"{shape:<10} {routing.value:<8} n={shard_count:<3} "
                      f"{count / seconds / 1e6:6.2f} M keys/s  ({seconds:.2f} s per {count})")
    sample = shapes["key:{i}"][: max(count // 10, 1)]
    for name, function in (
        ("kevy_hash (fast)", kevy_hash),
        ("kevy_hash_reference", kevy_hash_reference),
        ("crc16_xmodem_reference", crc16_xmodem_reference),
    ):
        seconds = best_seconds(lambda: list(map(function, sample)), arguments.repeat)
        print(f"{name:<24} {len(sample) / seconds / 1e6:6.2f} M keys/s")


if __name__ == "__main__":
    main()
