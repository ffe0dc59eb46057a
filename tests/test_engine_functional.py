"""Evaluating a model functionally: the mean loss and accuracy over batches at given weights
against a direct computation, the model's tensors and modes left as they were, the parameters a
Hessian is over, the data as batches on a device; errors that name the argument to fix."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import tiny_data, tiny_model
from landscape.engine.functional import (autocast_context, device_batches, eval_mode, evaluate, model_device,
                                         objective_fn, resolve_params)
from landscape.errors import LandscapeError, for_cli
from landscape.inputs.data import BatchData
from landscape.inputs.objective import Objective, batch_loss


def test_eval_mode_restores_each_modules_own_mode():
    model = tiny_model().train()
    model.bn1.eval()
    with eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert model.training and not model.bn1.training and model.bn2.training


def test_evaluate_at_given_weights_leaves_the_model_alone():
    model, data = tiny_model(), tiny_data(40)
    fn = batch_loss(F.cross_entropy, classification=True)
    batches = [(data.x[:25], data.y[:25]), (data.x[25:], data.y[25:])]
    moved = {n: p.detach() * 1.05 for n, p in model.named_parameters()}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    got = evaluate(model, batches, fn, moved)
    direct = copy.deepcopy(model).eval()
    with torch.no_grad():
        for n, p in direct.named_parameters():
            p.copy_(moved[n])
        out = direct(data.x)
    assert got.samples == 40 and got.loss == pytest.approx(float(F.cross_entropy(out, data.y)), rel=1e-5)
    assert got.accuracy == pytest.approx(100.0 * float((out.argmax(1) == data.y).float().mean()))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    plain = evaluate(model, batches, batch_loss(F.cross_entropy))
    assert plain.accuracy != plain.accuracy  # NaN: no correct counts without class labels
    with autocast_context(torch.device("cpu"), torch.bfloat16):
        assert torch.is_autocast_enabled("cpu")
    with autocast_context(torch.device("cpu"), None):
        assert not torch.is_autocast_enabled("cpu")


def test_evaluate_names_what_to_fix():
    model, data = tiny_model(), tiny_data(8)
    with pytest.raises(LandscapeError, match="no data") as e:
        evaluate(model, [], batch_loss(F.cross_entropy))
    assert e.value.field == "data"
    with pytest.raises(LandscapeError, match="counted no samples; check the data and the eval function") as e:
        evaluate(model, [(data.x, data.y)], lambda m, b: (m(b[0]).sum() * 0, 0))
    assert e.value.field == "eval" and "the --eval function" in for_cli(e.value.message)


def test_the_parameters_a_hessian_is_over():
    model = tiny_model()
    names = [n for n, _ in model.named_parameters()]
    assert resolve_params(model, None) == names
    assert resolve_params(model, ["fc.bias", "conv1.weight"]) == ["conv1.weight", "fc.bias"]  # model order
    for wanted, match in ((["nope"], "no parameter 'nope'"), (["fc.bias", "fc.bias"], "named twice")):
        with pytest.raises(LandscapeError, match=match) as e:
            resolve_params(model, wanted)
        assert e.value.field == "params"
    model.register_parameter("steps", nn.Parameter(torch.zeros(2, dtype=torch.long), requires_grad=False))
    with pytest.raises(LandscapeError, match="'steps' is not floating point"):
        resolve_params(model, ["steps"])
    assert "steps" not in resolve_params(model, None)
    assert model_device(model) == torch.device("cpu") and model_device(nn.Module()) == torch.device("cpu")


def test_the_objective_as_one_function_and_the_data_as_batches():
    data = tiny_data(10)
    own = batch_loss(F.mse_loss)
    assert objective_fn(Objective(eval_fn=own)) is own
    with torch.no_grad():
        loss, n, correct = objective_fn(Objective(loss=F.cross_entropy, classification=True))(tiny_model(),
                                                                                              (data.x, data.y))
    assert n == 10 and 0 <= int(correct) <= 10 and float(loss) > 0
    cpu = torch.device("cpu")
    assert [len(y) for _, y in device_batches(data, 4, cpu)] == [4, 4, 2]
    assert [len(y) for _, y in device_batches(data, None, cpu)] == [10]
    assert [len(y) for _, y in device_batches(data, 0, cpu)] == [10]
    dicts = BatchData([{"x": data.x[:3]}, {"x": data.x[3:]}])
    assert [len(b["x"]) for b in device_batches(dicts, 4, cpu)] == [3, 7]  # batch data keeps its own batches
