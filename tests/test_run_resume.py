"""run/resume.py: an interrupted `compute` resumes to the same bits; a file made with other
settings or data is refused unless overwritten; a damaged file is reported."""

from __future__ import annotations

import numpy as np
import pytest

from landscape import store
from landscape.cli import app
from landscape.inputs.data import DataSpec
from landscape.plane.directions import DirectionSpec, Norm
from landscape.plane.sources import RandomPlane
from landscape.engine import EvalSettings, Launch
from landscape.run.compute import compute
from test_run_compute import MODEL, job, runner


def test_resume_after_interrupt_is_identical(checkpoint, tmp_path):
    full = tmp_path / "full.h5"
    compute(job(checkpoint, full))
    part = tmp_path / "part.h5"
    calls = []

    def stop_midway(done, total):
        calls.append(done)
        if done >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compute(job(checkpoint, part, evaluation=EvalSettings(device="cpu", launch=Launch.point)), progress=stop_midway)
    s = store.read_surface(part)
    assert 1 <= s.computed.sum() < 35 and np.isnan(s.values["train_loss"][~s.computed]).all()
    result = compute(job(checkpoint, part))
    assert result.computed == 35 - s.computed.sum()
    a, b = store.read_surface(full), store.read_surface(part)
    np.testing.assert_array_equal(a.values["train_loss"], b.values["train_loss"])
    np.testing.assert_array_equal(a.values["train_acc"], b.values["train_acc"])
    assert compute(job(checkpoint, part)).computed == 0


def test_refuses_other_settings_unless_overwrite(checkpoint, tmp_path):
    out = tmp_path / "s.h5"
    compute(job(checkpoint, out))
    with pytest.raises(Exception, match="norm is 'filter' in the file but 'layer'"):
        compute(job(checkpoint, out, plane=RandomPlane(DirectionSpec(norm=Norm.layer))))
    compute(job(checkpoint, out, plane=RandomPlane(DirectionSpec(norm=Norm.layer)), overwrite=True))
    assert store.read_surface(out).attrs["norm"] == "layer"


def test_resume_refuses_changed_data(checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x = np.random.default_rng(0).normal(size=(30, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(30) % 10)
    out = tmp_path / "s.h5"
    compute(job(checkpoint, out, data=DataSpec("d.npz")))
    np.savez(tmp_path / "d.npz", x=x + 1, y=np.arange(30) % 10)  # same name, same size, other values
    with pytest.raises(Exception, match="data_sha256"):
        compute(job(checkpoint, out, data=DataSpec("d.npz")))


def test_damaged_file_is_reported(checkpoint, tmp_path):
    out = tmp_path / "s.h5"
    out.write_bytes(b"\x89HDF\r\n garbage")
    r = runner.invoke(app, ["compute", str(checkpoint), *MODEL, "--x", "-1:1:2", "--out", str(out)])
    assert r.exit_code == 2 and "--overwrite" in r.output
    r = runner.invoke(app, ["compute", str(checkpoint), *MODEL, "--x", "-1:1:2", "--out", str(out), "--overwrite", "--quiet"])
    assert r.exit_code == 0, r.output
