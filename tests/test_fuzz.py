"""Every reader of untrusted bytes under random damage (Hypothesis, derandomized so CI is
repeatable): truncations, bit flips, and datasets of the wrong type or shape. The only outcomes
allowed are a well-formed result or a LandscapeError. A seeded corpus of byte flips over a
surface file with its journal, a direction file and a Hessian file is read in child processes,
so that a crash or a hang inside libhdf5 fails the test instead of killing pytest."""

from __future__ import annotations

import io
import multiprocessing
import random
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save

from conftest import tiny_model
from landscape import store
from landscape.store import journal
from landscape.inputs.checkpoint import read_checkpoint
from landscape.inputs.data import DataSpec
from landscape.engine import EvalSettings
from landscape.errors import LandscapeError
from landscape.plane.grid import Grid
from landscape.inputs.checkpoint import ModelSpec
from landscape.store.planes import read_plane
from landscape.run.compute import compute
from landscape.run.job import ComputeJob

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

damage = st.tuples(
    st.one_of(st.none(), st.integers(0, 1 << 20)),  # truncate at (a fraction of the length)
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(1, 255)), max_size=8),  # (position, xor) flips
)


def damaged(data: bytes, how: tuple) -> bytes:
    cut, flips = how
    b = bytearray(data if cut is None else data[: cut % (len(data) + 1)])
    for pos, xor in flips:
        if b:
            b[pos % len(b)] ^= xor
    return bytes(b)


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, bytes]:
    """A surface file with a journal of pending points, and checkpoints, as bytes."""
    root = tmp_path_factory.mktemp("fuzz")
    ckpt = root / "m.pt"
    torch.save({"state_dict": tiny_model().state_dict(), "epoch": 2}, ckpt)
    out = root / "s.h5"
    compute(ComputeJob(ckpt, Grid.linspace((-1, 1, 4), (-1, 1, 3)), out, ModelSpec("landscape.models:digits_cnn",
                                                                                  '{"width": 4}'),
                       DataSpec("digits", samples=16), evaluation=EvalSettings(device="cpu")))
    pending_journal(out, [(4, 8), (8, 12)])
    buf = io.BytesIO()
    torch.save(tiny_model().state_dict(), buf)
    return {"surface": out.read_bytes(), "journal": journal.journal_path(out).read_bytes(), "checkpoint": buf.getvalue(),
            "safetensors": save(tiny_model().state_dict())}


def pending_journal(path: Path, chunks: list[tuple[int, int]]) -> None:
    """Mark every row but the first of a computed surface file missing, and journal the points of
    `chunks` (flat index ranges) as a running computation would, with an attribute after the first."""
    s = store.read_surface(path)
    with h5py.File(path, "r+") as f:
        f["computed"][1:, :] = False
    names = sorted(s.values)
    w = journal.JournalWriter(path, s.attrs["run_id"], names, size=s.computed.size)
    w.open()
    for i, (a, b) in enumerate(chunks):
        w.append(np.arange(a, b), {n: s.values[n].ravel()[a:b] for n in names})
        if i == 0:
            w.append_attrs({"finished": "now"})
    w.close()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _well_formed(s: store.Surface) -> None:
    shape = (len(s.y), len(s.x)) if s.y is not None else (len(s.x),)
    assert s.computed.shape == shape and s.computed.dtype == bool
    assert all(v.shape == shape for v in s.values.values())


@FUZZ
@given(how=damage)
def test_surface_file(tmp_path, originals, how):
    path = _write(tmp_path, "s.h5", damaged(originals["surface"], how))
    _write(tmp_path, "s.h5.journal", originals["journal"])
    try:
        _well_formed(store.read_surface(path))
        store.read_directions(path)
    except LandscapeError:
        pass


@FUZZ
@given(how=damage)
def test_journal(tmp_path, originals, how):
    path = _write(tmp_path, "s.h5", originals["surface"])
    _write(tmp_path, "s.h5.journal", damaged(originals["journal"], how))
    s = store.read_surface(path)  # a damaged journal loses its damaged records, nothing else
    _well_formed(s)
    assert s.computed.ravel()[:4].all()  # the points merged into the file are never lost


@FUZZ
@given(how=damage, kind=st.sampled_from(["checkpoint", "safetensors"]))
def test_checkpoints(tmp_path, originals, how, kind):
    path = _write(tmp_path, "m.safetensors" if kind == "safetensors" else "m.pt", damaged(originals[kind], how))
    try:
        obj = read_checkpoint(path)
        assert isinstance(obj, dict)
    except LandscapeError:
        pass


ODD_VALUES = st.sampled_from([
    np.zeros(0), np.zeros((2, 2, 2)), np.array([b"text", b"more"]), np.array([np.nan, np.inf]), np.arange(3),
    np.ones((4,), dtype=np.int8), np.full((3, 4), -1.0), np.zeros((4, 3), dtype=bool),
])


@FUZZ
@given(key=st.sampled_from(["xcoordinates", "ycoordinates", "train_loss", "train_acc", "computed",
                            "xdirection/0", "xdirection/3", "trajectory/proj_xcoord"]),
       value=ODD_VALUES, as_group=st.booleans())
