"""Each crash profile and each fault on a three-call example.

Method: the same three calls -- create `/d/f`, write `hello`, fsync_dir(`/d`) or fsync -- are
made on a `SimFileSystem`; the test lists every crash image the profile allows (or what the
fault does) and states it. These are the profiles' and faults' specifications in miniature.
"""

from __future__ import annotations

import random

import pytest

from kevy_persist.errors import StorageIOError
from sim.disk import Image
from sim.faults import FaultPlan, bit_flipped_images
from sim.profiles import Limits, profile_named
from sim.simfs import SimFileSystem


def _fs_with_d(**options) -> SimFileSystem:
    """A file system holding a durable, empty `/d` (the calls' `make_dirs` is then a no-op
    step): these tests are about the files in it, not about the directory's own name."""
    return SimFileSystem.from_image(Image(("/", "/d"), ()), **options)


def _contents(images: list[Image]) -> set[tuple]:
    return {image.files for image in images}


def _three_calls_create_write_fsync_dir() -> SimFileSystem:
    fs = _fs_with_d()
    fs.make_dirs("/d")
    handle = fs.open_write("/d/f")  # 1: create (pending name)
    handle.write(b"hello")  # 2: write (pending data)
    fs.fsync_dir("/d")  # 3: the name is durable, the data is not
    return fs


def _images(profile: str, fs: SimFileSystem, cap: int = 10_000) -> set[tuple]:
    return _contents(profile_named(profile).images(fs.snapshot(), random.Random(0), Limits(cap, 10)))


def test_strict_keeps_the_synced_name_and_only_synced_data():
    """create + write + fsync_dir: the name survives, empty."""
    assert _images("strict", _three_calls_create_write_fsync_dir()) == {(("/d/f", b""),)}


def test_strict_loses_an_unsynced_name_even_with_synced_data():
    """create + write + fsync (no fsync_dir): nothing survives."""
    fs = _fs_with_d()
    fs.make_dirs("/d")
    handle = fs.open_write("/d/f")
    handle.write(b"hello")
    handle.fsync()
    assert _images("strict", fs) == {()}


def test_ext4_ordered_keeps_data_as_a_prefix_of_writes_never_garbage():
    """create + write + fsync_dir: the file is empty or holds the whole small write."""
    assert _images("ext4-ordered", _three_calls_create_write_fsync_dir()) == {
        (("/d/f", b""),), (("/d/f", b"hello"),)}


def test_ext4_ordered_splits_large_appends_at_4_kib_blocks():
    """write 10000 bytes: kept sizes are 0, 4096, 8192 or 10000."""
    fs = _three_calls_create_write_fsync_dir()
    handle = fs.open_append("/d/f")
    handle.write(b"x" * 9995)
    sizes = {len(files[0][1]) for files in _images("ext4-ordered", fs)}
    assert sizes == {0, 5, 4096, 8192, 10000}


def test_ext4_ordered_names_persist_as_a_prefix_and_renames_are_atomic():
    """create a, create b, rename a->c: name sets are a prefix of that order; never a and c."""
    fs = _fs_with_d()
    fs.make_dirs("/d")
    fs.open_write("/d/a").fsync()
    fs.open_write("/d/b").fsync()
    fs.rename("/d/a", "/d/c")
    names = {tuple(path for path, _ in files) for files in _images("ext4-ordered", fs)}
    assert names == {(), ("/d/a",), ("/d/a", "/d/b"), ("/d/b", "/d/c")}


def test_ext4_ordered_replace_by_rename_carries_the_data():
    """durable old X; write X.tmp (no fsync); rename over X: X is old or the full new data."""
    fs = _fs_with_d()
    fs.make_dirs("/d")
    old = fs.open_write("/d/X")
    old.write(b"old")
    old.fsync()
    fs.fsync_dir("/d")
    new = fs.open_write("/d/X.tmp")
    new.write(b"new data")
    fs.rename("/d/X.tmp", "/d/X")
    outcomes = {dict(files).get("/d/X") for files in _images("ext4-ordered", fs)}
    assert outcomes == {b"old", b"new data"}


def test_weakest_tears_writes_at_any_byte_with_data_zero_or_garbage_tails():
    """create + write + fsync_dir: every length 0..5, tails of data, zeros or garbage."""
    images = _images("weakest", _three_calls_create_write_fsync_dir())
    contents = {files[0][1] for files in images}
    assert {b"", b"h", b"he", b"hel", b"hell", b"hello"} <= contents
    assert b"\0\0\0\0\0" in contents and b"\0\0\0" in contents
    assert len(contents) == 1 + 3 * 5  # empty, then 5 lengths x 3 fills (all distinct here)


