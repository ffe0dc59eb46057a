"""Shared fixtures: a tiny BatchNorm CNN, its checkpoint, and a naive per-point reference loop."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from landscape.inputs.data import TensorData
from landscape.plane.directions import DirType
from landscape.engine import EvalSettings, Evaluator, plan_for, resolve_device
from landscape.inputs.objective import Objective
from landscape.models import DigitsCNN
from landscape.run.compute import evaluate


def tiny_model(seed: int = 0) -> DigitsCNN:
    """The demo CNN with perturbed BatchNorm statistics, so BN folding and states matter."""
    torch.manual_seed(seed)
    m = DigitsCNN(width=4)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.1, 0.1)
    return m.eval()


def tiny_data(n: int = 96, seed: int = 0) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    return TensorData(torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))


def naive_loop(model, data, directions, coords, batch: int = 32, loss=F.cross_entropy):
    """The plain reference: weights written into a copy of the model, batches, loss averaged."""
    m = copy.deepcopy(model).eval()
    named = dict(m.named_parameters()) if directions.dir_type == DirType.weights else m.state_dict(keep_vars=True)
    base = {k: v.detach().clone() for k, v in named.items()}
    losses, accs = [], []
    with torch.no_grad():
        for a, b in coords:
            for k, t in named.items():
                if not t.is_floating_point():
                    continue
                w = base[k] + float(a) * directions.x[k]
                if directions.y is not None:
                    w = w + float(b) * directions.y[k]
                t.copy_(w)
            total, correct = 0.0, 0
            for s in range(0, len(data), batch):
                out = m(data.x[s : s + batch])
                yb = data.y[s : s + batch]
                total += loss(out, yb).item() * len(yb)
                correct += int((out.argmax(1) == yb).sum())
            losses.append(total / len(data))
            accs.append(100.0 * correct / len(data))
    return np.array(losses), np.array(accs)


def make_evaluator(model, data, directions, loss=F.cross_entropy, notes=None, points=16, **settings):
    """An evaluator as `landscape compute` builds it (probe, plan), on the CPU unless told."""
    settings = EvalSettings(**{"device": "cpu", **settings})
    device = resolve_device(settings.device)
    plan, objective = plan_for(model, data, Objective(loss=loss), settings, device, points)
    return Evaluator(model, data, directions, objective, plan, device, (notes.append if notes is not None else print))


def evaluate_grid(model, data, directions, grid, loss=F.cross_entropy, **settings):
    """(loss, accuracy) arrays of `landscape.evaluate` over the grid, on the CPU unless told."""
    s = evaluate(model, data, directions, grid, loss=loss, settings=EvalSettings(**{"device": "cpu", **settings}))
    acc = next((v for k, v in s.values.items() if k.endswith("acc")), np.full(grid.shape, np.nan))
    return s.metric("loss")[1], acc


@pytest.fixture
def model():
    return tiny_model()


@pytest.fixture
def data():
    return tiny_data()


@pytest.fixture
def checkpoint(tmp_path, model):
    path = tmp_path / "tiny.pt"
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, path)
    return path
