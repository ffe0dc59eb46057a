"""`landscape hessian`, `landscape sharpness`, the plane of Hessian eigenvectors, the eigenvalue
map and the basins of a surface, from the command line."""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from landscape import store
from landscape.cli import app
from landscape.inputs.data import DataSpec, load_data
from landscape.curvature.hessian import extreme_eigenvalues, read_hessian
from landscape.inputs.objective import batch_loss
from landscape.models import DigitsCNN

MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']
SMALL = ["--samples", "40", "--device", "cpu"]
runner = CliRunner()


def ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return " ".join(r.output.split())


@pytest.fixture
def hessian_file(tmp_path, checkpoint) -> Path:
    out = tmp_path / "h.h5"
    text = ok(["hessian", str(checkpoint), *MODEL, *SMALL, "--top-k", "2", "--steps", "30", "--trace", "--probes",
               "20", "--density", "--density-steps", "12", "--plot", "--out", str(out)])
    assert "λ1" in text and "trace" in text and "Rademacher probes" in text and (tmp_path / "h.density.png").exists()
    return out


def test_hessian_file_and_its_plane(tmp_path, checkpoint, hessian_file):
    result = read_hessian(hessian_file)
    assert len(result.eigenvalues) == 2 and result.eigenvalues[0] >= result.eigenvalues[1]
    assert result.trace is not None and result.density is not None
    with h5py.File(hessian_file) as f:
        assert f.attrs["top_k"] == 2 and f.attrs["model"] == "landscape.models:digits_cnn" and f.attrs["samples"] == 40
    # the top eigenvalue, independently: Lanczos at the same weights over the same data in one batch
    model = DigitsCNN(width=4)
    model.load_state_dict(torch.load(Path(str(hessian_file.parent / "tiny.pt")), weights_only=True)["state_dict"])
    data = load_data(DataSpec("digits", samples=40))
    top, _ = extreme_eigenvalues(model.eval(), [(data.x, data.y)], batch_loss(torch.nn.functional.cross_entropy, True),
                                 steps=60, tol=1e-6)
    assert result.eigenvalues[0] == pytest.approx(top, rel=1e-3)
    # the plane of the top two eigenvectors, unit norm or scaled to the weights
    for scale in ("unit", "weights"):
        out = tmp_path / f"plane-{scale}.h5"
        ok(["compute", str(checkpoint), *MODEL, *SMALL, "--directions", str(hessian_file), "--direction-scale", scale,
            "--x", "-1:1:3", "--y", "-1:1:3", "--out", str(out), "--quiet"])
        s = store.read_surface(out)
        assert s.attrs["xlabel"].startswith("Hessian eigenvector 1") and s.attrs["dir_kind"] == "hessian"
        assert "Hessian eigenvectors" in s.attrs["note"]
        d = store.read_directions(out)
        n = float(torch.sqrt(sum((t.double() ** 2).sum() for t in d.x.values())))
        theta = float(torch.sqrt(sum((p.detach().double() ** 2).sum() for p in model.parameters())))
        assert n == pytest.approx(1.0 if scale == "unit" else theta, rel=1e-5)
        text = ok(["info", str(out)])
        assert ("unit norm" if scale == "unit" else "to the norm of the weights") in text
    text = ok(["info", str(hessian_file)])
    assert f"λ1 {result.eigenvalues[0]:.6g}" in text and "samples 40" in text and "Rademacher probes" in text and "loss_name cross-entropy" in text


def test_eigen_map_and_its_figure(tmp_path, checkpoint):
    out = tmp_path / "map.h5"
    ok(["compute", str(checkpoint), *MODEL, *SMALL, "--eigen-map", "--x", "-0.5:0.5:3", "--y", "-0.5:0.5:2",
        "--out", str(out), "--quiet"])
    s = store.read_surface(out)
    for name in ("eig_max", "eig_min", "eig_ratio"):
        assert s.values[name].shape == (2, 3) and np.isfinite(s.values[name]).all()
    np.testing.assert_allclose(s.values["eig_ratio"], np.abs(s.values["eig_min"] / s.values["eig_max"]))
    assert (s.values["eig_max"] >= s.values["eig_min"]).all()
    assert "eigen map" in ok(["info", str(out)])
    written = ok(["plot", str(out), "--metric", "eig_ratio", "--kind", "heatmap", "--out", str(tmp_path / "f")])
    assert "map.heatmap.png" in written


def test_sharpness_table(tmp_path, checkpoint):
    other = tmp_path / "other.pt"
    model = DigitsCNN(width=4)
    torch.save(model.state_dict(), other)
    prefix = tmp_path / "table"
    ok(["sharpness", str(checkpoint), str(other), *MODEL, *SMALL, "--probes", "10", "--directions", "3",
        "--ascent-steps", "3", "--out", str(prefix), "--quiet"])
    rows = list(csv.DictReader(open(prefix.with_suffix(".csv"))))
    assert [r[next(iter(r))] for r in rows] == ["tiny.pt", "other.pt"]
    tex = prefix.with_suffix(".tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and "$\\pm$" in tex
    assert prefix.with_suffix(".md").read_text().count("|") > 10


def test_basins_in_info(tmp_path, checkpoint):
    out = tmp_path / "s.h5"
    ok(["compute", str(checkpoint), *MODEL, *SMALL, "--x", "-1:1:7", "--y", "-1:1:7", "--out", str(out), "--quiet"])
    assert "basins" in ok(["info", str(out)]) and "smoothness" in ok(["info", str(out)])
    assert "barcode" in ok(["plot", str(out), "--kind", "barcode", "--out", str(tmp_path / "f")])
