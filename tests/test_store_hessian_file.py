"""The Hessian file: a result round-trips bit for bit and reads as a plane in the surface file's
direction layout; only reading the file is guarded (a damaged file is one line, a bug after the
read keeps its traceback); writing it fails in one line naming the argument to change. The
hostile and damaged files themselves are in tests/test_readers.py."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_data, tiny_model
from landscape import store
from landscape.curvature.spectrum import HessianSettings, hessian
from landscape.errors import LandscapeError, for_cli
from landscape.inputs.objective import batch_loss
from landscape.store import hessian_file
from landscape.store.hessian_file import read_hessian, write_hessian
from test_curvature_operator import single_thread
from test_readers import hessian_file as make_hessian_file


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    yield from single_thread()


def test_hessian_file_round_trips_and_reads_as_a_plane(tmp_path):
    model = tiny_model()
    data = tiny_data(48)
    fn = batch_loss(F.cross_entropy, classification=True)
    s = HessianSettings(top_k=3, max_steps=12, trace=True, probes=6, density=True, density_runs=2, density_steps=5,
                        per_layer=True, per_layer_steps=3, vectors_per_pass=3, seed=4)
    calls = []
    r = hessian(model, [(data.x, data.y)], fn, s, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (r.hvps, r.hvps) and all(a <= b for a, b in calls)
    assert [a for a, _ in calls] == sorted(a for a, _ in calls)
    path = write_hessian(tmp_path / "out" / "model.hessian.h5", r, {"checkpoint": "tiny.pt", "samples_requested": 48})
    back = read_hessian(path)
    assert back.settings == s
    for key in ("eigenvalues", "residuals", "density_grid", "density"):
        np.testing.assert_array_equal(getattr(back, key), getattr(r, key))
    for key in ("trace", "trace_stderr", "probes", "smallest_ritz", "lanczos_steps", "converged", "loss", "accuracy",
                "samples", "hvps", "hvp_mode", "vectors_per_pass", "params", "per_layer"):
        assert getattr(back, key) == getattr(r, key), key
    for a, b in zip(back.eigenvectors, r.eigenvectors):
        assert list(a) == list(b) == [n for n, _ in model.named_parameters()]
        assert all(torch.equal(a[n], b[n]) for n in a)

    dirs = store.read_directions(path)
    assert dirs.dir_type.value == "weights"
    assert all(torch.equal(dirs.x[n], r.eigenvectors[0][n]) for n in dirs.x)
    assert all(torch.equal(dirs.y[n], r.eigenvectors[1][n]) for n in dirs.y)
    assert dirs.labels[0] == f"Hessian eigenvector 1 (λ={r.eigenvalues[0]:.4g})"
    with h5py.File(path) as f:
        assert f.attrs["dir_kind"] == "hessian" and f.attrs["checkpoint"] == "tiny.pt"
        assert isinstance(f.attrs["top_k"], np.integer) and isinstance(f.attrs["tol"], np.floating)
        assert "eigenvector_3" in f and "eigenvector_4" not in f
        assert list(f["per_layer"].attrs["names"]) == [n for n, _ in model.named_parameters()]


def test_a_damaged_file_is_one_line_but_a_bug_after_the_read_is_a_bug(tmp_path, monkeypatch):
    path = make_hessian_file(tmp_path / "h.h5")
    with h5py.File(path, "r+") as f:
        del f.attrs["samples"]
    with pytest.raises(LandscapeError, match="lacks the attribute 'samples'; the file is damaged"):
        read_hessian(path)

    def broken(path, stored):
        return 1 / 0

    monkeypatch.setattr(hessian_file, "_result", broken)  # a bug in what is made of the file, after reading it
    with pytest.raises(ZeroDivisionError):
        read_hessian(make_hessian_file(tmp_path / "good.h5"))


def test_a_bug_inside_the_reader_is_not_a_damaged_file(tmp_path, monkeypatch):
    path = make_hessian_file(tmp_path / "h.h5")

    def broken(i):
        raise AttributeError("a bug")

    monkeypatch.setattr(hessian_file, "vector_group", broken)
    with pytest.raises(AttributeError, match="a bug"):
        read_hessian(path)


def test_a_file_that_cannot_be_written_names_the_argument(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = read_hessian(make_hessian_file(tmp_path / "h.h5"))
    with pytest.raises(LandscapeError, match="cannot write") as e:
        write_hessian(blocker / "h.h5", r)
    assert e.value.field == "out" and "choose another out" in str(e.value)
    assert "choose another --out" in for_cli(e.value.message)


def test_a_surface_file_is_not_a_hessian_file(tmp_path):
    from test_readers import surface_file

    with pytest.raises(LandscapeError, match="is not a Hessian file"):
        read_hessian(surface_file(tmp_path / "s.h5"))



ODD_VALUES = ["many", 2.5, -3, np.array([1.0, 2.0]), np.array(["a", "b"], dtype=h5py.string_dtype()), h5py.Empty("f8"),
              np.bytes_(b"\xff\xfe")]


def test_any_attribute_of_an_odd_type_reads_or_is_damaged(tmp_path):
    """What is made of the attributes after the read is outside the guard: an odd value of any
    attribute must still be a one-line user error (or read), never a traceback."""
    path = make_hessian_file(tmp_path / "h.h5")
    with h5py.File(path) as f:
        names = list(f.attrs)
    for i, name in enumerate(names):
        for value in (ODD_VALUES[i % len(ODD_VALUES)], ODD_VALUES[(i + 3) % len(ODD_VALUES)]):
            odd = tmp_path / "odd.h5"
            odd.write_bytes(path.read_bytes())
            with h5py.File(odd, "r+") as f:
                f.attrs[name] = value
            try:
                read_hessian(odd)
            except LandscapeError as e:
                assert len(str(e).splitlines()) == 1


@pytest.mark.parametrize("size", [np.nan, -3.0, 2.5, np.inf])
def test_a_per_layer_size_that_is_not_a_count_is_damage(tmp_path, size):
    """Decoding what was read is part of reading: `info` and `read_hessian` say "damaged" in one
    line, never a traceback from int(NaN)."""
    from landscape.run import info

    path = make_hessian_file(tmp_path / "h.hessian.h5")
    with h5py.File(path, "r+") as f:
        sizes = f["per_layer/size"][()].astype(np.float64)
        sizes[0] = size
        del f["per_layer/size"]
        f["per_layer/size"] = sizes
    for read in (read_hessian, info.summary):
        with pytest.raises(LandscapeError, match="per_layer/size .*not a whole number.*damaged"):
            read(path)
