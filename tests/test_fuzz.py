"""Every reader of untrusted bytes under random damage (Hypothesis, derandomized so CI is
repeatable): truncations, bit flips, and datasets of the wrong type or shape. The only outcomes
allowed are a well-formed result or a LandscapeError."""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save

from conftest import tiny_model
from landscape import journal, store
from landscape.checkpoint import read_checkpoint
from landscape.data import DataSpec
from landscape.engine import EvalSettings
from landscape.errors import LandscapeError
from landscape.grid import Grid
from landscape.checkpoint import ModelSpec
from landscape.planes import read_plane
from landscape.surface import ComputeJob, compute

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
    s = store.read_surface(out)
    with h5py.File(out, "r+") as f:
        f["computed"][1:, :] = False
    names = sorted(s.values)
    w = journal.JournalWriter(out, s.attrs["run_id"], names, size=12)
    w.open()
    w.append(np.arange(4, 8), {n: s.values[n].ravel()[4:8] for n in names})
    w.append_attrs({"finished": "now"})
    w.append(np.arange(8, 12), {n: s.values[n].ravel()[8:12] for n in names})
    w.close()
    buf = io.BytesIO()
    torch.save(tiny_model().state_dict(), buf)
    return {"surface": out.read_bytes(), "journal": journal.journal_path(out).read_bytes(), "checkpoint": buf.getvalue(),
            "safetensors": save(tiny_model().state_dict())}


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
