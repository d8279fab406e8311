"""Where kevy-server's settings come from: the command line, the environment, a TOML file.

The Rust kevy's interface, so its users switch binaries without changing scripts:
precedence is command line > environment > file > built-in defaults, each layer naming only
what it sets.

- Environment (kevy's names): `KEVY_BIND`, `KEVY_PORT` (0..65535), `KEVY_THREADS` (the shard
  count, a non-negative integer; 0: automatic), `KEVY_DIR`, `KEVY_AOF` and `KEVY_CLUSTER`
  (off for 0/off/false/no, on for anything else, as kevy reads them), and kevy-server's
  `KEVY_SAVE` (Redis's save points, `"3600 1 300 100"`; `""` for none). Other variables are
  ignored.
- File: `--config FILE`, or else the first of `$KEVY_DIR/kevy.toml`, `./kevy.toml`,
  `/etc/kevy/kevy.toml` that exists (kevy's search), read with the standard library's
  `tomllib`. kevy's keys: [server] bind, port, threads, data_dir; [persistence] aof,
  appendfsync, auto_aof_rewrite_percentage, auto_aof_rewrite_min_size (bytes or "64mb"),
  and kevy-server's save ("3600 1 300 100", Redis's save points) and
  stop_writes_on_bgsave_error (boolean);
  [memory] maxmemory, maxmemory_policy; [expiry] hz, sample; [log] level, output;
  [notification] notify_keyspace_events; [slowlog] slower_than_micros, max_len; [cluster]
  enabled, port_base; [advanced] (kevy's Rust scheduler knobs: accepted, no effect here);
  [replication] role = "standalone". kevy-server's own, in [server]: requirepass, aclfile,
  protected_mode, timeout, maxclients, max_request_bytes, routing, log_format, in_memory.
  What kevy-server cannot honour is refused, naming the file and the key, rather than
  ignored: a maxmemory other than 0 or a policy other than noeviction (kevy-server never
  evicts), an hz other than 10, a replication role or cluster election peers.
- `threads` / `--threads` / `--shards` 0 means automatic: the layout recorded in the data
  dir, else one shard per CPU (kevy's "available parallelism").

`resolve(arguments, environ)` merges the layers into the keyword arguments of
`ServerConfig` plus the logging choices; errors are `SettingsError` with the source named.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from typing import Any

from kevy_persist.layout.databases import MAX_DATABASE_COUNT
from kevy_persist.store.save_points import parse_save_points

__all__ = ["SettingsError", "environment_settings", "file_settings", "find_config_file", "merge"]

_OFF = ("0", "off", "false", "no")
_SIZE = re.compile(r"\s*([0-9]+)\s*([a-zA-Z]*)\s*")
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3,
               "t": 1024**4, "tb": 1024**4}
_LOG_LEVELS = {"trace": "DEBUG", "debug": "DEBUG", "info": "INFO", "warn": "WARNING", "warning": "WARNING",
               "error": "ERROR"}
AUTODETECT_PATHS = ("./kevy.toml", "/etc/kevy/kevy.toml")


class SettingsError(Exception):
    """A setting that cannot be used; the message names where it came from."""


# -- environment ----------------------------------------------------------------------------------


def environment_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if "KEVY_BIND" in environ:
        settings["bind"] = environ["KEVY_BIND"]
    if "KEVY_PORT" in environ:
        text = environ["KEVY_PORT"]
        if not text.isdigit() or int(text) > 65535:
            raise SettingsError(f"[env] KEVY_PORT: must be 0..=65535, got {text!r}")
        settings["port"] = int(text)
    if "KEVY_THREADS" in environ:
        text = environ["KEVY_THREADS"]
        if not text.isdigit():
            raise SettingsError(f"[env] KEVY_THREADS: must be a non-negative integer, got {text!r}")
        settings["shard_count"] = int(text)
    if "KEVY_DIR" in environ:
        settings["data_dir"] = environ["KEVY_DIR"]
    if "KEVY_AOF" in environ:
        settings["appendonly"] = environ["KEVY_AOF"] not in _OFF
    if "KEVY_CLUSTER" in environ:
        settings["cluster"] = environ["KEVY_CLUSTER"] not in _OFF
    if "KEVY_SAVE" in environ:
        settings["save_points"] = _save_points(environ["KEVY_SAVE"], "[env] KEVY_SAVE")
    return settings


# -- the TOML file --------------------------------------------------------------------------------


def find_config_file(explicit: str | None, environ: Mapping[str, str]) -> str | None:
    """The file to read: `explicit` (which must exist), else kevy's search order."""
    if explicit is not None:
        return explicit
    candidates = []
    if "KEVY_DIR" in environ:
        candidates.append(os.path.join(environ["KEVY_DIR"], "kevy.toml"))
    candidates.extend(AUTODETECT_PATHS)
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    return None


