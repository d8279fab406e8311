"""`kevy-server`: run the RESP server over a data dir until SHUTDOWN, SIGTERM or SIGINT.

    kevy-server [--port 6379] [--bind 127.0.0.1] [--dir ./kevy-data] [--shards N]
                [--routing kevyhash|slots] [--appendfsync always|everysec|no]
                [--appendonly yes|no] [--log-format 1|2] [--requirepass PASSWORD]
                [--protected-mode yes|no] [--timeout SECONDS] [--maxclients N]
                [--max-request-bytes N] [--in-memory]

Without `--shards`/`--routing` the layout recorded in the dir's `shards.meta` is used (one
shard by KevyHash for a new dir); a `--shards` or `--routing` other than the recorded one
re-shards the dir at start (as the Rust kevy does), with progress lines in the log. SIGTERM and SIGINT shut down gracefully: connections are
drained and every log fsynced (a snapshot is also saved when `--appendonly no`, since nothing
else would keep the data). Exit status 0 after a clean shutdown, 1 when the store reported a
failure while closing, 2 when the server could not start (bad options, unusable data dir,
port in use).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from kevy_persist import FsyncPolicy, KevyError, Routing

from .config import DEFAULT_MAX_REQUEST_BYTES, ServerConfig
from .server import KevyServer

log = logging.getLogger("kevy_server")


def _yes_no(text: str) -> bool:
    if text.lower() not in ("yes", "no"):
        raise argparse.ArgumentTypeError("expected yes or no")
    return text.lower() == "yes"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kevy-server", description="Redis-compatible server over a kevy data dir.")
    parser.add_argument("--port", type=int, default=6379, help="TCP port (0: any free port)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--dir", default="./kevy-data", help="data dir (created if missing)")
    parser.add_argument("--in-memory", action="store_true", help="keep no files at all (ignores --dir)")
    parser.add_argument("--shards", type=int, default=None,
                        help="shard count (default: the recorded one, else 1; another value re-shards at start)")
    parser.add_argument("--routing", choices=[routing.value for routing in Routing], default=None,
                        help="kevyhash or slots (default: the recorded one, else kevyhash)")
    parser.add_argument("--appendfsync", choices=[policy.value for policy in FsyncPolicy], default="everysec")
    parser.add_argument("--appendonly", type=_yes_no, default=True, metavar="yes|no")
    parser.add_argument("--log-format", type=int, choices=(1, 2), default=2,
                        help="2: checksummed records (default); 1: readable by Rust kevy 1.23")
    parser.add_argument("--requirepass", default=None, help='password clients must AUTH with ("": none)')
    parser.add_argument("--protected-mode", type=_yes_no, default=True, metavar="yes|no",
                        help="without a password, serve only loopback clients (default yes)")
    parser.add_argument("--timeout", type=int, default=0, help="close clients idle this many seconds (0: never)")
    parser.add_argument("--maxclients", type=int, default=10000)
    parser.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def config_from_arguments(arguments: argparse.Namespace) -> ServerConfig:
    data_dir = None if arguments.in_memory else arguments.dir
    return ServerConfig(
        port=arguments.port,
        bind=arguments.bind,
        data_dir=data_dir,
        shard_count=arguments.shards,  # None: the store adopts what the dir records
        routing=arguments.routing,
        appendfsync=arguments.appendfsync,
        appendonly=arguments.appendonly,
        log_format=arguments.log_format,
        requirepass=arguments.requirepass,
        protected_mode=arguments.protected_mode,
        idle_timeout_s=arguments.timeout,
        maxclients=arguments.maxclients,
        max_request_bytes=arguments.max_request_bytes,
    )


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(level=arguments.log_level, format="%(asctime)s kevy-server %(levelname)s %(message)s")
    try:
        config = config_from_arguments(arguments)
        if config.data_dir is not None:
            os.makedirs(config.data_dir, exist_ok=True)
        server = KevyServer(config)
    except (KevyError, ValueError, OSError) as error:
        print(f"kevy-server: cannot start: {error}", file=sys.stderr)
        return 2
    report = server.store.open_report
    log.info("opened %d shard(s) (%s): replayed %d commands (%d bytes), dropped %d bytes in %d ms",
             server.store.shard_count, server.store.config.routing.value, report.replayed_commands,
             report.replayed_bytes, report.dropped_bytes, report.elapsed_ms)
    save_on_signal = not config.appendonly

    def on_signal(number: int, frame: object) -> None:
        log.info("signal %d: shutting down", number)
        server.request_shutdown(save=save_on_signal)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.serve_forever()
    except OSError as error:
        print(f"kevy-server: cannot listen on {config.bind}:{config.port}: {error}", file=sys.stderr)
        server.store.shutdown()
        return 2
    return 1 if server.shutdown_error is not None else 0


if __name__ == "__main__":
    sys.exit(main())
