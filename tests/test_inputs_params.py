"""inputs/params.py: which tensors take part: all, those whose name matches a pattern, the trainable
ones, or both; a bad pattern or one that chooses nothing is a user error about `params`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from landscape.errors import LandscapeError, for_cli
from landscape.inputs.params import ParamSelection


def frozen_first_layer() -> nn.Module:
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    return model


def test_names_by_pattern_trainable_or_both():
    model = frozen_first_layer()
    params = dict(model.named_parameters())
    assert ParamSelection().everything and ParamSelection().names(model, params) is None
    assert ParamSelection(trainable_only=True).names(model, params) == {"1.weight", "1.bias", "2.weight", "2.bias"}
    assert ParamSelection("weight").names(model, params) == {"0.weight", "1.weight", "2.weight"}
    assert ParamSelection(r"^[02]\.", trainable_only=True).names(model, params) == {"2.weight", "2.bias"}


def test_only_floating_point_tensors_take_part():
    model = frozen_first_layer()
    states = model.state_dict()  # BatchNorm's num_batches_tracked is an integer tensor
    assert "1.num_batches_tracked" in states
    assert ParamSelection("^1\\.").names(model, states) == {"1.weight", "1.bias", "1.running_mean", "1.running_var"}


def test_describe():
    assert ParamSelection().describe() == ""
    assert ParamSelection("fc").describe() == "matching 'fc'"
    assert ParamSelection(trainable_only=True).describe() == "trainable only"
    assert ParamSelection("fc", True).describe() == "matching 'fc', trainable only"


def test_bad_pattern_and_empty_choice_are_errors_about_params():
    model = frozen_first_layer()
    params = dict(model.named_parameters())
    with pytest.raises(LandscapeError, match=r"^params '\(' is not a regular expression") as e:
        ParamSelection("(").names(model, params)
    assert e.value.field == "params" and for_cli(e.value.message).startswith("--params '('")
    with pytest.raises(LandscapeError, match="no parameter is matching 'lora'; .*named like: 0.weight, 0.bias") as e:
        ParamSelection("lora").names(model, params)
    assert e.value.field == "params"
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(LandscapeError, match="no parameter is trainable only"):
        ParamSelection(trainable_only=True).names(frozen, dict(frozen.named_parameters()))
    assert torch.is_grad_enabled()
