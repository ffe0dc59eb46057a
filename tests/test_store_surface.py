"""The one result type: a `Surface` computed in memory equals the one read back from the file
that the same job writes — value names, coordinates, attributes and values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape import store
from landscape.inputs.checkpoint import ModelSpec, load_model
from landscape.inputs.data import DataSpec, Split, load_data
from landscape.plane.directions import DirectionSpec, DirType, random_directions
from landscape.plane.grid import Grid
from landscape.plane.sources import GivenPlane, RandomPlane
from landscape.run.compute import compute, evaluate
from landscape.run.job import ComputeJob
from landscape.store.surface import value_names

SPEC = ModelSpec("landscape.models:digits_cnn", '{"width": 4}')


@pytest.mark.parametrize("split", [Split.train, Split.test])
def test_memory_and_file_give_the_same_surface(checkpoint, tmp_path, split):
    grid = Grid.linspace((-1, 1, 4), (-0.5, 0.5, 3))
    data_spec = DataSpec("digits", split, samples=48)
    job = ComputeJob(checkpoint, grid, tmp_path / "s.h5", SPEC, data_spec, RandomPlane(DirectionSpec(seed=2)))
    on_disk = store.read_surface(compute(job).path)

    model = load_model(checkpoint, SPEC)
    data = load_data(data_spec)
    plane = random_directions(model, DirectionSpec(seed=2))
    in_memory = evaluate(model, (data.x, data.y) if split == Split.train else data, plane, grid)

    assert list(in_memory.values) == list(on_disk.values) == value_names(split.value, classification=True)
    assert in_memory.values and all(n.startswith(f"{split.value}_") for n in in_memory.values)
    np.testing.assert_array_equal(in_memory.x, on_disk.x)
    np.testing.assert_array_equal(in_memory.y, on_disk.y)
    assert in_memory.x.dtype == on_disk.x.dtype == np.float64
    for name in in_memory.values:
        np.testing.assert_allclose(in_memory.values[name], on_disk.values[name], rtol=1e-6)
    assert in_memory.attrs, "the plane's attributes are named in memory too"
    for key, value in in_memory.attrs.items():  # every attribute in memory is the file's, with its value
        assert key in on_disk.attrs, key
        assert np.array_equal(np.asarray(value), np.asarray(on_disk.attrs[key])), (key, value, on_disk.attrs[key])
    assert in_memory.attrs["split"] == split.value
    np.testing.assert_array_equal(in_memory.loss, on_disk.loss)  # `.loss`, whatever the split
    assert set(in_memory.plan) == set(on_disk.plan)
    for key in ("device", "precision", "batch_size", "launch", "points_per_launch", "fold_bn", "channels_last"):
        assert in_memory.plan[key] == on_disk.plan[key], key  # the same plan made both


def test_a_given_plane_keeps_its_tracks_and_notes_in_memory_and_on_disk(checkpoint, tmp_path):
    from landscape.plane.interpolation import models_plane

    model = load_model(checkpoint, SPEC)
    other = {k: v + 0.01 for k, v in model.state_dict().items()}
    plane = models_plane(model, other, dir_type=DirType.weights)  # BatchNorm statistics stay: a note says so
    grid = Grid.linspace((-0.5, 1.5, 5))
    job = ComputeJob(checkpoint, grid, tmp_path / "line.h5", SPEC, DataSpec("digits", samples=32),
                     GivenPlane(plane, DirectionSpec(DirType.weights)))
    on_disk = store.read_surface(compute(job).path)
    data = load_data(DataSpec("digits", samples=32))
    in_memory = evaluate(model, data, plane, grid)
    assert list(in_memory.values) == list(on_disk.values)
    assert set(in_memory.tracks) == set(on_disk.tracks) == {"models"}
    np.testing.assert_array_equal(in_memory.tracks["models"].x, on_disk.tracks["models"].x)
    for key in ("dir_kind", "dir_type", "xlabel", "ylabel", "note"):
        assert in_memory.attrs[key] == on_disk.attrs[key], key
    assert "BatchNorm" in in_memory.attrs["note"]


def test_value_names_are_decided_once():
    assert value_names(None, True) == ["train_loss", "train_acc"]
    assert value_names("test", False) == ["test_loss"]
    assert value_names("train", True, eigen_map=True)[-3:] == list(store.EIGEN_METRICS)
    s = store.Surface(None, np.arange(3.0), None, {"test_loss": np.ones(3)}, np.ones(3, bool), {"split": "test"})
    assert s.metric("loss")[0] == "test_loss" and np.array_equal(s.loss, np.ones(3))
    with pytest.raises(Exception, match="holds no acc values"):
        s.metric("acc")
    assert torch.is_tensor(torch.zeros(1))  # (torch imported for the fixtures' models)
