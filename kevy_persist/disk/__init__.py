"""The door to the disk and the clock: the only layer that touches `os` and time.

`fs.FileSystem` is the protocol every file operation of the core goes through (renames and
removes are not durable until `fsync_dir` of the parent); `os_fs.OsFileSystem` is the real
one, `sim.simfs.SimFileSystem` the simulator's. `clock.Clock` gives wall and monotonic time.
"""