def test_wrong_types_and_shapes(tmp_path, originals, key, value, as_group):
    path = _write(tmp_path, "s.h5", originals["surface"])
    with h5py.File(path, "r+") as f:
        if key in f:
            del f[key]
        if as_group:
            f.create_group(key)
        else:
            f.create_dataset(key, data=value)
    try:
        _well_formed(store.read_surface(path))
        read_plane(path, tiny_model())
    except LandscapeError:
        pass


@FUZZ
@given(how=damage)
def test_direction_file_against_a_model(tmp_path, originals, how):
    path = _write(tmp_path, "s.h5", damaged(originals["surface"], how))
    try:
        dirs = read_plane(path, tiny_model())
        assert dirs.y is not None and list(dirs.x) == list(dict(tiny_model().named_parameters()))
    except LandscapeError:
        pass


# ------------------------------------------------------------ byte flips, each read in a child
# libhdf5 can crash (SIGSEGV) or spin forever on some damage instead of raising, so these cases
# run in forked child processes: a child killed by a signal, or one that does not finish, fails
# the test, where in the same process it would take pytest down with it. The files are made the
# same way every time (only the run_id differs), so a seed names the same damage on every run.

CORPUS_CASES = 105  # the kinds take turns; about 70 ms a case
# Seeds whose damage killed the reader before these checks (SIGSEGV in H5Aread of a string
# attribute whose type flags were flipped) or hung it (a global heap that loops forever).
CORPUS_KNOWN = [("surface", 676), ("surface", 1029), ("surface", 1170), ("hessian", 854)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, bytes]:
    """A surface file with a journal of pending points, a direction file of the paper's code
    (unnamed tensors) and a Hessian file, as bytes."""
    from test_readers import hessian_file, surface_file

    root = tmp_path_factory.mktemp("corpus")
    path = surface_file(root / "s.h5")
    pending_journal(path, [(3, 6)])
    paper = root / "d.h5"
    with h5py.File(paper, "w") as f:
        for g in ("xdirection", "ydirection"):
            group = f.create_group(g)
            for i, t in enumerate(tiny_model().parameters()):
                group.create_dataset(str(i), data=torch.full_like(t, 0.5 if g == "xdirection" else -0.5).numpy())
    return {"surface": path.read_bytes(), "journal": journal.journal_path(path).read_bytes(),
            "directions": paper.read_bytes(), "hessian": hessian_file(root / "h.h5").read_bytes()}


def flipped(data: bytes, name: str) -> bytes:
    """`data` with 1 to 16 bytes changed (and, one time in five, cut short), from the seed `name`."""
    rng = random.Random(name)
    b = bytearray(data[: rng.randrange(len(data))] if rng.random() < 0.2 else data)
    for _ in range(rng.choice([1, 2, 4, 8, 16])):
        if b:
            b[rng.randrange(len(b))] ^= rng.randrange(1, 256)
    return bytes(b)


def _read_case(kind: str, seed: int, corpus: dict[str, bytes], folder: Path) -> str:
    from landscape.store.hessian_file import read_hessian
    from landscape.run.info import summary

    path = _write(folder, "f.h5", flipped(corpus[kind], f"{kind}-{seed}"))
    _write(folder, "f.h5.journal", corpus["journal"])
    readers = {"surface": (store.read_surface, store.read_directions, summary),
               "directions": (store.read_directions, lambda p: read_plane(p, tiny_model())),
               "hessian": (read_hessian, summary, store.read_directions)}[kind]
    outcomes = []
    for read in readers:
        try:
            read(path)
            outcomes.append("ok")
        except LandscapeError as e:
            outcomes.append("refused" if len(str(e).splitlines()) == 1 else f"{len(str(e).splitlines())} lines: {e}")
        except Exception as e:  # a traceback a user would see
            outcomes.append(f"{type(e).__name__}: {e}")
    return ", ".join(outcomes)


def _read_cases(conn, cases, corpus, folder) -> None:
    store.hdf5.FIRST_READ_SECONDS = 0.5  # a child reads a tiny file in milliseconds; a spinning one never ends
    for i, (kind, seed) in enumerate(cases):
        conn.send((i, _read_case(kind, seed, corpus, folder)))


def test_byte_flips_never_kill_or_hang_the_reader(tmp_path, corpus):
    kinds = ("surface", "directions", "hessian")
    cases = [(kinds[i % 3], i) for i in range(CORPUS_CASES)] + CORPUS_KNOWN
    ctx = multiprocessing.get_context("fork")
    failures, start = [], 0
    while start < len(cases):  # one child reads the cases in turn; a new one goes on after a death
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_read_cases, args=(send, cases[start:], corpus, tmp_path))
        child.start()
        send.close()
        done = start
        try:
            while receive.poll(30):  # per case: at most three first readings of 0.5 s, and the reads
                i, outcome = receive.recv()
                done = start + i + 1
                if outcome.replace("ok", "").replace("refused", "").strip(", "):
                    failures.append((cases[done - 1], outcome))
        except EOFError:  # the child is gone
            pass
        child.join(5)
        if child.exitcode is None:
            child.kill()
            child.join()
        if done < len(cases):
            failures.append((cases[done], f"exit code {child.exitcode}" if child.exitcode else "no answer in 30 s"))
            start = done + 1
        else:
            start = done
    assert not failures, failures