def test_weakest_rename_is_not_atomic_neither_old_new_or_both():
    """durable a; rename a->b without fsync_dir: images hold {a}, {b}, {}, {a, b}."""
    fs = _fs_with_d()
    fs.make_dirs("/d")
    fs.open_write("/d/a").fsync()
    fs.fsync_dir("/d")
    fs.rename("/d/a", "/d/b")
    names = {tuple(path for path, _ in files) for files in _images("weakest", fs)}
    assert names == {(), ("/d/a",), ("/d/b",), ("/d/a", "/d/b")}


def test_profiles_sample_with_the_seed_above_the_cap():
    """Above the cap the list is a seeded sample: same seed, same images; size = sample count."""
    fs = _three_calls_create_write_fsync_dir()
    profile = profile_named("weakest")
    first = profile.images(fs.snapshot(), random.Random(7), Limits(exhaustive_cap=4, sample_count=9))
    again = profile.images(fs.snapshot(), random.Random(7), Limits(exhaustive_cap=4, sample_count=9))
    assert first == again and len(first) == 9


def test_fault_eio_drops_the_pages_and_a_retried_fsync_succeeds():
    """write + fsync (EIO) + fsync: the retry returns, and every profile has lost the data."""
    fs = _fs_with_d(faults=FaultPlan("eio", step_index=3))
    fs.make_dirs("/d")  # step 0
    handle = fs.open_write("/d/f")  # step 1
    fs.fsync_dir("/d")  # step 2
    handle.write(b"hello")  # step 3 is the write; the EIO hits step 4
    fs.faults = FaultPlan("eio", step_index=4)
    with pytest.raises(StorageIOError) as failure:
        handle.fsync()
    assert failure.value.errno == 5 and failure.value.operation == "fsync"
    handle.fsync()  # the retry "succeeds"
    assert fs.read_bytes("/d/f") == b"hello"  # still readable from the page cache
    for profile in ("strict", "ext4-ordered", "weakest"):
        assert _images(profile, fs) == {(("/d/f", b""),)}, profile


def test_fault_enospc_writes_nothing_and_short_write_leaves_half():
    """write fails with ENOSPC: nothing written; a short write leaves the first half."""
    for kind, expected in (("enospc", b""), ("short-write", b"hel")):
        fs = SimFileSystem(faults=FaultPlan(kind, step_index=1))
        handle = fs.open_write("/f")
        with pytest.raises(StorageIOError) as failure:
            handle.write(b"hello!")
        assert failure.value.errno == 28
        assert fs.read_bytes("/f") == expected
        assert handle.tell() == len(expected)


def test_fault_bitflip_inverts_one_bit_of_synced_bytes_only():
    """A synced 'hello' plus pending ' world': the flipped bit lies in the first 5 bytes."""
    image = Image(("/",), (("/f", b"hello world"),))
    flipped = bit_flipped_images(image, {"/f": 5}, random.Random(1), 20)
    assert len(flipped) == 20
    for candidate in flipped:
        data = candidate.files[0][1]
        assert data[5:] == b" world"
        difference = int.from_bytes(data[:5], "big") ^ int.from_bytes(b"hello", "big")
        assert bin(difference).count("1") == 1


def _durable(fs: SimFileSystem, path: str, data: bytes):
    handle = fs.open_write(path)
    handle.write(data)
    handle.fsync()
    fs.fsync_dir("/d")
    return handle


def test_weakest_lets_an_overwrite_land_without_the_truncate_before_it():
    """durable 'A'*4096+'B'*100; truncate to 10, append 'new' (no fsync): one image keeps the
    old size with 'new' at 10, zeros to the page's end, and the cut 'B's in the next page."""
    fs = _fs_with_d()
    fs.make_dirs("/d")
    handle = _durable(fs, "/d/f", b"A" * 4096 + b"B" * 100)
    handle.truncate(10)
    handle.write(b"new")
    contents = {files[0][1] for files in _images("weakest", fs)}
    assert b"A" * 10 + b"new" + bytes(4096 - 13) + b"B" * 100 in contents
    assert b"A" * 10 + b"new" in contents and b"A" * 10 in contents
    assert b"A" * 4096 + b"B" * 100 in contents


