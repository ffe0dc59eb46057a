"""engine/probe.py: what the plan's rules learn about a model and its data before the first point:
whether accuracy applies to the targets, and that the model accepts the data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import make_evaluator, naive_loop
from landscape.plane.directions import DirectionSpec, random_directions
from landscape.inputs.data import TensorData
from landscape.engine.probe import check_objective, probe
from landscape.errors import LandscapeError
from landscape.inputs.objective import Objective, cross_entropy, mse


def test_integer_targets_of_a_custom_loss_are_not_class_labels():
    """Counts 0..19 with a one-output Poisson model: no accuracy, and no label-range refusal."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1)).eval()
    data = TensorData(torch.randn(40, 1, 8, 8), torch.arange(40) % 20)
    poisson = lambda out, y: torch.nn.functional.poisson_nll_loss(out.squeeze(1), y.float())  # noqa: E731
    dirs = random_directions(model, DirectionSpec(seed=1))
    ev = make_evaluator(model, data, dirs, loss=poisson)
    loss, acc = ev.evaluate(np.array([[0.0, 0.0], [0.5, -0.5]]))
    ref, _ = naive_loop(model, data, dirs, [(0.0, 0.0), (0.5, -0.5)], loss=poisson)
    np.testing.assert_allclose(loss, ref, rtol=1e-5)
    assert np.isnan(acc).all()


def test_the_facts_of_a_linear_model_are_measured_exactly():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).train()
    data = TensorData(torch.randn(12, 1, 8, 8), torch.arange(12) % 10)
    facts, objective = probe(model, data, Objective(loss=cross_entropy), torch.device("cpu"))
    assert objective.classification and model.training  # labels 0..9 for 10 outputs; the model's mode kept
    assert (facts.samples, facts.input_dims, facts.data_bytes) == (12, 4, data.nbytes)
    assert facts.model_bytes == (64 * 10 + 10) * 4 and facts.flops_per_sample == 2 * 64 * 10
    assert facts.first_layer_macs == 64 and not facts.foldable and not facts.custom_eval
    bn = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10), torch.nn.BatchNorm1d(10))
    assert probe(bn, data, Objective(loss=cross_entropy), torch.device("cpu"))[0].foldable


def test_what_the_model_or_the_loss_rejects_is_a_user_error():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    good = TensorData(torch.randn(6, 1, 8, 8), torch.arange(6))
    with pytest.raises(LandscapeError, match="the model rejects the data \\(inputs of shape \\(1, 5, 5\\) per sample\\)"):
        check_objective(model, TensorData(torch.randn(6, 1, 5, 5), torch.arange(6)), Objective(loss=cross_entropy))
    with pytest.raises(LandscapeError, match="labels run from 1 to 11 but the model has 10 outputs; labels must be 0..9"):
        check_objective(model, TensorData(torch.randn(6, 1, 8, 8), torch.arange(6) * 2 + 1), Objective(loss=cross_entropy))
    per_sample = lambda out, y: torch.nn.functional.cross_entropy(out, y, reduction="none")  # noqa: E731
    with pytest.raises(LandscapeError, match="the batch mean as a 0-d tensor, got Tensor of shape \\(2,\\)"):
        check_objective(model, good, Objective(loss=per_sample))
    regression = check_objective(model, TensorData(good.x, torch.randn(6, 10)), Objective(loss=mse))
    assert not regression.classification  # float targets: no accuracy
