"""Faults and concurrency: locks, signals, kill -9 at random moments, a full disk, and torchrun."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny_model
from landscape import store
from landscape.store import journal
from landscape.inputs.checkpoint import ModelSpec
from landscape.inputs.data import DataSpec
from landscape.engine import EvalSettings
from landscape.errors import LandscapeError, for_cli
from landscape.plane.grid import Grid
from landscape.run.compute import compute
from landscape.run.job import ComputeJob

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']
DEVICE = ["--device", "cpu"]  # also on a machine with a GPU: two ranks cannot share one GPU


def args(ckpt: Path, out: Path, grid: str = "-1:1:9", samples: int = 300) -> list[str]:
    return ["compute", str(ckpt), *MODEL, "--x", grid, "--y", grid, "--samples", str(samples), "--out", str(out), *DEVICE]


def run(cli: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "landscape", *cli], env=ENV, capture_output=True, text=True,
                          timeout=300, **kw)


def start(cli: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "landscape", *cli], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def values(path: Path) -> tuple[np.ndarray, np.ndarray]:
    s = store.read_surface(path)
    return s.values["train_loss"], s.computed


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "m.pt"
    torch.save(tiny_model().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The big case computed once for the module, uninterrupted, in a subprocess like the runs it
    is compared to (from a checkpoint equal to each test's `ckpt`: the same seeded weights)."""
    folder = tmp_path_factory.mktemp("reference")
    torch.save(tiny_model().state_dict(), folder / "m.pt")
    out = folder / "reference.h5"
    r = run(args(folder / "m.pt", out, "-1:1:41", 600) + ["--quiet"])
    assert r.returncode == 0, r.stderr
    return out


def test_second_writer_is_refused(tmp_path, ckpt):
    out = tmp_path / "s.h5"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'process 4242'); print('locked', flush=True); time.sleep(60)"),
        str(journal.lock_path(out))], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        r = run(args(ckpt, out))
        assert r.returncode == 2 and "being written by process 4242" in r.stderr, r.stderr
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    assert run(args(ckpt, out) + ["--quiet"]).returncode == 0  # the kernel dropped the dead holder's lock


def _wait_for_points(out: Path, proc: subprocess.Popen, minimum: int = 1, limit: float = 120.0) -> None:
    t0 = time.time()
    while time.time() - t0 < limit and proc.poll() is None:
        if out.exists():
            try:
                if values(out)[1].sum() >= minimum:
                    return
            except LandscapeError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"no progress: {proc.poll()} {proc.stderr.read() if proc.poll() is not None else ''}")


