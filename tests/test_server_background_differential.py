"""kevy-server's background-persistence replies against a real redis-server 7.0, byte for byte.

Method: each session's requests are sent in one write, so both servers read and run them in
one pass -- Redis reaps its child only in its cron, kevy commits only between turns -- which
makes "in progress" and "scheduled" deterministic on both sides. Between sessions each server
is polled until no job runs or waits. The MISCONF session makes a background save fail on
both (the data dir is moved away, so the temp file cannot be created; Redis's dir is empty,
so it is removed and made again) and compares the refusals of a write and of PING.

Needs redis-server on PATH (skipped otherwise), like every differential test here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import hiredis
import pytest
import redis
from redis_oracle import redis_server_path
from server_support import RawClient, running_server

SESSIONS = [
    b"BGSAVE\r\nBGSAVE\r\nBGSAVE SCHEDULE\r\nBGREWRITEAOF\r\nBGREWRITEAOF\r\n",
    b"BGREWRITEAOF\r\nBGREWRITEAOF\r\nBGSAVE\r\nBGSAVE SCHEDULE\r\nBGSAVE SCHEDULE\r\n",
    b"BGSAVE FOO\r\nBGSAVE SCHEDULE X\r\nBGREWRITEAOF X\r\nLASTSAVE X\r\n",
    b"MULTI\r\nSAVE\r\nEXEC\r\n",
    b"CONFIG SET save abc\r\nCONFIG SET save 100\r\nCONFIG SET save \"10 1 20\"\r\nCONFIG SET save \"0 1\"\r\n"
    b"CONFIG SET save \"100 -1\"\r\nCONFIG SET save \"100 5 10 1000\"\r\nCONFIG GET save\r\n"
    b"CONFIG SET save \"\"\r\nCONFIG GET save\r\n",
    b"CONFIG SET auto-aof-rewrite-percentage x\r\nCONFIG SET auto-aof-rewrite-percentage -1\r\n"
    b"CONFIG SET auto-aof-rewrite-percentage 70\r\nCONFIG GET auto-aof-rewrite-percentage\r\n"
    b"CONFIG SET auto-aof-rewrite-min-size 1x\r\nCONFIG SET auto-aof-rewrite-min-size -5\r\n"
    b"CONFIG SET auto-aof-rewrite-min-size 2mb\r\nCONFIG GET auto-aof-rewrite-min-size\r\n"
    b"CONFIG SET auto-aof-rewrite-min-size 3kb\r\nCONFIG GET auto-aof-rewrite-min-size\r\n"
    b"CONFIG SET stop-writes-on-bgsave-error maybe\r\nCONFIG GET stop-writes-on-bgsave-error\r\n",
]


def _count_requests(session: bytes) -> int:
    return session.count(b"\r\n")


def _transcript(port: int, session: bytes) -> list[object]:
    with RawClient(port) as raw:
        raw.send(session)
        replies = raw.replies(_count_requests(session))
    return [("error", str(reply)) if isinstance(reply, hiredis.ReplyError) else reply for reply in replies]


def _wait_idle(port: int) -> None:
    r = redis.Redis(port=port, protocol=2)
    deadline = time.monotonic() + 60
    while True:
        info = r.info("persistence")
        busy = (info["rdb_bgsave_in_progress"], info["aof_rewrite_in_progress"], info["aof_rewrite_scheduled"])
        if busy == (0, 0, 0):
            return
        assert time.monotonic() < deadline, info
        time.sleep(0.02)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def redis_with_dir(tmp_path) -> Iterator[tuple[int, str]]:
    """A redis-server of its own (save points on, AOF on) in an empty dir of this test."""
    path = redis_server_path()
    if path is None:
        pytest.skip("redis-server is not on PATH")
    directory = tmp_path / "redis"
    directory.mkdir()
    port = _free_port()
    process = subprocess.Popen(
        [path, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", "3600 1",
         "--appendonly", "yes", "--appenddirname", "aofdir"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline and process.poll() is None, "redis-server did not start"
                time.sleep(0.05)
        yield port, str(directory)
    finally:
        os.makedirs(directory, exist_ok=True)
        try:
            redis.Redis(port=port).shutdown(nosave=True)  # SIGTERM would try to save first
        except redis.RedisError:
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_background_verbs_and_settings_answer_as_redis(tmp_path, redis_with_dir) -> None:
    redis_port, _ = redis_with_dir
    with running_server(tmp_path / "kevy", save_points="3600 1") as server:
        for session in SESSIONS:
            ours = _transcript(server.port, session)
            _wait_idle(server.port)
            theirs = _transcript(redis_port, session)
            _wait_idle(redis_port)
            assert ours == theirs, session


def test_misconf_after_a_failed_bgsave_answers_as_redis(tmp_path, redis_with_dir) -> None:
    redis_port, redis_dir = redis_with_dir
    aof_dir = os.path.join(redis_dir, "aofdir")
    kevy_dir = tmp_path / "kevy"
    with running_server(kevy_dir, save_points="3600 1") as server:
        session = b"SET k 1\r\nGET k\r\nPING\r\nINCR n\r\nCONFIG SET stop-writes-on-bgsave-error no\r\nSET k 2\r\n" \
                  b"CONFIG SET stop-writes-on-bgsave-error yes\r\nSET k 3\r\n"
        moved_aof = os.path.join(str(tmp_path), "aofdir-moved")
        shutil.move(aof_dir, moved_aof)
        os.rmdir(redis_dir)  # Redis's BGSAVE writes temp-<pid>.rdb in its dir: now it cannot
        redis.Redis(port=redis_port).bgsave()
        _wait_failed(redis_port)
        theirs = _transcript(redis_port, session)
        os.makedirs(redis_dir)
        shutil.move(moved_aof, aof_dir)
        os.rename(kevy_dir, tmp_path / "kevy-moved")
        try:
            redis.Redis(port=server.port).bgsave()
            _wait_failed(server.port)
            ours = _transcript(server.port, session)
        finally:
            os.rename(tmp_path / "kevy-moved", kevy_dir)
    assert ours == theirs
    assert theirs[0][0] == "error" and theirs[0][1].startswith("MISCONF")


def _wait_failed(port: int) -> None:
    r = redis.Redis(port=port, protocol=2)
    deadline = time.monotonic() + 60
    while r.info("persistence")["rdb_last_bgsave_status"] != "err":
        assert time.monotonic() < deadline
        time.sleep(0.02)
