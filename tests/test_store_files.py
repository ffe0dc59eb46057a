"""store/files.py: atomic replacement (no half-written target, no temporary file left), the names
beside a surface file, private files never opened through a link, and the plain words of a failure."""

from __future__ import annotations

import errno
import os

import pytest

from landscape.errors import LandscapeError
from landscape.store.files import (journal_path, lock_path, open_private, reason, replacing, same_file, size_text,
                                   write_bytes)


def test_replacing_leaves_the_target_whole_when_the_block_raises(tmp_path):
    target = tmp_path / "s.h5"
    target.write_bytes(b"old contents")
    with pytest.raises(RuntimeError, match="disk trouble"):
        with replacing(target) as f:
            f.write(b"half of the new")
            raise RuntimeError("disk trouble")
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]  # the temporary file is gone
    with pytest.raises(KeyboardInterrupt):
        with replacing(tmp_path / "new.h5") as f:
            f.write(b"x")
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]


def test_replacing_renames_over_the_target(tmp_path):
    target = tmp_path / "s.h5"
    target.write_bytes(b"old contents")
    with replacing(target, copy_from=target) as f:
        assert f.read() == b"old contents"  # a copy, positioned at its start
        f.seek(0, os.SEEK_END)
        f.write(b" and more")
    assert target.read_bytes() == b"old contents and more"
    assert write_bytes(tmp_path / "t.bin", b"\x00\x01") == tmp_path / "t.bin"
    assert (tmp_path / "t.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5", "t.bin"]


def test_journal_and_lock_live_beside_the_file(tmp_path):
    path = tmp_path / "runs" / "s.h5"
    assert journal_path(path) == tmp_path / "runs" / "s.h5.journal"
    assert lock_path(path) == tmp_path / "runs" / "s.h5.lock"


def test_open_private_refuses_a_link_and_a_non_regular_file(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    link = tmp_path / "s.h5.lock"
    link.symlink_to(victim)
    with pytest.raises(LandscapeError, match="is a symbolic link where landscape keeps the lock"):
        open_private(link, "the lock")
    assert victim.read_text() == "keep me"
    with pytest.raises(LandscapeError, match="is not a regular file"):
        open_private(tmp_path, "the lock", create=False, write=False)
    fd = open_private(tmp_path / "own.lock", "the lock")
    try:
        assert same_file(tmp_path / "own.lock", fd)
        (tmp_path / "own.lock").unlink()
        assert not same_file(tmp_path / "own.lock", fd)
    finally:
        os.close(fd)


def test_reason_finds_a_full_disk_in_the_chain_of_causes():
    full = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise full
        except OSError as e:
            raise RuntimeError("Can't write data (file write failed)") from e
    except RuntimeError as wrapped:
        assert reason(wrapped) == "the disk is full (No space left on device)"
    assert reason(OSError(errno.EACCES, "Permission denied")) == "Permission denied"
    assert reason(ValueError("bad\nsecond line")) == "bad"


def test_size_text():
    assert [size_text(n) for n in (812, 73_700, 3.2e9, 1.5e12)] == ["812 bytes", "73.7 KB", "3.2 GB", "1.5 TB"]


def test_a_signal_during_an_uninterruptible_step_waits_for_its_end():
    """A Ctrl-C landing while a journal is folded into its file is held until the fold is done,
    then acted on (it once left the journal behind: test_robustness's interrupted trajectory)."""
    import os
    import signal

    from landscape.store.files import uninterruptible

    steps = []
    with pytest.raises(KeyboardInterrupt):
        with uninterruptible():
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("finished")  # reached: the signal waits
    assert steps == ["finished"] and signal.getsignal(signal.SIGINT) is signal.default_int_handler
