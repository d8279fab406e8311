"""ACL users on kevy-server: against redis-server 7.0, then over redis-py, redis.asyncio and
the aclfile.

Method:
- differential sessions (`differential_sessions.compare`, RESP2 and RESP3): ACL SETUSER with
  every kind of rule and every error, GETUSER / LIST descriptions, DELUSER, CAT, DRYRUN,
  GENPASS's errors, AUTH as users, NOPERM refusals of commands, subcommands, keys (read and
  write patterns) and channels, a refused command inside MULTI, and ACL LOG. Redis lists
  the single commands of a description, and ACL CAT its commands, in a hash order that its
  random seed picks per process, so those are compared as sets (`normalized_acl`); the log's
  ages and client lines are blanked;
- behaviour over real sockets: redis-py's default constructor (RESP3) and `protocol=2` and
  redis.asyncio log in with `username=` / `password=`; DELUSER closes the user's
  connections; a SETUSER that takes a channel away closes the user's subscribers; ACL SAVE
  writes the aclfile with a durable replace (`CountingFileSystem` is not in this path, so
  the test checks the temporary file is gone and the content reloads), a restart reads it,
  ACL LOAD of a bad file changes nothing and names the line; `requirepass` is the default
  user's password.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading

import pytest
import redis
import redis.asyncio
from differential_sessions import compare, lines
from redis_oracle import redis_port  # noqa: F401 -- fixture
from server_support import RawClient, running_server

pytestmark = pytest.mark.timeout(120)

_RULE_TEXT = re.compile(rb"^(user \S+ .*?)([+-]@all(?: .*)?)$")


def _normalize_commands(text: bytes) -> bytes:
    """A command description with its single-command rules sorted (categories keep their
    order: Redis chooses them deterministically)."""
    head, *rest = text.split(b" ")
    categories = [token for token in rest if token[1:2] == b"@"]
    singles = sorted(token for token in rest if token[1:2] != b"@")
    return b" ".join([head, *categories, *singles])


def _normalize_description(line: bytes) -> bytes:
    """ACL LIST: `user name flags... keys... channels... <command rules> (selectors)`."""
    outside, *selectors = line.split(b" (")
    found = _RULE_TEXT.match(outside)
    if found is not None:
        outside = found.group(1) + _normalize_commands(found.group(2))
    normalized = [outside]
    for selector in selectors:
        inner = selector.rstrip(b")")
        parts = inner.split(b" ")
        index = next((position for position, token in enumerate(parts) if token in (b"+@all", b"-@all")), len(parts))
        normalized.append(b" ".join(parts[:index]) + b" " + _normalize_commands(b" ".join(parts[index:])) + b")")
    return b" (".join(normalized)


def normalized_acl(reply):
    """Blank what differs between two correct servers in ACL replies (see the module doc)."""
    if isinstance(reply, list) and reply and all(isinstance(item, bytes) for item in reply):
        if all(item.startswith(b"user ") for item in reply):
            return [_normalize_description(item) for item in reply]
        if all(re.fullmatch(rb"[a-z_|-]+", item) for item in reply) and len(reply) > 25:
            return sorted(reply)  # ACL CAT <category>: Redis's hash order
    if isinstance(reply, (list, tuple)):
        items = list(reply[1]) if isinstance(reply, tuple) and reply[:1] == ("map",) else (
            list(reply) if isinstance(reply, list) else None)
        if items is not None and len(items) % 2 == 0 and b"commands" in items[0::2]:
            for index in range(0, len(items), 2):
                if items[index] == b"commands":
                    items[index + 1] = _normalize_commands(items[index + 1])
                elif items[index] == b"selectors":
                    items[index + 1] = [normalized_acl(selector) for selector in items[index + 1]]
            return ("map", items) if isinstance(reply, tuple) else items
        if items is not None and b"age-seconds" in items[0::2]:
            for index in range(0, len(items), 2):
                if items[index] in (b"age-seconds", b"client-info"):
                    items[index + 1] = "*"
            return ("map", items) if isinstance(reply, tuple) else items
        if isinstance(reply, list):
            return [normalized_acl(item) for item in reply]
    return reply


SETUSER_SCRIPT = """
ACL WHOAMI
ACL USERS
ACL LIST
ACL GETUSER default
ACL SETUSER alice
ACL LIST
ACL GETUSER alice
ACL SETUSER alice on >p1 >p2 ~a* %R~r* %W~w* %RW~b* &ch* +@read -get +set +config|get
ACL LIST
ACL GETUSER alice
ACL SETUSER alice -@all +get +set -get
ACL LIST
ACL SETUSER alice +@all -@dangerous
ACL LIST
ACL SETUSER alice -@all +@string +@hash -hset +client|id +client|list
ACL LIST
ACL SETUSER alice resetkeys allkeys resetchannels nopass
ACL LIST
ACL SETUSER alice <p1 resetpass >p3 !f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a
ACL SETUSER alice reset
ACL LIST
ACL GETUSER alice
ACL SETUSER alice skip-sanitize-payload on
ACL GETUSER alice
ACL SETUSER x foo
ACL SETUSER x +nosuch
ACL SETUSER x +@nosuch
ACL SETUSER x -nosuch
ACL SETUSER x <nopw
ACL SETUSER x #abc
ACL SETUSER x !abc
ACL SETUSER x %X~a
ACL SETUSER x %~a
ACL SETUSER x allkeys ~a
ACL SETUSER x allchannels &a
ACL SETUSER x (+get
ACL SETUSER x (+nosuch)
ACL SETUSER x +config|
ACL SETUSER x +config|nosuch
ACL SETUSER x +client|id|x
ACL USERS
ACL SETUSER x on > +get (~x +get) (+set ~y &c)
ACL GETUSER x
ACL LIST
ACL SETUSER x clearselectors +select|0 +config -config|set
ACL LIST
ACL SETUSER x nocommands allcommands -@write
ACL GETUSER x
ACL DELUSER default
ACL DELUSER nosuch alice
ACL GETUSER nosuch
ACL CAT
ACL CAT nosuch
ACL CAT connection
ACL CAT dangerous
ACL GENPASS 0
ACL GENPASS 4097
ACL GENPASS x
ACL DRYRUN nosuch get a
ACL DRYRUN x nosuchcmd
ACL DRYRUN x set a
ACL DRYRUN x get a
ACL DRYRUN x set a b
ACL SAVE
ACL LOAD
ACL LOG RESET
ACL LOG
ACL LOG x
ACL FOO
ACL HELP
ACL
"""


@pytest.mark.redis
@pytest.mark.parametrize("protocol", [2, 3])
def test_acl_setuser_getuser_list_and_errors_answer_like_redis(redis_port, tmp_path, protocol) -> None:  # noqa: F811
    steps = [("c", b"HELLO %d\r\n" % protocol, 1)] + lines("c", SETUSER_SCRIPT)
    compare(redis_port, tmp_path / "data", steps, normalize_reply=normalized_acl)


@pytest.mark.redis
@pytest.mark.parametrize("protocol", [2, 3])
def test_users_are_refused_what_their_rules_deny_like_redis(redis_port, tmp_path, protocol) -> None:  # noqa: F811
    hello = b"HELLO %d\r\n" % protocol
    admin = [
        ("a", b"ACL SETUSER carol on >secret ~c* %R~r* %W~w* &news* +get +set +client|getname +publish +subscribe "
              b"+psubscribe +multi +exec +object|encoding\r\n", 1),
        ("a", b"ACL SETUSER off_user off >pw +@all ~*\r\n", 1),
        ("a", b"ACL LOG RESET\r\n", 1),
    ]
    user = lines("u", """
    AUTH carol wrong
    AUTH nosuch x
    AUTH off_user pw
    AUTH carol secret
    ACL WHOAMI
    GET c1
    GET d1
    GET r1
    SET r1 x
    SET w1 x
    GET w1
    SET c1 x
    MGET c1
    CLIENT GETNAME
    CLIENT LIST
    CONFIG GET x
    PING
    PUBLISH news:1 x
    PUBLISH other x
    OBJECT ENCODING c1
    OBJECT ENCODING d1
    MULTI
    GET d1
    PING
    EXEC
    """)
    subscribe = [("u", b"SUBSCRIBE chan\r\n", 1), ("u", b"PSUBSCRIBE news*\r\n", 1)]
    log = [("a", b"ACL LOG\r\n", 1), ("a", b"ACL LOG 1\r\n", 1)]
    steps = [("a", hello, 1), ("u", hello, 1)] + admin + user + subscribe + log
    compare(redis_port, tmp_path / "data", steps, normalize_reply=normalized_acl)


@pytest.mark.redis
def test_hello_auth_with_a_user_answers_like_redis(redis_port, tmp_path) -> None:  # noqa: F811
    steps = [
        ("a", b"ACL SETUSER dave on >pw +@all ~*\r\n", 1),
        ("u", b"HELLO 3 AUTH dave wrong\r\n", 1),
        ("u", b"HELLO 3 AUTH dave pw SETNAME d\r\n", 1),
        ("u", b"ACL WHOAMI\r\nCLIENT GETNAME\r\n", 2),
        ("u", b"RESET\r\nACL WHOAMI\r\n", 2),
    ]
    compare(redis_port, tmp_path / "data", steps, normalize_reply=normalized_acl)


# -- behaviour over real sockets ----------------------------------------------------------------


def test_redis_py_and_asyncio_log_in_as_users_in_both_protocols(tmp_path) -> None:
    with running_server(tmp_path / "data") as server:
        admin = redis.Redis(port=server.port)
        assert admin.acl_setuser("app", enabled=True, passwords=["+s3cret"], keys=["app:*"],
                                 commands=["+@read", "+@write", "-@dangerous", "+acl|whoami"]) is True
        for protocol in (2, 3):
            user = redis.Redis(port=server.port, username="app", password="s3cret", protocol=protocol)
            assert user.acl_whoami() in ("app", b"app")  # redis-py decodes it in RESP2 only
            assert user.set("app:1", "v") is True and user.get("app:1") == b"v"
            with pytest.raises(redis.exceptions.NoPermissionError, match="keys used as arguments"):
                user.get("other")
            with pytest.raises(redis.exceptions.NoPermissionError, match="'flushall' command"):
                user.flushall()
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=server.port, username="app", password="wrong").ping()

        async def asynchronous() -> bytes:
            client = redis.asyncio.Redis(port=server.port, username="app", password="s3cret")
            try:
                await client.set("app:async", "x")
                return await client.get("app:async")
            finally:
                await client.aclose()

        assert asyncio.run(asynchronous()) == b"x"
        described = admin.acl_getuser("app")
        assert described["keys"] == ["~app:*"] and "on" in described["flags"]


def test_deluser_closes_that_users_connections_and_setuser_closes_lost_subscribers(tmp_path) -> None:
    with running_server(tmp_path / "data") as server:
        admin = RawClient(server.port)
        admin.call(b"ACL SETUSER eve on >pw +@all ~* resetchannels &feed\r\n")
        worker = RawClient(server.port)
        assert worker.call(b"AUTH eve pw\r\n") == b"OK"
        subscriber = RawClient(server.port)
        assert subscriber.call(b"AUTH eve pw\r\n") == b"OK"
        assert subscriber.call(b"SUBSCRIBE feed\r\n") == [b"subscribe", b"feed", 1]
        assert admin.call(b"ACL SETUSER eve resetchannels &other\r\n") == b"OK"
        assert subscriber.is_closed_by_server()  # its channel is no longer allowed
        assert worker.call(b"PING\r\n") == b"PONG"  # not subscribed: stays
        assert admin.call(b"ACL DELUSER eve\r\n") == 1
        assert worker.is_closed_by_server()
        assert admin.call(b"PING\r\n") == b"PONG"


def test_acl_save_writes_the_aclfile_by_durable_replace_and_a_restart_reads_it(tmp_path) -> None:
    aclfile = tmp_path / "users.acl"
    aclfile.write_text("user default on nopass ~* &* +@all\n")
    with running_server(tmp_path / "data", aclfile=str(aclfile)) as server:
        r = redis.Redis(port=server.port)
        assert r.acl_setuser("reader", enabled=True, passwords=["+pw"], keys=["~r*"], commands=["+get"]) is True
        assert r.execute_command("ACL", "SAVE") == b"OK"
        assert sorted(os.listdir(tmp_path)) == ["data", "users.acl"]  # no temporary file left
        saved = aclfile.read_text()
        assert saved.startswith("user default on nopass ~* &* +@all\nuser reader on #")
        assert saved.rstrip("\n").endswith("~r* resetchannels -@all +get")
        aclfile.write_text(saved + "user broken on +nosuch\n")
        with pytest.raises(redis.ResponseError, match=r"users.acl:3: Error in applying operation '\+nosuch'"):
            r.execute_command("ACL", "LOAD")
        assert r.acl_users() == [b"default", b"reader"] or r.acl_users() == ["default", "reader"]
        aclfile.write_text(saved)
    with running_server(tmp_path / "data", aclfile=str(aclfile)) as restarted:
        user = redis.Redis(port=restarted.port, username="reader", password="pw")
        assert user.get("r1") is None
        with pytest.raises(redis.exceptions.NoPermissionError):
            user.set("r1", "x")


def test_a_bad_aclfile_stops_the_start_with_the_line_named(tmp_path) -> None:
    aclfile = tmp_path / "users.acl"
    aclfile.write_text("user ok on nopass +@all\nnot a user line\n")
    result = subprocess.run([sys.executable, "-m", "kevy_server", "--port", "0", "--dir", str(tmp_path / "d"),
                             "--aclfile", str(aclfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "users.acl:2 should start with user keyword followed by the username" in result.stderr


def test_requirepass_is_the_default_users_password(tmp_path) -> None:
    with running_server(tmp_path / "data", requirepass="hunter2") as server:
        with RawClient(server.port) as raw:
            assert str(raw.call(b"GET x\r\n")).startswith("NOAUTH")
            assert raw.call(b"AUTH default hunter2\r\n") == b"OK"
            assert raw.call(b"ACL GETUSER default\r\n")[1] == [b"on"]
            assert raw.call(b"CONFIG SET requirepass other\r\n") == b"OK"
            assert raw.call(b"ACL WHOAMI\r\n") == b"default"  # existing connections stay
        with RawClient(server.port) as again:
            assert str(again.call(b"AUTH hunter2\r\n")).startswith("WRONGPASS")
            assert again.call(b"AUTH other\r\n") == b"OK"
            assert again.call(b"CONFIG SET requirepass \"\"\r\n") == b"OK"
            assert again.call(b"ACL GETUSER default\r\n")[1] == [b"on", b"nopass"]


def test_an_unrestricted_user_keeps_the_fast_path_and_a_restricted_one_is_checked(tmp_path) -> None:
    """The default user and `+@all ~* &*` users take the unchecked path; a user with limits
    is checked on every request, including pipelined ones from other threads."""
    with running_server(tmp_path / "data") as server:
        admin = redis.Redis(port=server.port)
        admin.acl_setuser("full", enabled=True, nopass=True, keys=["*"], channels=["*"], commands=["+@all"])
        admin.acl_setuser("narrow", enabled=True, nopass=True, keys=["n:*"], commands=["+set", "+get"])
        results: list = []

        def work(name: str) -> None:
            client = redis.Redis(port=server.port, username=name, password="x")
            pipeline = client.pipeline(transaction=False)
            for index in range(200):
                pipeline.set(f"n:{index}" if index % 2 else f"other:{index}", index)
            results.append((name, pipeline.execute(raise_on_error=False)))

        threads = [threading.Thread(target=work, args=(name,)) for name in ("full", "narrow")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        outcome = dict(results)
        assert all(reply is True for reply in outcome["full"])
        assert all((reply is True) == (index % 2 == 1) for index, reply in enumerate(outcome["narrow"]))
