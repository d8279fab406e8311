"""kevy-server's request path in-process, layer by layer: where a logged SET's microseconds go.

Issue 10's targets: <= 5 us per logged SET unpipelined and <= 3 us per command in a 16-deep
pipeline, including parse, dispatch, command, log encoding and reply encoding.

Method: a real `KevyServer` (not started: no socket is read or written) over a fresh data dir
with `appendfsync everysec`, and one client object of its loop. Each layer is timed alone over
`--requests` SETs of distinct 16-byte keys with 64-byte values (`SET key:%012d <value>`, the
shape redis-benchmark sends), as CPU time of this process (`time.process_time`, one thread):

- parse: `RequestParser.feed` of the request bytes (one frame per feed, or 16);
- command: the SET handler itself on the shard's keyspace;
- log encoding: the record into the shard's pending buffer (`OwnedShards` encoding);
- reply encoding: `+OK` for the client's protocol;
- dispatch: `Dispatcher.handle` (checks, routing, command, log encoding) minus the two above;
- whole path: feed -> run every request (`EventLoop.run_requests`) -> the turn's single log
  `write` (`OwnedShards.write_pending`) -> the turn's reply bytes joined; per request. The
  log write is a real `write` system call (once per turn: per request unpipelined, per 16
  requests pipelined), so the row before it gives the same path with the pending records
  dropped instead of written; the socket's recv/send are part of neither.
- `--repeat N`: each depth is measured N times (a fresh server each time) and every row
  gives its lowest figure: on a machine shared with other work, the best of several rounds
  is the one least inflated by the neighbours (CPU time still grows with their load, through
  caches and the hypervisor);
- calibration: the CPU cost of one empty Python function call in the same run, to read the
  rows against (about 35 ns on an idle core of the 2-core VM the figures in bench/README.md
  come from).

    python bench/bench_request_path.py [--requests 200000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import hiredis
from bench_common import machine_summary, print_table

from kevy_persist.commands.table import lookup_spec
from kevy_server import KevyServer, ServerConfig
from kevy_server.client import Client
from kevy_server.request_parser import RequestParser

DEPTHS = (1, 16)


def _cpu_us_per(count: int, work: Callable[[], None]) -> float:
    started = time.process_time()
    work()
    return (time.process_time() - started) / count * 1e6


def _nothing() -> None:
    return None


def _frames(count: int) -> list[bytes]:
    generator = random.Random(3)
    return [hiredis.pack_command((b"SET", b"key:%012d" % index, generator.randbytes(64))) for index in range(count)]


def measure(requests: int, depth: int) -> dict[str, float]:
    directory = tempfile.mkdtemp(prefix="kevy-bench-path-")
    server = KevyServer(ServerConfig(port=0, data_dir=f"{directory}/data", appendfsync="everysec"))
    near, far = socket.socketpair()
    try:
        loop, owned = server.loop, server.owned
        client = Client(near, 1, "bench", "bench", server.config.max_request_bytes, True, 0)
        loop.clients[client.fd] = client
        frames = _frames(requests)
        batches = [b"".join(frames[start : start + depth]) for start in range(0, requests, depth)]
        argvs = [hiredis.Reader() for _ in range(1)]  # one reader to split the argvs once
        argvs[0].feed(b"".join(frames))
        parsed = [argvs[0].gets() for _ in range(requests)]
        results: dict[str, float] = {}

        parser = RequestParser(server.config.max_request_bytes)
        results["parse"] = _cpu_us_per(requests, lambda: [parser.feed(batch) for batch in batches])

        handler = lookup_spec(b"set").handler
        keyspace = owned.shards[0].keyspace
        context = owned.context
        results["command"] = _cpu_us_per(requests, lambda: [handler(keyspace, argv, context) for argv in parsed])
        keyspace.clear()

        encode_records = owned._encode  # noqa: SLF001 -- the layer itself is what is timed
        results["log encoding"] = _cpu_us_per(requests, lambda: [encode_records(0, [], (argv,)) for argv in parsed])
        owned.pending[0].clear()
        owned.logged_shards.clear()

        encode = client.encode
        reply = handler(keyspace, parsed[0], context).reply
        results["reply encoding"] = _cpu_us_per(requests, lambda: [encode(reply) for _ in range(requests)])
        keyspace.clear()

        handle = server.dispatcher.handle
        handled = _cpu_us_per(requests, lambda: [handle(client, argv) for argv in parsed])
        owned.pending[0].clear()
        owned.logged_shards.clear()
        keyspace.clear()
        results["dispatch"] = handled - results["command"] - results["log encoding"]

        def whole_path(write: Callable[[], Any]) -> None:
            feed = client.parser.feed
            run = loop.run_requests
            for batch in batches:
                run(client, feed(batch), 0)
                write()
                b"".join(client.output)
                client.output.clear()
                loop.turn_clients.clear()
                loop.logged_slots.clear()

        def discard_pending() -> None:
            owned.pending[0].clear()
            owned.logged_shards.clear()

        results["whole path, no log write"] = _cpu_us_per(requests, lambda: whole_path(discard_pending))
        keyspace.clear()
        results["whole path"] = _cpu_us_per(requests, lambda: whole_path(owned.write_pending))
        assert len(keyspace) == requests, "every SET applied"
        return results
    finally:
        near.close()
        far.close()
        server.loop.close()
        server.store.shutdown()
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> list[list[object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1, help="rounds per depth; each row is the lowest")
    arguments = parser.parse_args(argv)
    print(f"# kevy-server request path, in-process CPU µs per logged SET ({arguments.requests} requests, "
          f"best of {arguments.repeat})")
    print(f"# {machine_summary()}")
    by_depth: dict[int, dict[str, float]] = {}
    for _ in range(arguments.repeat):
        for depth in DEPTHS:
            for layer, figure in measure(arguments.requests, depth).items():
                best = by_depth.setdefault(depth, {})
                best[layer] = min(best.get(layer, figure), figure)
    layers = ["parse", "dispatch", "command", "log encoding", "reply encoding", "whole path, no log write", "whole path"]
    rows = [[layer, *(f"{by_depth[depth][layer]:.2f}" for depth in DEPTHS)] for layer in layers]
    rows.append(["target (whole path)", "5.00", "3.00"])
    call_ns = _cpu_us_per(1_000_000, lambda: [_nothing() for _ in range(1_000_000)]) * 1000
    print(f"# calibration: one Python function call = {call_ns:.0f} ns of CPU here (a busy machine makes every row slower)")
    print_table(["layer", "unpipelined µs/req", "16-deep pipeline µs/req"], rows)
    return rows


if __name__ == "__main__":
    sys.exit(main() and 0)
