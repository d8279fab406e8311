"""Hand-written edge-case scripts for the differential tests (tests/test_differential_redis.py).

The scripts live in `tests/redis_scripts/<type>.txt`: one command per line, split like a
shell line (`shlex`, then `\\xHH` escapes become bytes); each runs on our keyspace and on a real redis-server, and every reply
and the final state must match. `SCRIPTS` maps each script's name to its text.
"""

from __future__ import annotations

import pathlib

_FOLDER = pathlib.Path(__file__).resolve().parent / "redis_scripts"
ORDER = ("strings", "keys", "hashes", "lists", "sets", "zsets", "extras", "bits", "random", "lcs", "geo", "sort")

SCRIPTS = {name: (_FOLDER / f"{name}.txt").read_text() for name in ORDER}