def test_weakest_zeroes_a_truncated_page_without_the_size_change():
    """A lone shrinking truncate: the zeroed partial page may land while the size stays."""
    fs = _fs_with_d()
    fs.make_dirs("/d")
    handle = _durable(fs, "/d/f", b"A" * 4096 + b"B" * 100)
    handle.truncate(10)
    contents = {files[0][1] for files in _images("weakest", fs)}
    assert b"A" * 10 + bytes(4086) + b"B" * 100 in contents


def test_weakest_keeps_effects_inside_one_page_in_order():
    """Two appends in one page: never the second without the first (pages are written whole)."""
    fs = _fs_with_d()
    fs.make_dirs("/d")
    handle = _durable(fs, "/d/f", b"head")
    handle.write(b"one")
    handle.write(b"two")
    contents = {files[0][1] for files in _images("weakest", fs)}
    assert b"head" + b"onetwo" in contents
    assert all(b"two" not in data or b"one" in data for data in contents)
    assert b"head" + bytes(3) + b"two" not in contents


def test_weakest_lets_a_later_page_land_before_an_earlier_one():
    """Durable 4095 bytes; append 'z' (page 0) then 'y'*10 (page 1): the second page's data
    may persist without the first's (a hole of zeros under the committed size)."""
    fs = _fs_with_d()
    fs.make_dirs("/d")
    handle = _durable(fs, "/d/f", b"x" * 4095)
    handle.write(b"z")
    handle.write(b"y" * 10)
    contents = {files[0][1] for files in _images("weakest", fs)}
    assert b"x" * 4095 + b"\0" + b"y" * 10 in contents


def _new_dir_with_a_synced_file(*, sync_parent: bool) -> SimFileSystem:
    """mkdir /d (its name pending in /), /d/f written, fsynced and its name fsynced in /d;
    then, or not, fsync_dir(/): the new directory's own name."""
    fs = SimFileSystem()
    fs.make_dirs("/d")
    handle = fs.open_write("/d/f")
    handle.write(b"hello")
    handle.fsync()
    fs.fsync_dir("/d")
    if sync_parent:
        fs.fsync_dir("/")
    return fs


def _directories_and_files(profile: str, fs: SimFileSystem) -> set[tuple]:
    images = profile_named(profile).images(fs.snapshot(), random.Random(0), Limits(10_000, 10))
    return {(image.directories, image.files) for image in images}


def test_a_new_directory_whose_name_is_not_fsynced_may_vanish_with_its_files():
    """mkdir, a fully synced file in it, no fsync_dir of the parent: strict keeps neither the
    directory nor the file; ext4-ordered and weakest may keep both or lose both (never the
    file without its directory). With fsync_dir(/) every profile keeps both."""
    lost = (("/",), ())
    kept = (("/", "/d"), (("/d/f", b"hello"),))
    unsynced = _new_dir_with_a_synced_file(sync_parent=False)
    assert _directories_and_files("strict", unsynced) == {lost}
    assert _directories_and_files("ext4-ordered", unsynced) == {lost, kept}
    assert _directories_and_files("weakest", unsynced) == {lost, kept}
    synced = _new_dir_with_a_synced_file(sync_parent=True)
    for profile in ("strict", "ext4-ordered", "weakest"):
        assert _directories_and_files(profile, synced) == {kept}, profile


def test_a_nested_new_directory_needs_every_name_on_its_path():
    """make_dirs /a/b makes two pending names; fsync_dir(/a) makes b's durable, but /a's own
    name is not, so strict loses both; after fsync_dir(/) too, both are there."""
    fs = SimFileSystem()
    fs.make_dirs("/a/b")
    fs.fsync_dir("/a")
    assert _directories_and_files("strict", fs) == {(("/",), ())}
    fs.fsync_dir("/")
    assert _directories_and_files("strict", fs) == {(("/", "/a", "/a/b"), ())}


def test_a_restarted_file_system_keeps_a_pending_directory_pending():
    """from_state (the process killed, the OS alive): the new directory is listed and usable,
    and its name is still pending (strict loses it)."""
    fs = SimFileSystem()
    fs.make_dirs("/d")
    restarted = SimFileSystem.from_state(fs.snapshot())
    assert restarted.list_dir("/") == ["d"] and restarted.list_dir("/d") == []
    assert _directories_and_files("strict", restarted) == {(("/",), ())}
    assert restarted.live_image().directories == ("/", "/d")
