"""kevy-server takes the Rust kevy's interface: --threads, KEVY_* variables, a TOML file.

Method: `cli.resolve` on parsed arguments with a fake environment (no process state is
touched) for the precedence command line > environment > file > defaults, each key of
kevy's file schema, the refusals and their texts; then real `python -m kevy_server`
processes started with a file and variables, asked over the socket what they run with
(CONFIG GET, INFO), and one started with a kevy.toml found by kevy's search order.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis
from server_support import spawn_server

from kevy_server.cli import build_parser, resolve
from kevy_server.settings import SettingsError

pytestmark = pytest.mark.timeout(120)


def settings(arguments: list[str], environ: dict[str, str] | None = None):
    return resolve(build_parser().parse_args(arguments), environ or {})


def test_defaults_apply_when_nothing_is_given(tmp_path) -> None:
    config, logging_choices = settings(["--dir", str(tmp_path / "d")])
    # No shard count: the store adopts the dir's recorded layout (a new dir gets 1 shard).
    assert (config.port, config.bind, config.shard_count, config.appendonly) == (6379, "127.0.0.1", None, True)
    assert config.appendfsync.value == "everysec" and config.cluster is False and config.config_file is None
    assert logging_choices == {"level": "INFO", "output": "stderr"}


def test_command_line_beats_environment_beats_file(tmp_path) -> None:
    data_dir = tmp_path / "from-file"
    toml = tmp_path / "kevy.toml"
    toml.write_text(f'[server]\nbind = "10.0.0.1"\nport = 7001\nthreads = 4\ndata_dir = "{data_dir}"\n'
                    '[persistence]\naof = true\nappendfsync = "always"\n[cluster]\nenabled = false\n')
    from_file, _ = settings(["--config", str(toml)])
    assert (from_file.bind, from_file.port, from_file.shard_count, from_file.data_dir) == ("10.0.0.1", 7001, 4, str(data_dir))
    assert from_file.appendfsync.value == "always" and from_file.cluster is False
    environ = {"KEVY_BIND": "0.0.0.0", "KEVY_PORT": "7002", "KEVY_THREADS": "2", "KEVY_AOF": "off",
               "KEVY_CLUSTER": "1", "KEVY_DIR": str(tmp_path / "from-env")}
    from_env, _ = settings(["--config", str(toml)], environ)
    assert (from_env.bind, from_env.port, from_env.shard_count) == ("0.0.0.0", 7002, 2)
    assert from_env.appendonly is False and from_env.cluster is True and from_env.data_dir == str(tmp_path / "from-env")
    assert from_env.appendfsync.value == "always"  # not set by the environment: the file's
    from_cli, _ = settings(["--config", str(toml), "--port", "7003", "--threads", "3", "--bind", "127.0.0.2",
                            "--dir", str(tmp_path / "from-cli"), "--appendonly", "yes"], environ)
    assert (from_cli.bind, from_cli.port, from_cli.shard_count, from_cli.appendonly) == ("127.0.0.2", 7003, 3, True)
    assert from_cli.data_dir == str(tmp_path / "from-cli") and from_cli.cluster is True


def test_threads_is_an_alias_of_shards_and_no_aof_of_appendonly_no(tmp_path) -> None:
    assert settings(["--dir", str(tmp_path / "a"), "--threads", "5"])[0].shard_count == 5
    assert settings(["--dir", str(tmp_path / "b"), "--shards", "5"])[0].shard_count == 5
    assert settings(["--dir", str(tmp_path / "c"), "--no-aof"])[0].appendonly is False
    automatic = settings(["--dir", str(tmp_path / "d"), "--threads", "0"])[0]
    assert automatic.shard_count == (os.cpu_count() or 1)


def test_replication_options_of_the_command_line(tmp_path) -> None:
    config, _ = settings(["--dir", str(tmp_path / "r"), "--masterauth", "pw", "--masteruser", "repl",
                          "--min-replicas-to-write", "2", "--min-replicas-max-lag", "5"])
    assert (config.masterauth, config.masteruser) == ("pw", "repl")
    assert (config.min_replicas_to_write, config.min_replicas_max_lag_s) == (2, 5)
    defaults, _ = settings(["--dir", str(tmp_path / "d")])
    assert (defaults.masterauth, defaults.masteruser) == (None, None)
    assert (defaults.min_replicas_to_write, defaults.min_replicas_max_lag_s) == (0, 10)
    with pytest.raises(ValueError):
        settings(["--dir", str(tmp_path / "n"), "--min-replicas-to-write", "-1"])


def test_every_key_of_kevys_file_schema_is_read(tmp_path) -> None:
    toml = tmp_path / "kevy.toml"
    toml.write_text(
        '[server]\nbind = "127.0.0.1"\nport = 0\nthreads = 2\n'
        f'data_dir = "{tmp_path / "d"}"\nrequirepass = "pw"\nmaxclients = 50\ntimeout = 30\n'
        '[persistence]\naof = true\nappendfsync = "no"\nauto_aof_rewrite_percentage = 200\n'
        'auto_aof_rewrite_min_size = "128mb"\n'
        '[memory]\nmaxmemory = 0\nmaxmemory_policy = "noeviction"\n'
        '[expiry]\nhz = 10\nsample = 40\n'
        '[log]\nlevel = "warn"\noutput = "stdout"\n'
        '[notification]\nnotify_keyspace_events = "KEA"\n'
        '[slowlog]\nslower_than_micros = 500\nmax_len = 64\n'
        '[cluster]\nenabled = true\nport_base = 9000\n'
        '[advanced]\nspin_limit = 256\npark_timeout_ms = 50\ntick_check_every = 64\nring_capacity = 1024\n'
        '[replication]\nrole = "standalone"\n'
    )
    config, logging_choices = settings(["--config", str(toml)])
    assert config.shard_count == 2 and config.requirepass == "pw" and config.maxclients == 50
    assert config.idle_timeout_s == 30 and config.appendfsync.value == "no"
    assert config.auto_rewrite_percentage == 200 and config.auto_rewrite_min_size_bytes == 128 * 1024 * 1024
    assert config.expiry_samples_per_tick == 40 and config.notify_keyspace_events == "KEA"
    assert config.slowlog_log_slower_than_us == 500 and config.slowlog_max_len == 64
    assert config.cluster is True and config.cluster_port_base == 9000
    assert config.config_file == os.path.abspath(toml)
    assert logging_choices == {"level": "WARNING", "output": "stdout"}
    store = config.store_config()
    assert store.auto_rewrite_percentage == 200 and store.expiry_samples_per_tick == 40


@pytest.mark.parametrize(("text", "message"), [
    ('[memory]\nmaxmemory = "1gb"\n', r"\[memory\]\.maxmemory: kevy-server never evicts keys"),
    ('[memory]\nmaxmemory_policy = "allkeys-lru"\n', "the policy can only be noeviction"),
    ('[expiry]\nhz = 100\n', "hz can only be 10"),
    ('[replication]\nrole = "replica"\n', "does not replicate yet"),
    ('[cluster]\npeers = "n1@h:1"\n', "no multi-node cluster"),
    ('[server]\nport = "x"\n', r"\[server\]\.port: expected integer"),
    ('[server]\nport = 70000\n', "out of range 0..65535"),
    ('[server]\nnosuch = 1\n', r"\[server\]\.nosuch: unknown \[server\] key"),
    ('[nosuch]\na = 1\n', r"unknown section \[nosuch\]"),
    ('[persistence]\nappendfsync = "sometimes"\n', "appendfsync must be"),
    ('[persistence]\nauto_aof_rewrite_min_size = "12 parsecs"\n', "not a size literal"),
    ('[log]\nlevel = "loud"\n', "log.level must be"),
    ('[server\n', "config file"),
])
def test_what_cannot_be_honoured_is_refused_naming_the_key(tmp_path, text, message) -> None:
    toml = tmp_path / "kevy.toml"
    toml.write_text(text)
    with pytest.raises(SettingsError, match=message):
        settings(["--config", str(toml), "--dir", str(tmp_path / "d")])


@pytest.mark.parametrize(("environ", "message"), [
    ({"KEVY_PORT": "x"}, r"\[env\] KEVY_PORT: must be 0..=65535"),
    ({"KEVY_PORT": "70000"}, "KEVY_PORT"),
    ({"KEVY_THREADS": "-1"}, r"\[env\] KEVY_THREADS: must be a non-negative integer"),
])
def test_bad_environment_values_are_refused(tmp_path, environ, message) -> None:
    with pytest.raises(SettingsError, match=message):
        settings(["--dir", str(tmp_path / "d")], environ)


def test_a_missing_config_file_is_an_error_and_autodetection_follows_kevy(tmp_path, monkeypatch) -> None:
    with pytest.raises(SettingsError, match="cannot read it"):
        settings(["--config", str(tmp_path / "absent.toml")])
    (tmp_path / "envdir").mkdir()
    (tmp_path / "envdir" / "kevy.toml").write_text("[server]\nport = 7100\n")
    found, _ = settings([], {"KEVY_DIR": str(tmp_path / "envdir")})
    assert found.port == 7100 and found.config_file == os.path.abspath(tmp_path / "envdir" / "kevy.toml")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kevy.toml").write_text("[server]\nport = 7200\n")
    assert settings(["--dir", str(tmp_path / "d")])[0].port == 7200


def test_a_server_started_from_a_file_and_variables_runs_with_them(tmp_path) -> None:
    toml = tmp_path / "kevy.toml"
    toml.write_text('[persistence]\nappendfsync = "always"\n[slowlog]\nslower_than_micros = 0\nmax_len = 7\n'
                    '[notification]\nnotify_keyspace_events = "Kx"\n')
    environment = {**os.environ, "KEVY_THREADS": "3", "KEVY_DIR": str(tmp_path / "data"), "KEVY_AOF": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "kevy_server", "--port", "0", "--config", str(toml)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
    )
    try:
        port = None
        for line in process.stdout:
            if "listening on" in line:
                port = int(line.rsplit(":", 1)[1].split()[0])
                break
        assert port is not None
        r = redis.Redis(port=port, protocol=2)
        assert r.config_get("appendfsync") == {"appendfsync": "always"}
        assert r.config_get("slowlog-max-len") == {"slowlog-max-len": "7"}
        assert r.config_get("notify-keyspace-events") == {"notify-keyspace-events": "xK"}
        assert r.info("persistence")["shards"] == 3
        assert r.info("server")["config_file"] == os.path.abspath(toml)
        r.set("a", 1)
        assert r.slowlog_len() >= 1  # every command is slow-logged (slower_than_micros = 0)
    finally:
        process.terminate()
        process.wait(20)
    assert process.returncode == 0
    assert sorted(name for name in os.listdir(tmp_path / "data") if name.startswith("aof-")) == [
        "aof-0.aof", "aof-1.aof", "aof-2.aof"]


def test_bad_settings_stop_the_start_with_status_2(tmp_path) -> None:
    toml = tmp_path / "kevy.toml"
    toml.write_text("[memory]\nmaxmemory = 5\n")
    result = subprocess.run([sys.executable, "-m", "kevy_server", "--config", str(toml), "--port", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "never evicts keys" in result.stderr
    result = subprocess.run([sys.executable, "-m", "kevy_server", "--port", "0"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "KEVY_PORT": "nope", "KEVY_DIR": str(tmp_path / "x")})
    assert result.returncode == 2 and "KEVY_PORT" in result.stderr


def test_spawned_server_helper_still_works_with_the_new_defaults(tmp_path) -> None:
    process, port = spawn_server(["--dir", str(tmp_path / "data")])
    try:
        assert redis.Redis(port=port).ping() is True
    finally:
        process.terminate()
        process.wait(20)


def test_config_rewrite_writes_the_live_settings_into_the_file(tmp_path) -> None:
    from server_support import running_server

    toml = tmp_path / "kevy.toml"
    toml.write_text('# a comment\n[server]\nthreads = 1\n[advanced]\nspin_limit = 256\n[log]\nlevel = "warn"\n')
    with running_server(tmp_path / "data", config_file=str(toml)) as server:
        r = redis.Redis(port=server.port, protocol=2)
        r.config_set("appendfsync", "always")
        r.config_set("slowlog-max-len", 9)
        r.config_set("notify-keyspace-events", "KEA")
        assert r.execute_command("CONFIG", "REWRITE") == b"OK"
    rewritten = toml.read_text()
    assert 'appendfsync = "always"' in rewritten and "max_len = 9" in rewritten
    assert "spin_limit = 256" in rewritten and 'level = "warn"' in rewritten  # the file's other keys stay
    config, _ = settings(["--config", str(toml)])  # and it reads back
    assert config.appendfsync.value == "always" and config.slowlog_max_len == 9
    assert config.notify_keyspace_events == "AKE"
    with running_server(tmp_path / "other") as plain:
        with pytest.raises(redis.ResponseError, match="running without a config file"):
            redis.Redis(port=plain.port).execute_command("CONFIG", "REWRITE")


def test_save_points_come_from_the_command_line_environment_and_file(tmp_path) -> None:
    """`--save`, `KEVY_SAVE` and `[persistence] save` in kevy's precedence; Redis's default
    when none is given; a bad one is refused naming its source."""
    assert settings([])[0].save_points == ((3600, 1), (300, 100), (60, 10000))
    toml = tmp_path / "kevy.toml"
    toml.write_text('[persistence]\nsave = "900 1"\nstop_writes_on_bgsave_error = false\n')
    from_file, _ = settings(["--config", str(toml)])
    assert from_file.save_points == ((900, 1),) and from_file.stop_writes_on_bgsave_error is False
    from_environment, _ = settings(["--config", str(toml)], {"KEVY_SAVE": "60 5"})
    assert from_environment.save_points == ((60, 5),)
    from_command_line, _ = settings(["--config", str(toml), "--save", "", "--stop-writes-on-bgsave-error", "yes"],
                                    {"KEVY_SAVE": "60 5"})
    assert from_command_line.save_points == () and from_command_line.stop_writes_on_bgsave_error is True
    with pytest.raises(SettingsError, match="KEVY_SAVE"):
        settings([], {"KEVY_SAVE": "60"})
    toml.write_text('[persistence]\nsave = "x 1"\n')
    with pytest.raises(SettingsError, match=r"\[persistence\]\.save"):
        settings(["--config", str(toml)])


def test_config_rewrite_keeps_the_save_points(tmp_path) -> None:
    from server_support import running_server

    toml = tmp_path / "kevy.toml"
    toml.write_text("[server]\nthreads = 1\n")
    with running_server(tmp_path / "data", config_file=str(toml)) as server:
        r = redis.Redis(port=server.port, protocol=2)
        r.config_set("save", "120 7")
        r.config_set("auto-aof-rewrite-percentage", 40)
        assert r.execute_command("CONFIG", "REWRITE") == b"OK"
    config, _ = settings(["--config", str(toml)])
    assert config.save_points == ((120, 7),) and config.auto_rewrite_percentage == 40
