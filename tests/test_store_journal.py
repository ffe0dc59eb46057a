"""store/journal.py: the append-only log of finished points: intact records read back, a torn last
record skipped and truncated on resume, another run's journal ignored; the lock of one writer."""

from __future__ import annotations

import os

import numpy as np
import pytest

from landscape.errors import LandscapeError
from landscape.store import journal
from landscape.store.files import journal_path, lock_path
from landscape.store.journal import JournalWriter, Lock, read_journal

METRICS = ["train_loss", "train_acc"]


def _write(path, run_id="run-1"):
    w = JournalWriter(path, run_id, METRICS, size=10)
    w.open()
    w.append(np.array([0, 3]), {"train_loss": np.array([1.5, 2.5]), "train_acc": np.array([10.0, 20.0])})
    w.append_attrs({"plan/batch_size": 7})
    w.append(np.array([5]), {"train_loss": np.array([np.inf])})  # a metric not given is NaN
    w.close()


def test_records_and_attributes_read_back(tmp_path):
    path = tmp_path / "s.h5"
    _write(path)
    got = read_journal(path, "run-1", len(METRICS), size=10)
    assert [r[0].tolist() for r in got.records] == [[0, 3], [5]]
    np.testing.assert_array_equal(got.records[0][1], [[1.5, 2.5], [10.0, 20.0]])
    assert got.records[1][1][0, 0] == np.inf and np.isnan(got.records[1][1][1, 0])
    assert got.attrs == {"plan/batch_size": 7} and got.end == os.path.getsize(journal_path(path))
    assert read_journal(path, "another run", len(METRICS), size=10).records == []  # left over from an earlier file
    assert read_journal(tmp_path / "none.h5", "run-1", len(METRICS)).end == 0


def test_a_torn_last_record_is_skipped_then_cut_off(tmp_path):
    path = tmp_path / "s.h5"
    _write(path)
    whole = read_journal(path, "run-1", len(METRICS), size=10)
    with open(journal_path(path), "ab") as f:
        f.write(b"LSR1\x02\x00\x00\x00garbage")  # a process killed while appending
    assert read_journal(path, "run-1", len(METRICS), size=10).end == whole.end
    w = JournalWriter(path, "run-1", METRICS, size=10)
    w.open()  # resuming truncates the torn tail, then appends after the intact records
    w.append(np.array([9]), {"train_loss": np.array([0.5]), "train_acc": np.array([50.0])})
    w.close()
    got = read_journal(path, "run-1", len(METRICS), size=10)
    assert [r[0].tolist() for r in got.records] == [[0, 3], [5], [9]]


def test_points_outside_the_surface_end_the_journal(tmp_path):
    path = tmp_path / "s.h5"
    _write(path)
    assert len(read_journal(path, "run-1", len(METRICS), size=10).records) == 2
    assert len(read_journal(path, "run-1", len(METRICS), size=4).records) == 1  # point 5 of a 4-point surface
    assert len(read_journal(path, "run-1", len(METRICS), size=3).records) == 0


def test_the_lock_keeps_one_writer_and_goes_with_it(tmp_path):
    path = tmp_path / "s.h5"
    with Lock(path):
        assert lock_path(path).read_text() == f"process {os.getpid()}"
        with Lock(path):  # re-entrant within a process
            pass
        assert lock_path(path).exists()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # another process: refused while this one holds the lock
            try:
                journal._held.clear()  # (the fork copied this process's record of the locks it holds)
                try:
                    with Lock(path):
                        os.write(write, b"locked")
                except LandscapeError as e:
                    os.write(write, str(e).encode())
            finally:
                os._exit(0)  # never back into the test runner
        os.waitpid(pid, 0)
        os.close(write)
        said = os.read(read, 200).decode()
        os.close(read)
        assert said == f"s.h5 is being written by process {os.getpid()}; wait for it to finish, or use another out"
    assert not lock_path(path).exists()


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_a_planted_journal_link_is_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    journal_path(tmp_path / "s.h5").symlink_to(victim)
    with pytest.raises(LandscapeError, match="symbolic link"):
        JournalWriter(tmp_path / "s.h5", "run-1", METRICS).open()
    assert victim.read_text() == "keep me"
