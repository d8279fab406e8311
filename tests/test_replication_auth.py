"""kevy as a replica of a password-protected redis-server 7.0 (`masterauth`, `masteruser`).

Method: a real master with `requirepass` (or an ACL user allowed only what a replica needs)
holds keys of every type; kevy follows it. With a wrong `masterauth` the master's ACL LOG
records kevy's refused AUTH and kevy holds nothing; CONFIG SET to the right password makes
the next retry sync (the master's WAIT counts kevy, the keyspaces are equal); the
`--masteruser` / `--masterauth` options authenticate as an ACL user from the start.
Bounded waits only.
"""

from __future__ import annotations

import pytest
import redis
from redis_processes import keyspace_dump, preload, redis_process, wait_until
from server_support import client, running_server, spawn_server

pytestmark = pytest.mark.redis

MASTER_OPTIONS = ("--repl-diskless-sync-delay", "0")


def _connected(kevy: redis.Redis) -> bool:
    return kevy.execute_command("ROLE")[3] == b"connected"


def _refused_auths(master: redis.Redis) -> list[dict]:
    return [entry for entry in master.acl_log() if entry["reason"] == "auth"]


def test_masterauth_set_at_run_time_lets_the_replica_sync(tmp_path) -> None:
    with redis_process("--requirepass", "secret", *MASTER_OPTIONS) as master:
        upstream = master.client(password="secret")
        preload(upstream, 200)
        with running_server(tmp_path / "kevy") as server:
            kevy = client(server)
            assert kevy.config_get("master*") == {"masterauth": "", "masteruser": ""}
            assert kevy.config_set("masterauth", "wrong")
            assert kevy.execute_command("REPLICAOF", "127.0.0.1", str(master.port)) == b"OK"
            refused = wait_until(lambda: _refused_auths(upstream), "the master to refuse kevy's AUTH")
            assert refused[0]["username"] == "default" and refused[0]["object"] == "AUTH"
            assert kevy.info("replication")["master_link_status"] == "down"
            assert kevy.dbsize() == 0
            assert kevy.config_set("masterauth", "secret")
            assert kevy.config_get("masterauth") == {"masterauth": "secret"}
            wait_until(lambda: _connected(kevy), "kevy to sync with the right password")
            upstream.set("after", "the sync")
            assert upstream.execute_command("WAIT", 1, 20000) == 1
            assert keyspace_dump(kevy) == keyspace_dump(upstream)


def test_masteruser_and_masterauth_options_authenticate_as_an_acl_user(tmp_path) -> None:
    with redis_process("--requirepass", "admin-secret", *MASTER_OPTIONS) as master:
        upstream = master.client(password="admin-secret")
        assert upstream.acl_setuser("replicator", enabled=True, passwords=["+repl-secret"],
                                    commands=["+psync", "+replconf", "+ping"])
        preload(upstream, 120)
        process, port = spawn_server(["--dir", str(tmp_path / "kevy"), "--replicaof", f"127.0.0.1 {master.port}",
                                      "--masteruser", "replicator", "--masterauth", "repl-secret"])
        try:
            kevy = redis.Redis(port=port, socket_timeout=10)
            wait_until(lambda: _connected(kevy), "kevy to sync as the ACL user")
            assert upstream.execute_command("WAIT", 1, 20000) == 1
            assert keyspace_dump(kevy) == keyspace_dump(upstream)
            assert kevy.config_get("master*") == {"masterauth": "repl-secret", "masteruser": "replicator"}
            assert _refused_auths(upstream) == []
        finally:
            process.terminate()
            process.wait(timeout=20)