def test_sigterm_flushes_and_resumes(tmp_path, ckpt, reference):
    out = tmp_path / "s.h5"
    proc = start(args(ckpt, out, "-1:1:41", 600))
    _wait_for_points(out, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err and "Traceback" not in err
    assert not journal.journal_path(out).exists()  # merged into the file, which stands alone
    loss, computed = values(out)
    assert 0 < computed.sum() < computed.size
    ref, _ = values(reference)
    np.testing.assert_array_equal(loss[computed], ref[computed])
    assert run(args(ckpt, out, "-1:1:41", 600) + ["--quiet"]).returncode == 0
    np.testing.assert_array_equal(values(out)[0], ref)


def test_kill_9_at_random_moments_never_loses_flushed_points(tmp_path, ckpt, reference):
    out = tmp_path / "s.h5"
    ref, _ = values(reference)
    rng = random.Random(0)
    done_before = 0
    for attempt in range(6):
        proc = start(args(ckpt, out, "-1:1:41", 600))
        if attempt == 0:  # at least one kill lands after some points were flushed, however slow the machine
            _wait_for_points(out, proc)
        time.sleep(rng.uniform(0.0, 3.0))
        proc.kill()  # SIGKILL: no handler runs
        proc.wait()
        try:
            loss, computed = values(out)
        except LandscapeError as e:  # damaged: must say what to do
            assert "--overwrite" in for_cli(e.message)
            pytest.fail(f"the file was damaged by kill -9 on attempt {attempt}: {e}")
        except FileNotFoundError:
            continue
        if not out.exists():
            continue
        assert computed.sum() >= done_before, "points that were flushed were lost"
        np.testing.assert_array_equal(loss[computed], ref[computed])
        done_before = int(computed.sum())
    r = run(args(ckpt, out, "-1:1:41", 600) + ["--quiet"])
    assert r.returncode == 0, r.stderr
    loss, computed = values(out)
    assert computed.all() and done_before > 0
    np.testing.assert_array_equal(loss, ref)


def test_torn_journal_record_is_skipped(tmp_path, ckpt):
    out = tmp_path / "s.h5"
    job = ComputeJob(ckpt, Grid.linspace((-1, 1, 5), (-1, 1, 3)), out, ModelSpec(*MODEL[1::2]),
                     DataSpec("digits", samples=64), evaluation=EvalSettings(device="cpu"))
    compute(job)
    full = values(out)[0].copy()
    # a journal as a killed run leaves it: two good records, then half of a third
    run_id = store.read_surface(out).attrs["run_id"]
    with store.open_file(out, "r+") as f:
        f["computed"][...] = False
        f["train_loss"][...] = np.nan
    w = journal.JournalWriter(out, run_id, ["train_acc", "train_loss"])
    w.open()
    w.append(np.array([0, 1]), {"train_loss": full.ravel()[[0, 1]], "train_acc": np.zeros(2)})
    w.append(np.array([7]), {"train_loss": full.ravel()[[7]], "train_acc": np.zeros(1)})
    w.close()
    good = journal.journal_path(out).stat().st_size
    with open(journal.journal_path(out), "ab") as f:
        f.write(journal._record(np.array([3, 4]), np.zeros((2, 2)))[:-5])
    loss, computed = values(out)
    assert computed.sum() == 3 and np.array_equal(loss.ravel()[[0, 1, 7]], full.ravel()[[0, 1, 7]])
    compute(job)  # resumes: truncates the torn tail, computes the rest, merges
    assert not journal.journal_path(out).exists() and good > 0
    np.testing.assert_array_equal(values(out)[0], full)


def test_disk_full_keeps_written_points(tmp_path, ckpt, monkeypatch):
    out = tmp_path / "s.h5"
    job = ComputeJob(ckpt, Grid.linspace((-1, 1, 7), (-1, 1, 5)), out, ModelSpec(*MODEL[1::2]),
                     DataSpec("digits", samples=64), evaluation=EvalSettings(device="cpu"))
    real_open = journal.JournalWriter.open

    class FullDisk:  # the journal file on a disk that fills up after two point records
        def __init__(self, f):
            self.f, self.records = f, 0

        def write(self, data):
            if data.startswith(journal.RECORD):
                self.records += 1
                if self.records > 2:
                    raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

    def open_(self):
        real_open(self)
        self.file = FullDisk(self.file)

    monkeypatch.setattr(journal.JournalWriter, "open", open_)
    from landscape import engine
    monkeypatch.setattr(engine.Evaluator, "stream", lambda self, coords, **kw: (
        (s, s + 1, *self.evaluate(coords[s : s + 1])) for s in range(len(coords))))
    with pytest.raises(LandscapeError, match="the disk is full.*stay readable"):
        compute(job)
    loss, computed = values(out)
    assert computed.sum() == 2 and np.isfinite(loss[computed]).all()
    monkeypatch.undo()
    compute(job)
    assert values(out)[1].all()


def _torchrun(cli: list[str], n: int = 2) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n),
                             "--master-port", str(29500 + random.randrange(1000)), "-m", "landscape", *cli],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_torchrun_two_ranks_equal_single_process_bit_for_bit(tmp_path, ckpt):
    single, multi = tmp_path / "single.h5", tmp_path / "multi.h5"
    assert run(args(ckpt, single, "-1:1:7") + ["--quiet"]).returncode == 0
    proc = _torchrun(args(ckpt, multi, "-1:1:7") + ["--quiet"])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    a, b = store.read_surface(single), store.read_surface(multi)
    assert b.computed.all() and b.attrs["device"] == "2 x cpu"
    for name in ("train_loss", "train_acc"):
        assert np.array_equal(a.values[name], b.values[name])  # float64, bit for bit


def test_torchrun_split_data_sums_shards(tmp_path, ckpt):
    single, split = tmp_path / "single.h5", tmp_path / "split.h5"
    assert run(args(ckpt, single, "-1:1:5") + ["--quiet"]).returncode == 0
    proc = _torchrun(args(ckpt, split, "-1:1:5") + ["--quiet", "--split-data"])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    a, b = store.read_surface(single), store.read_surface(split)
    np.testing.assert_allclose(b.values["train_loss"], a.values["train_loss"], rtol=1e-6)
    np.testing.assert_array_equal(b.values["train_acc"], a.values["train_acc"])
    # an automatic range is found on all the data, as one process finds it, not on rank 0's shard
    single, split = tmp_path / "auto-single.h5", tmp_path / "auto-split.h5"
    assert run(args(ckpt, single, "auto:3") + ["--quiet"]).returncode == 0
    proc = _torchrun(args(ckpt, split, "auto:3") + ["--quiet", "--split-data"])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    a, b = store.read_surface(single), store.read_surface(split)
    np.testing.assert_allclose(b.x, a.x, rtol=1e-6)
    np.testing.assert_allclose(b.y, a.y, rtol=1e-6)


