"""plane/trajectory.py: the PCA of a training run's checkpoints and each checkpoint's place in
its plane."""

from __future__ import annotations

import numpy as np
import torch

from conftest import tiny_model
from landscape import store
from landscape.plane.trajectory import pca_of_rows
from landscape.run.job import trajectory_job
from landscape.inputs.checkpoints import expand_checkpoints
from landscape.run.compute import compute
from test_run_job import template


def test_pca_matches_numpy_svd():
    rows = np.random.default_rng(0).normal(size=(6, 40)).astype(np.float32)
    pca = pca_of_rows(rows)
    centered = rows.astype(np.float64) - rows.mean(0)
    _, s, vt = np.linalg.svd(centered, full_matrices=False)
    for k in range(2):
        assert abs(abs(pca.components[k] @ vt[k]) - 1) < 1e-9
    np.testing.assert_allclose(pca.singular_values, s[:2], rtol=1e-9)
    np.testing.assert_allclose(pca.explained_variance_ratio, s[:2] ** 2 / (s**2).sum(), rtol=1e-9)
    np.testing.assert_allclose(pca.explained_variance, s[:2] ** 2 / 5, rtol=1e-9)
    np.testing.assert_allclose(pca.projections, rows.astype(np.float64) @ pca.components.T, rtol=1e-9)


def _plane_checkpoints(tmp_path, coords):
    """Checkpoints at θ_final + a·u + b·v for orthonormal u, v over the non-1-D parameters."""
    final = tiny_model()
    names = [n for n, p in final.named_parameters() if p.dim() > 1]
    sizes = [dict(final.named_parameters())[n].numel() for n in names]
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(sum(sizes), 2, generator=g, dtype=torch.float64))
    paths = []
    for k, (a, b) in enumerate(coords):
        sd = {k2: v.clone() for k2, v in final.state_dict().items()}
        flat = a * q[:, 0] + b * q[:, 1]
        for n, part in zip(names, torch.split(flat, sizes)):
            sd[n] = sd[n] + part.view(sd[n].shape).float()
        path = tmp_path / f"epoch_{k + 1}.pt"
        torch.save({"state_dict": sd, "epoch": k + 1}, path)
        paths.append(path)
    fpath = tmp_path / "final.pt"
    torch.save(final.state_dict(), fpath)
    return paths, fpath


def test_checkpoints_in_known_plane_project_to_known_coordinates(tmp_path):
    # zero mean, no covariance between a and b, var(a) > var(b): the PCs are u and v
    coords = [(-2.0, 0.0), (0.0, -1.0), (0.0, 1.0), (2.0, 0.0)]
    paths, final = _plane_checkpoints(tmp_path, coords)
    job = trajectory_job(template(tmp_path), [expand_checkpoints([str(tmp_path / "epoch_*.pt")])], final=final,
                         resolution=5)
    track = job.plane.directions.tracks["trajectory"]
    np.testing.assert_allclose(np.abs(track.x), [2, 0, 0, 2], atol=1e-5)
    np.testing.assert_allclose(np.abs(track.y), [0, 1, 1, 0], atol=1e-5)
    assert track.x[0] < 0  # training starts on the negative side
    assert job.plane.directions.labels[0].startswith("PC1 (80.0%")
    assert min(job.grid.x) < -2 and max(job.grid.x) > 2 and min(job.grid.y) < -1
    result = compute(job)
    s = store.read_surface(result.path)
    assert s.tracks["trajectory"].epochs == [1, 2, 3, 4] and "not filter-normalized" in s.attrs["note"]
    assert s.computed.all() and s.attrs["dir_kind"] == "pca"
