"""Trajectory PCA, projections, checkpoint ordering and model-to-model views."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import naive_loop, tiny_data, tiny_model
from landscape import store
from landscape.inputs.checkpoint import ModelSpec
from landscape.inputs.data import DataSpec
from landscape.plane.directions import DirectionSpec, DirType, random_directions
from landscape.errors import LandscapeError, for_cli
from landscape.plane.grid import Grid
from landscape.run.job import interpolation_job, trajectory_job
from landscape.inputs.checkpoints import expand_checkpoints, order_checkpoints
from landscape.plane.sources import RandomPlane
from landscape.run.compute import ComputeJob, compute
from landscape.plane.trajectory import pca_of_rows

SPEC = ModelSpec("landscape.models:digits_cnn", '{"width": 4}')


def template(tmp_path, name="t.h5", **kw):
    return ComputeJob(checkpoint=tmp_path, grid=Grid((0.0,)), model=SPEC, data=DataSpec("digits", samples=48),
                      out=tmp_path / name, **kw)


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


def test_checkpoint_ordering(tmp_path):
    for name in ("epoch_10.pt", "epoch_2.pt", "epoch_1.pt"):
        torch.save({"epoch": 0}, tmp_path / name)
    paths, epochs = order_checkpoints(expand_checkpoints([tmp_path]))
    assert [p.name for p in paths] == ["epoch_1.pt", "epoch_2.pt", "epoch_10.pt"] and epochs == [1, 2, 10]
    other = tmp_path / "named"
    other.mkdir()
    for name, step in (("last.pt", 30), ("first.pt", 5), ("middle.pt", 12)):
        torch.save({"state_dict": {}, "global_step": step}, other / name)
    paths, epochs = order_checkpoints(expand_checkpoints([other]))
    assert [p.name for p in paths] == ["first.pt", "middle.pt", "last.pt"] and epochs == [5, 12, 30]
    with pytest.raises(LandscapeError, match="does not exist"):
        expand_checkpoints([tmp_path / "nope.pt"])
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for e in (1, 2, 10, 11):
        torch.save({}, mixed / f"sweep_3_epoch_{e}.pt")
    torch.save({}, mixed / "final.pt")
    (mixed / "notes.txt").write_text("not a checkpoint")
    for source in ([mixed], [str(mixed / "*")]):
        paths, epochs = order_checkpoints(expand_checkpoints(source))
        assert [p.name for p in paths] == [f"sweep_3_epoch_{e}.pt" for e in (1, 2, 10, 11)] + ["final.pt"]
        assert epochs == [1, 2, 10, 11, None]
    hf = tmp_path / "hf"
    for step in (500, 1000, 1500):
        (hf / f"checkpoint-{step}").mkdir(parents=True)
        torch.save({}, hf / f"checkpoint-{step}" / "model.pt")
        torch.save({}, hf / f"checkpoint-{step}" / "optimizer.pt")
    paths, epochs = order_checkpoints(expand_checkpoints([hf]))
    assert [p.parent.name for p in paths] == ["checkpoint-500", "checkpoint-1000", "checkpoint-1500"]
    assert epochs == [500, 1000, 1500] and all(p.name == "model.pt" for p in paths)
    torch.save({}, hf / "model.pt")  # a trainer's output folder: its own weights are the final model
    paths, _ = order_checkpoints(expand_checkpoints([hf]))
    assert len(paths) == 4 and paths[-1] == hf / "model.pt"
    run = tmp_path / "run"
    run.mkdir()
    for name in ("init.pt", "epoch_1.pt", "epoch_10.pt", "final.pt", "optimal_weights.pt", "optimizer.pt"):
        torch.save({}, run / name)
    paths, _ = order_checkpoints(expand_checkpoints([run]))
    assert [p.name for p in paths] == ["init.pt", "epoch_1.pt", "epoch_10.pt", "final.pt", "optimal_weights.pt"]


def test_interpolation_endpoints_equal_each_models_loss(tmp_path):
    a, b = tiny_model(seed=1), tiny_model(seed=2)
    pa, pb = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save(a.state_dict(), pa)
    torch.save(b.state_dict(), pb)
    job = interpolation_job(template(tmp_path, plane=RandomPlane(DirectionSpec(DirType.states))), [pa, pb], (-0.5, 0, 0.5, 1, 1.5))
    s = store.read_surface(compute(job).path)
    data = __import__("landscape").load_data(DataSpec("digits", samples=48))
    own = lambda m: naive_loop(m, data, random_directions(m, two=False), [(0.0, 0.0)])[0][0]  # noqa: E731
    np.testing.assert_allclose(s.values["train_loss"][[1, 3]], [own(a), own(b)], rtol=1e-5)
    np.testing.assert_array_equal(s.tracks["models"].x, [0, 1])
    # with weights only, BatchNorm statistics stay A's: the note says so
    job_w = interpolation_job(template(tmp_path, "w.h5", plane=RandomPlane(DirectionSpec(DirType.weights))), [pa, pb], (0, 1))
    assert "BatchNorm" in job_w.plane.directions.extra["note"]


def test_plane_through_three_models(tmp_path):
    a = tiny_model(seed=1)
    pa, pb, pc = (tmp_path / f"{n}.pt" for n in "abc")
    sd_a = a.state_dict()
    g = torch.Generator().manual_seed(3)
    d1 = {k: torch.randn(v.shape, generator=g) if v.is_floating_point() else v for k, v in sd_a.items()}
    d2 = {k: torch.randn(v.shape, generator=g) if v.is_floating_point() else v for k, v in sd_a.items()}
    params = {n for n, _ in a.named_parameters()}
    torch.save({k: v + d1[k] if k in params else v for k, v in sd_a.items()}, pb)
    torch.save({k: v + 0.3 * d1[k] + d2[k] if k in params else v for k, v in sd_a.items()}, pc)
    torch.save(sd_a, pa)
    job = interpolation_job(template(tmp_path, plane=RandomPlane(DirectionSpec(DirType.weights))), [pa, pb, pc], resolution=5)
    t = job.plane.directions.tracks["models"]
    flat = lambda d: torch.cat([d[n].flatten() for n in sorted(params)]).double()  # noqa: E731
    alpha = float(flat(d2) @ flat(d1) / (flat(d1) @ flat(d1))) + 0.3
    np.testing.assert_allclose(t.x, [0, 1, alpha], atol=1e-5)
    np.testing.assert_allclose(t.y, [0, 0, 1], atol=1e-6)
    s = store.read_surface(compute(job).path)
    assert s.x.min() < 0 and s.x.max() > max(1, alpha) and s.y.max() > 1  # fitted around A, B, C
    # the point (alpha, 1) of the plane is model C itself
    from conftest import make_evaluator
    data = tiny_data()
    ev = make_evaluator(a, data, job.plane.directions)
    c = tiny_model(seed=1)
    c.load_state_dict(torch.load(pc, weights_only=True))
    want = naive_loop(c, data, random_directions(c, two=False), [(0.0, 0.0)])[0]
    np.testing.assert_allclose(ev.evaluate(np.array([[t.x[2], t.y[2]]]))[0], want, rtol=1e-5)


def test_interpolation_argument_checks(tmp_path):
    pa, pb = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save(tiny_model(seed=1).state_dict(), pa)
    torch.save(tiny_model(seed=2).state_dict(), pb)
    with pytest.raises(LandscapeError, match="^y needs a third model") as e:
        interpolation_job(template(tmp_path), [pa, pb], None, (-1, 0, 1))
    assert for_cli(e.value.message).startswith("--y needs a third model") and e.value.field == "y"
    with pytest.raises(LandscapeError, match="^resolution") as e:
        interpolation_job(template(tmp_path), [pa, pb, pa], resolution=1)
    assert for_cli(e.value.message).startswith("--resolution")