def test_torchrun_error_on_another_rank_is_reported_once(tmp_path, ckpt):
    y = np.arange(40) % 10
    y[30] = 10  # only the second rank's shard holds the bad label
    np.savez(tmp_path / "d.npz", x=np.zeros((40, 1, 8, 8), np.float32), y=y)
    proc = _torchrun(["compute", str(ckpt), *MODEL, "--data", str(tmp_path / "d.npz"), "--x", "-1:1:2",
                      "--out", str(tmp_path / "s.h5"), "--split-data", *DEVICE])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert err.count("error:") == 1 and "labels run from 0 to 10" in err, err
    # an error rank 0 finds while it checks: said once, before any file exists
    proc = _torchrun(["compute", str(ckpt), *MODEL, "--samples", "1", "--x", "-1:1:2",
                      "--out", str(tmp_path / "t.h5"), "--split-data", *DEVICE])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0 and not (tmp_path / "t.h5").exists()
    assert err.count("error:") == 1 and "--split-data needs at least one sample per rank" in err, err


def test_torchrun_rank_killed_midway_then_rerun_completes(tmp_path, ckpt, reference):
    out = tmp_path / "s.h5"
    proc = _torchrun(args(ckpt, out, "-1:1:41", 600))
    _wait_for_points(out, proc, minimum=20)
    ranks = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    victim = next(p for p in ranks if b"RANK=1\x00" in Path(f"/proc/{p}/environ").read_bytes())
    os.kill(victim, signal.SIGKILL)
    proc.communicate(timeout=300)
    assert proc.returncode != 0
    loss, computed = values(out)
    ref, _ = values(reference)
    assert 0 < computed.sum() < computed.size
    np.testing.assert_array_equal(loss[computed], ref[computed])
    proc = _torchrun(args(ckpt, out, "-1:1:41", 600) + ["--quiet"])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    np.testing.assert_array_equal(values(out)[0], ref)


def test_fsdp_two_ranks_equal_one_process_and_a_killed_rank_loses_nothing(tmp_path):
    """A Hugging Face GPT-2 sharded across 2 CPU ranks (gloo) gives one process's surface; kill -9
    of a rank midway, then the same command again, completes it with the same values."""
    pytest.importorskip("transformers")
    import lm

    folder = lm.save_gpt2(tmp_path / "gpt2")
    ids = torch.randint(0, len(lm.tokenizer()), (15, 16), generator=torch.Generator().manual_seed(0))
    np.save(tmp_path / "ids.npy", ids.numpy())  # 15 sequences: 7 and 8 per rank, so a rank runs an idle batch
    cli = lambda out: ["compute", str(folder), "--data", str(tmp_path / "ids.npy"), "--x", "-1:1:120",  # noqa: E731
                       "--batch-size", "4", "--out", str(out), *DEVICE]
    single, sharded = tmp_path / "single.h5", tmp_path / "fsdp.h5"
    compute(ComputeJob(folder, Grid.linspace((-1, 1, 120)), single, data=DataSpec(str(tmp_path / "ids.npy")),
                       evaluation=EvalSettings(device="cpu", batch_size=4)))  # one process, in this one
    proc = _torchrun(cli(sharded) + ["--fsdp"])
    _wait_for_points(sharded, proc, minimum=20)
    ranks = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    victim = next(p for p in ranks if b"RANK=1\x00" in Path(f"/proc/{p}/environ").read_bytes())
    os.kill(victim, signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0, err
    loss, computed = values(sharded)
    assert 0 < computed.sum() < computed.size, computed.sum()
    proc = _torchrun(cli(sharded) + ["--fsdp", "--quiet"])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    s = store.read_surface(sharded)
    assert s.computed.all() and s.plan["fsdp"] and s.plan["shards"] == 2 and s.attrs["device"] == "2 x cpu"
    np.testing.assert_allclose(s.values["train_loss"], store.read_surface(single).values["train_loss"], rtol=1e-6)
    np.testing.assert_allclose(loss[computed], s.values["train_loss"][computed], rtol=0)  # kept as written