def _size(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise SettingsError(f"{where}: expected a size, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise SettingsError(f"{where}: size value {value} must be non-negative")
        return value
    if isinstance(value, str):
        found = _SIZE.fullmatch(value)
        if found is None or found.group(2).lower() not in _SIZE_UNITS:
            raise SettingsError(f"{where}: not a size literal: {value!r}")
        return int(found.group(1)) * _SIZE_UNITS[found.group(2).lower()]
    raise SettingsError(f"{where}: expected a size, got {value!r}")


def _typed(value: Any, kind: type, where: str) -> Any:
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise SettingsError(f"{where}: expected integer, got {value!r}")
    if kind is bool and not isinstance(value, bool):
        raise SettingsError(f"{where}: expected boolean, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise SettingsError(f"{where}: expected string, got {value!r}")
    return value


def _range(value: int, low: int, high: int, where: str) -> int:
    if not low <= value <= high:
        raise SettingsError(f"{where}: value {value} out of range {low}..{high}")
    return value


def file_settings(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as error:
        raise SettingsError(f"config file {path}: cannot read it: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"config file {path}: {error}") from None
    settings: dict[str, Any] = {}
    for section, table in document.items():
        if not isinstance(table, dict):
            raise SettingsError(f"config file {path}: '{section}' must be a [section]")
        reader = _SECTIONS.get(section)
        if reader is None:
            raise SettingsError(f"config file {path}: unknown section [{section}]")
        for key, value in table.items():
            reader(settings, key, value, f"config file {path}: [{section}].{key}")
    return settings


def _server(settings: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key == "bind":
        settings["bind"] = _typed(value, str, where)
    elif key == "port":
        settings["port"] = _range(_typed(value, int, where), 0, 65535, where)
    elif key == "threads":
        settings["shard_count"] = _range(_typed(value, int, where), 0, 1 << 16, where)
    elif key == "data_dir":
        settings["data_dir"] = _typed(value, str, where)
    elif key == "requirepass":
        settings["requirepass"] = _typed(value, str, where)
    elif key == "aclfile":
        settings["aclfile"] = _typed(value, str, where)
    elif key == "protected_mode":
        settings["protected_mode"] = _typed(value, bool, where)
    elif key == "timeout":
        settings["idle_timeout_s"] = _range(_typed(value, int, where), 0, 2147483647, where)
    elif key == "maxclients":
        settings["maxclients"] = _range(_typed(value, int, where), 1, 4294967295, where)
    elif key == "max_request_bytes":
        settings["max_request_bytes"] = _size(value, where)
    elif key == "routing":
        if value not in ("kevyhash", "slots"):
            raise SettingsError(f"{where}: must be 'kevyhash' or 'slots', got {value!r}")
        settings["routing"] = value
    elif key == "log_format":
        if value not in (1, 2):
            raise SettingsError(f"{where}: must be 1 or 2, got {value!r}")
        settings["log_format"] = value
    elif key == "in_memory":
        settings["in_memory"] = _typed(value, bool, where)
    elif key == "databases":
        settings["databases"] = _range(_typed(value, int, where), 1, MAX_DATABASE_COUNT, where)
    else:
        raise SettingsError(f"{where}: unknown [server] key")


def _persistence(settings: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key == "aof":
        settings["appendonly"] = _typed(value, bool, where)
    elif key == "appendfsync":
        text = _typed(value, str, where).lower()
        if text not in ("always", "everysec", "no"):
            raise SettingsError(f"{where}: appendfsync must be 'always' | 'everysec' | 'no'")
        settings["appendfsync"] = text
    elif key == "auto_aof_rewrite_percentage":
        settings["auto_rewrite_percentage"] = _range(_typed(value, int, where), 0, 4294967295, where)
    elif key == "auto_aof_rewrite_min_size":
        settings["auto_rewrite_min_size_bytes"] = _size(value, where)
    elif key == "save":
        settings["save_points"] = _save_points(_typed(value, str, where), where)
    elif key == "stop_writes_on_bgsave_error":
        settings["stop_writes_on_bgsave_error"] = _typed(value, bool, where)
    else:
        raise SettingsError(f"{where}: unknown [persistence] key")


def _save_points(text: str, where: str) -> str:
    """Redis's `save` text, checked here so a bad one is refused naming its source."""
    try:
        parse_save_points(text)
    except ValueError:
        raise SettingsError(f"{where}: invalid save points {text!r} (pairs of seconds and changes)") from None
    return text


def _memory(settings: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key == "maxmemory":
        if _size(value, where) != 0:
            raise SettingsError(f"{where}: kevy-server never evicts keys: maxmemory can only be 0")
    elif key == "maxmemory_policy":
        if _typed(value, str, where).lower() != "noeviction":
            raise SettingsError(f"{where}: kevy-server never evicts keys: the policy can only be noeviction")
    else:
        raise SettingsError(f"{where}: unknown [memory] key")


def _expiry(settings: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key == "hz":
        if _typed(value, int, where) != 10:
            raise SettingsError(f"{where}: kevy-server's ticker runs at 10 Hz; hz can only be 10")
    elif key == "sample":
        settings["expiry_samples_per_tick"] = _range(_typed(value, int, where), 1, 1 << 20, where)
    else:
        raise SettingsError(f"{where}: unknown [expiry] key")


def _log(settings: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key == "level":
        level = _LOG_LEVELS.get(_typed(value, str, where).lower())
        if level is None:
            raise SettingsError(f"{where}: log.level must be 'trace' | 'debug' | 'info' | 'warn' | 'error'")
        settings["log_level"] = level
    elif key == "output":
        settings["log_output"] = _typed(value, str, where)
    else:
        raise SettingsError(f"{where}: unknown [log] key")


def _notification(settings: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key != "notify_keyspace_events":
        raise SettingsError(f"{where}: unknown [notification] key")
    settings["notify_keyspace_events"] = _typed(value, str, where)


def _slowlog(settings: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key == "slower_than_micros":
        settings["slowlog_log_slower_than_us"] = _range(_typed(value, int, where), -1, 2**63 - 1, where)
    elif key == "max_len":
        settings["slowlog_max_len"] = _range(_typed(value, int, where), 0, 2**32 - 1, where)
    else:
        raise SettingsError(f"{where}: unknown [slowlog] key")


def _cluster(settings: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key == "enabled":
        settings["cluster"] = _typed(value, bool, where)
    elif key == "port_base":
        settings["cluster_port_base"] = _range(_typed(value, int, where), 0, 65535, where)
    elif key in ("node_id", "elect_port_base", "peers", "scopes"):
        if value not in ("", 0, []):
            raise SettingsError(f"{where}: kevy-server has no multi-node cluster (election peers, scopes)")
    else:
        raise SettingsError(f"{where}: unknown [cluster] key")


def _advanced(settings: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key not in ("spin_limit", "park_timeout_ms", "tick_check_every", "ring_capacity"):
        raise SettingsError(f"{where}: unknown [advanced] key")
    _typed(value, int, where)  # the Rust runtime's knobs: checked, without effect here


def _replication(settings: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key == "role":
        if value != "standalone":
            raise SettingsError(f"{where}: kevy-server does not replicate yet: role can only be 'standalone'")
    elif key in ("upstream", "listen_port_base", "replication_buffer_size", "reconnect_window_ms"):
        pass  # only meaningful with a role, which is refused above
    else:
        raise SettingsError(f"{where}: unknown [replication] key")


_SECTIONS = {
    "server": _server, "persistence": _persistence, "memory": _memory, "expiry": _expiry, "log": _log,
    "notification": _notification, "slowlog": _slowlog, "cluster": _cluster, "advanced": _advanced,
    "replication": _replication,
}


def merge(*layers: dict[str, Any]) -> dict[str, Any]:
    """Later layers win: merge(file, environment, command_line)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    return merged


# -- CONFIG REWRITE --------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def rewritten_file(path: str, live: dict[str, dict[str, Any]]) -> str:
    """The TOML text CONFIG REWRITE writes: the file's sections and keys as they are, with
    the `live` values (section -> key -> value) put in; comments are not kept (kevy's own
    CONFIG REWRITE does the same)."""
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        document = {}
    for section, values in live.items():
        document.setdefault(section, {}).update(values)
    lines: list[str] = []
    for section, table in document.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
        lines.append("")
    return "\n".join(lines)


def write_durably(path: str, text: str) -> None:
    """Replace `path` with `text`: a temporary file in the same directory, fsync, rename,
    fsync of the directory (after a crash the file is the old one or the new one)."""
    directory = os.path.dirname(os.path.abspath(path))
    temporary = f"{path}.tmp-{os.getpid()}"
    data = text.encode()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view):]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        os.rename(temporary, path)
    except OSError:
        os.unlink(temporary)
        raise
    directory_descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_descriptor)
    finally:
        os.close(directory_descriptor)
