"""The master side's wire protocol byte by byte, and the backlog against a plain model.

Method: a raw socket plays the replica (no redis-server needed): SYNC must answer one
`$<length>` RDB that kevy's own decoder reads back as the keyspace; PSYNC with `capa eof`
must answer `+FULLRESYNC <replid> <offset>`, an EOF-marked RDB, and -- only after the first
REPLCONF ACK -- the stream, starting with SELECT 0, in the frames kevy logs (SPOP as SREM);
PSYNC with that replid and the next offset must answer +CONTINUE and exactly the bytes
written since. The backlog is checked against a bytes model by Hypothesis.
"""

from __future__ import annotations

import socket

import hiredis
from hypothesis import given
from hypothesis import strategies as st
from server_support import client, running_server

from kevy_persist.formats.rdb_decode import decode_rdb
from kevy_server.replication_backlog import Backlog

TIMEOUT_S = 10


class RawReplica:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.buffer = b""
        self.consumed_bytes = 0

    def send(self, *argv: bytes) -> None:
        self.sock.sendall(hiredis.pack_command(argv))

    def _more(self) -> None:
        data = self.sock.recv(65536)
        assert data, "the master closed the link"
        self.buffer += data

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._more()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._more()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._more()
        data, self.buffer = self.buffer.split(marker, 1)
        return data

    def commands(self, count: int) -> list[list[bytes]]:
        """The next `count` commands but PINGs (the master's heartbeat, due at any tick);
        every command read, PINGs included, is counted in `consumed_bytes`."""
        reader = hiredis.Reader()
        reader.feed(self.buffer)
        self.buffer = b""
        found: list[list[bytes]] = []
        while len(found) < count:
            reply = reader.gets()
            if reply is False:
                reader.feed(self.sock.recv(65536))
                continue
            self.consumed_bytes += len(hiredis.pack_command(tuple(reply)))
            if reply != [b"PING"]:
                found.append(reply)
        return found

    def close(self) -> None:
        self.sock.close()


def _keys(rdb: bytes) -> dict[bytes, object]:
    return {record[0]: record[2] for record in decode_rdb(rdb).databases.get(0, [])}


def test_sync_answers_one_length_prefixed_rdb_of_the_keyspace(tmp_path) -> None:
    with running_server(tmp_path / "kevy") as server:
        kevy = client(server)
        kevy.set("s", "v")
        kevy.rpush("l", "a", "b")
        replica = RawReplica(server.port)
        replica.send(b"SYNC")
        header = replica.line()
        assert header.startswith(b"$")
        rdb = replica.exactly(int(header[1:]))
        assert _keys(rdb) == {b"s": b"v", b"l": [b"a", b"b"]}
        replica.close()


def test_psync_full_then_stream_after_the_first_ack_then_continue(tmp_path) -> None:
    with running_server(tmp_path / "kevy") as server:
        kevy = client(server)
        kevy.config_set("repl-ping-replica-period", 100_000)  # no heartbeat between the checks
        kevy.set("before", "1")
        replica = RawReplica(server.port)
        replica.send(b"REPLCONF", b"listening-port", b"7777")
        assert replica.line() == b"+OK"
        replica.send(b"REPLCONF", b"capa", b"eof", b"capa", b"psync2")
        assert replica.line() == b"+OK"
        replica.send(b"PSYNC", b"?", b"-1")
        full, replid, offset = replica.line().split()
        assert full == b"+FULLRESYNC" and len(replid) == 40
        offset_at_snapshot = int(offset)
        preamble = replica.line()
        assert preamble.startswith(b"$EOF:") and len(preamble) == 45
        rdb = replica.until(preamble[5:])
        assert _keys(rdb) == {b"before": b"1"}
        kevy.sadd("set", "x")
        kevy.spop("set")
        assert replica.buffer == b""  # nothing follows the mark before the first ACK
        replica.send(b"REPLCONF", b"ACK", offset)
        stream = replica.commands(3)
        assert stream == [[b"SELECT", b"0"], [b"SADD", b"set", b"x"], [b"SREM", b"set", b"x"]]
        consumed = replica.consumed_bytes
        assert kevy.info("replication")["master_repl_offset"] == offset_at_snapshot + consumed
        assert kevy.execute_command("ROLE")[2] == [[b"127.0.0.1", b"7777", offset]]
        replica.close()
        consumed = kevy.info("replication")["master_repl_offset"] - offset_at_snapshot  # PINGs since
        kevy.set("while-away", "1")
        again = RawReplica(server.port)
        again.send(b"REPLCONF", b"capa", b"psync2")
        assert again.line() == b"+OK"
        again.send(b"PSYNC", replid, b"%d" % (offset_at_snapshot + consumed + 1))
        assert again.line() == b"+CONTINUE " + replid
        assert again.commands(1) == [[b"SET", b"while-away", b"1"]]
        again.close()
        assert kevy.info("stats")["sync_partial_ok"] == 1


@given(st.integers(1, 64), st.lists(st.binary(max_size=40), max_size=30), st.integers(0, 10))
def test_the_backlog_holds_the_newest_bytes_by_offset(size_bytes, appends, start_offset) -> None:
    backlog = Backlog(size_bytes, start_offset)
    stream = b""
    for data in appends:
        backlog.append(data)
        stream += data
    kept = stream[-size_bytes:] if stream else b""
    assert backlog.histlen == len(kept)
    assert backlog.end_offset == start_offset + len(stream)
    for offset in range(start_offset, start_offset + len(stream) + 3):
        held = backlog.since(offset)
        first = start_offset + len(stream) - len(kept) + 1
        if first <= offset <= backlog.end_offset + 1:
            assert held == stream[offset - start_offset - 1 :]
        else:
            assert held is None
