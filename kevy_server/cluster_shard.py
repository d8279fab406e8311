"""The process serving one shard in cluster mode: `python -m kevy_server.cluster_shard JSON`.

Started by the supervisor (`cluster_supervisor.py`) with its `ServerConfig` as JSON (port =
the shard's cluster port, `cluster_shard`, `cluster_supervisor_pid`) and its logging
choices. It asks the kernel for SIGTERM when the supervisor dies (PR_SET_PDEATHSIG), and
stops at once if the supervisor is already gone, so no shard process outlives its
supervisor holding a shard's files and port; then it runs as `kevy-server` does
(`cli.run_server`): a standalone server over one shard, whose CLUSTER commands and MOVED
replies describe the cluster.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

from .cli import configure_logging, run_server
from .config import ServerConfig

_PR_SET_PDEATHSIG = 1


def _die_with_supervisor(supervisor_pid: int) -> bool:
    """Ask for SIGTERM when the parent dies; False when it is not the supervisor any more."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the supervisor's stop still reaches this process
    return os.getppid() == supervisor_pid


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    described = json.loads(arguments[0])
    config = ServerConfig(**described["config"])
    assert config.cluster_shard is not None and config.cluster_supervisor_pid is not None
    configure_logging(described["logging"], f"kevy-server[shard {config.cluster_shard}]")
    if not _die_with_supervisor(config.cluster_supervisor_pid):
        print(f"kevy-server[shard {config.cluster_shard}]: the supervisor is gone", file=sys.stderr)
        return 2
    return run_server(config)


if __name__ == "__main__":
    sys.exit(main())
