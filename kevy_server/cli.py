"""`kevy-server`: run the RESP server over a data dir until SHUTDOWN, SIGTERM or SIGINT.

    kevy-server [--config FILE] [--port 6379] [--bind 127.0.0.1] [--dir ./kevy-data]
                [--shards N | --threads N] [--routing kevyhash|slots] [--cluster]
                [--appendfsync always|everysec|no] [--appendonly yes|no | --no-aof]
                [--log-format 1|2] [--requirepass PASSWORD] [--aclfile FILE]
                [--protected-mode yes|no] [--timeout SECONDS] [--maxclients N]
                [--max-request-bytes N] [--in-memory] [--log-level LEVEL]
                [--save "3600 1 300 100 60 10000"] [--stop-writes-on-bgsave-error yes|no]
                [--background-worker thread|fork] [--replicaof "HOST PORT"]
                [--masterauth PASSWORD] [--masteruser USER] [--repl-backlog-size BYTES]
                [--repl-ping-replica-period SECONDS] [--min-replicas-to-write N]
                [--min-replicas-max-lag SECONDS]

Settings come from the command line, then the environment (`KEVY_BIND`, `KEVY_PORT`,
`KEVY_THREADS`, `KEVY_DIR`, `KEVY_AOF`, `KEVY_CLUSTER`), then a TOML file (`--config`, or
kevy's search: `$KEVY_DIR/kevy.toml`, `./kevy.toml`, `/etc/kevy/kevy.toml`), then the
defaults -- the Rust kevy's interface and precedence (`settings.py` has the file's keys).
Without a shard count the layout recorded in the dir's `shards.meta` is used (one shard by
KevyHash for a new dir; 0, kevy's "automatic", gives a new dir one shard per CPU); a count
or routing other than the recorded one re-shards the dir at start (as the Rust kevy does),
with progress lines in the log. The port is open while the data dir opens: commands get
`-LOADING` meanwhile (INFO, CONFIG, CLIENT, HELLO, AUTH, SHUTDOWN run, as in Redis), with a
progress line every few seconds, then "ready to accept connections". SIGTERM and SIGINT
shut down gracefully: connections are drained and every log fsynced; a shard whose log is
long gets a snapshot first (so the next start loads it instead of replaying the log), and
with the log off every shard is saved when save points are set (Redis's rule). Exit status 0 after a
clean shutdown, 1 when the store reported a failure while closing, 2 when the server could
not start (bad options or settings, unusable data dir, port in use, a bad aclfile).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from kevy_persist import FsyncPolicy, KevyError, Routing

from .acl_commands import AclFileError
from .cluster_supervisor import run_cluster
from .config import DEFAULT_MAX_REQUEST_BYTES, ServerConfig
from .server import KevyServer
from .settings import SettingsError, environment_settings, file_settings, find_config_file, merge

log = logging.getLogger("kevy_server")

DEFAULTS: dict[str, Any] = {
    "port": 6379, "bind": "127.0.0.1", "data_dir": "./kevy-data", "appendfsync": "everysec",
    "appendonly": True, "log_format": 2, "protected_mode": True, "idle_timeout_s": 0,
    "maxclients": 10000, "max_request_bytes": DEFAULT_MAX_REQUEST_BYTES, "log_level": "INFO",
}


def _yes_no(text: str) -> bool:
    if text.lower() not in ("yes", "no"):
        raise argparse.ArgumentTypeError("expected yes or no")
    return text.lower() == "yes"


def _host_port(text: str) -> tuple[str, int]:
    parts = text.split()
    if len(parts) != 2 or not parts[1].isdigit() or not 0 < int(parts[1]) < 65536:
        raise argparse.ArgumentTypeError('expected "HOST PORT"')
    return parts[0], int(parts[1])


def build_parser() -> argparse.ArgumentParser:
    """Every option defaults to None (not given), so the environment and the file can fill it."""
    parser = argparse.ArgumentParser(prog="kevy-server", description="Redis-compatible server over a kevy data dir.")
    parser.add_argument("--config", default=None, metavar="FILE", help="TOML settings file (kevy's keys)")
    parser.add_argument("--port", type=int, default=None, help="TCP port (0: any free port; default 6379)")
    parser.add_argument("--bind", default=None, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--dir", dest="data_dir", default=None, help="data dir, created if missing (default ./kevy-data)")
    parser.add_argument("--in-memory", dest="in_memory", action="store_const", const=True, default=None,
                        help="keep no files at all (ignores --dir)")
    parser.add_argument("--shards", "--threads", dest="shard_count", type=int, default=None,
                        help="shard count (default: the recorded one, else 1; 0: the recorded one, else one per CPU; another value re-shards at start)")
    parser.add_argument("--routing", choices=[routing.value for routing in Routing], default=None,
                        help="kevyhash or slots (default: the recorded one, else kevyhash)")
    parser.add_argument("--cluster", action="store_const", const=True, default=None,
                        help="single-node cluster mode (kevy's --cluster)")
    parser.add_argument("--appendfsync", choices=[policy.value for policy in FsyncPolicy], default=None)
    parser.add_argument("--appendonly", type=_yes_no, default=None, metavar="yes|no")
    parser.add_argument("--no-aof", dest="appendonly", action="store_const", const=False,
                        help="no log (kevy's --no-aof: --appendonly no)")
    parser.add_argument("--log-format", dest="log_format", type=int, choices=(1, 2), default=None,
                        help="2: checksummed records (default); 1: readable by Rust kevy 1.23")
    parser.add_argument("--requirepass", default=None, help='password clients must AUTH with ("": none)')
    parser.add_argument("--aclfile", default=None, help="ACL users file (ACL LOAD / ACL SAVE)")
    parser.add_argument("--protected-mode", dest="protected_mode", type=_yes_no, default=None, metavar="yes|no",
                        help="without a password, serve only loopback clients (default yes)")
    parser.add_argument("--timeout", dest="idle_timeout_s", type=int, default=None,
                        help="close clients idle this many seconds (0: never)")
    parser.add_argument("--maxclients", type=int, default=None)
    parser.add_argument("--max-request-bytes", dest="max_request_bytes", type=int, default=None)
    parser.add_argument("--databases", type=int, default=None,
                        help="how many numbered databases SELECT may pick (default 16)")
    parser.add_argument("--replicaof", dest="replicaof", type=_host_port, default=None, metavar='"HOST PORT"',
                        help="follow this Redis master from the start (REPLICAOF)")
    parser.add_argument("--masterauth", default=None, help="the password to AUTH with to the master")
    parser.add_argument("--masteruser", default=None, help="the ACL user to AUTH as to the master (with --masterauth)")
    parser.add_argument("--min-replicas-to-write", dest="min_replicas_to_write", type=int, default=None,
                        help="refuse writes while fewer replicas are good (default 0: never)")
    parser.add_argument("--min-replicas-max-lag", dest="min_replicas_max_lag_s", type=int, default=None,
                        help="seconds since its last ACK within which a replica is good (default 10)")
    parser.add_argument("--repl-backlog-size", dest="repl_backlog_size_bytes", type=int, default=None,
                        help="bytes of the replication stream kept for replicas that reconnect (default 1 MiB)")
    parser.add_argument("--repl-ping-replica-period", dest="repl_ping_replica_period_s", type=int, default=None,
                        help="seconds between the PINGs sent to replicas (default 10)")
    parser.add_argument("--log-level", dest="log_level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--save", dest="save_points", default=None, metavar='"SECONDS CHANGES ..."',
                        help='Redis\'s save points (default "3600 1 300 100 60 10000"; "" for none)')
    parser.add_argument("--background-worker", dest="background_worker", choices=("thread", "fork"), default=None,
                        help="where BGSAVE/BGREWRITEAOF serialize: a thread (default) or a forked child")
    parser.add_argument("--stop-writes-on-bgsave-error", dest="stop_writes_on_bgsave_error", type=_yes_no,
                        default=None, metavar="yes|no", help="refuse writes after a failed BGSAVE (default yes)")
    return parser


_CLI_FIELDS = ("port", "bind", "data_dir", "in_memory", "shard_count", "routing", "cluster", "appendfsync",
               "appendonly", "log_format", "requirepass", "aclfile", "protected_mode", "idle_timeout_s",
               "maxclients", "max_request_bytes", "log_level", "databases", "replicaof", "masterauth", "masteruser",
               "min_replicas_to_write", "min_replicas_max_lag_s",
               "repl_backlog_size_bytes",
               "repl_ping_replica_period_s", "save_points",
               "stop_writes_on_bgsave_error", "background_worker")


def resolve(arguments: argparse.Namespace, environ: Mapping[str, str]) -> tuple[ServerConfig, dict[str, Any]]:
    """(the server's configuration, logging choices) from the command line > environment >
    file > defaults."""
    command_line = {name: getattr(arguments, name) for name in _CLI_FIELDS if getattr(arguments, name) is not None}
    environment = environment_settings(environ)
    path = find_config_file(arguments.config, environ)
    from_file = file_settings(path) if path is not None else {}
    merged = merge(DEFAULTS, from_file, environment, command_line)
    logging_choices = {"level": merged.pop("log_level"), "output": merged.pop("log_output", "stderr")}
    in_memory = merged.pop("in_memory", False)
    if in_memory:
        merged["data_dir"] = None
    shards = merged.pop("shard_count", None)
    if shards == 0:  # kevy's "automatic": the recorded layout, else one shard per CPU
        shards = None if _has_layout(merged["data_dir"]) else (os.cpu_count() or 1)
    # None (count or routing): the store adopts what the dir records (a new dir: 1, kevyhash);
    # a value other than the recorded one re-shards the dir when the store opens.
    merged["shard_count"] = shards
    merged["config_file"] = os.path.abspath(path) if path is not None else None
    return ServerConfig(**merged), logging_choices


def _has_layout(data_dir: str | None) -> bool:
    return data_dir is not None and os.path.exists(os.path.join(data_dir, "shards.meta"))


def config_from_arguments(arguments: argparse.Namespace, environ: Mapping[str, str] | None = None) -> ServerConfig:
    return resolve(arguments, os.environ if environ is None else environ)[0]


def configure_logging(choices: dict[str, Any], name: str = "kevy-server") -> None:
    output = choices["output"]
    options: dict[str, Any] = {"level": choices["level"], "format": f"%(asctime)s {name} %(levelname)s %(message)s"}
    if output == "stdout":
        options["stream"] = sys.stdout
    elif output != "stderr":
        options["filename"] = output
    logging.basicConfig(**options)


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        config, logging_choices = resolve(arguments, os.environ)
    except (SettingsError, KevyError, ValueError) as error:
        print(f"kevy-server: cannot start: {error}", file=sys.stderr)
        return 2
    configure_logging(logging_choices)
    if config.config_file is not None:
        log.info("settings read from %s", config.config_file)
    if config.cluster:
        if config.data_dir is not None:
            os.makedirs(config.data_dir, exist_ok=True)
        return run_cluster(config, logging_choices, os.getpid())
    return run_server(config)


def run_server(config: ServerConfig) -> int:
    """Open the store and serve until shut down; the exit status (see the module docstring)."""
    try:
        if config.data_dir is not None:
            os.makedirs(config.data_dir, exist_ok=True)
        server = KevyServer(config, open_in_background=True)
    except (KevyError, ValueError, OSError, AclFileError) as error:
        print(f"kevy-server: cannot start: {error}", file=sys.stderr)
        return 2

    def on_signal(number: int, frame: object) -> None:
        log.info("signal %d: shutting down", number)
        server.request_shutdown(save=None)  # the store decides: a long log gets a snapshot

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.serve_forever()
    except OSError as error:
        print(f"kevy-server: cannot listen on {config.bind}:{config.port}: {error}", file=sys.stderr)
        server.store.shutdown()
        return 2
    if server.open_error is not None:
        print(f"kevy-server: cannot start: {server.open_error}", file=sys.stderr)
        return 2
    return 1 if server.shutdown_error is not None or server.loop_error is not None else 0


if __name__ == "__main__":
    sys.exit(main())
