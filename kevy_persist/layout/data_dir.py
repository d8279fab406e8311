"""Creating a data dir whose name survives a crash.

A new directory is a name in its parent, and like any name it is durable only after
`fsync_dir` of that parent (`disk.fs`). A data dir created and filled without it may vanish
in a crash with every file in it, fsynced or not -- logs whose writes were acknowledged, an
import past its commit point. `make_data_dir` creates the directory and each missing parent,
outermost first, and makes each new name durable before creating the next inside it. A
directory that already exists is left as it is (whoever made it answers for its name).
"""

from __future__ import annotations

from kevy_persist.disk.fs import FileSystem, parent


def make_data_dir(fs: FileSystem, directory: str) -> None:
    """Create `directory` and its missing parents, each new name fsynced in its parent."""
    missing = []
    cursor = directory
    while not fs.exists(cursor):
        missing.append(cursor)
        up = parent(cursor)
        if up == cursor:
            break
        cursor = up
    for path in reversed(missing):
        fs.make_dirs(path)
        fs.fsync_dir(parent(path))
