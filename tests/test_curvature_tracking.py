"""curvature.tracking: the warm start, the critical learning rate's search, the stability
thresholds, and a measurement with λmax left out."""

from __future__ import annotations

import math

import pytest
import torch

from landscape.curvature.lanczos import lanczos_top
from landscape.curvature.operator import HessianOperator
from landscape.curvature.tracking import SharpnessProbe, critical_lr, stability_threshold, top_eigen
from landscape.inputs.objective import batch_loss, cross_entropy
from landscape.models import DigitsCNN


def test_the_critical_learning_rate_of_a_quadratic():
    h = torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64))
    theta = torch.tensor([1.0, 1.0], dtype=torch.float64)
    g = h @ theta
    loss = lambda x: float(0.5 * x @ h @ x)
    step = critical_lr(lambda eta: loss(theta - eta * g), loss(theta), guess=0.01)
    exact = float(2 * (g @ g) / (g @ h @ g))  # where the loss along −g climbs back to L(θ)
    assert step.lower <= exact <= step.upper and 1 - step.lower / step.upper <= 1 / 16
    assert math.isnan(critical_lr(lambda eta: loss(theta + eta * g), loss(theta), 0.1).lr)  # an ascent step
    assert critical_lr(lambda eta: loss(theta) - eta, loss(theta), 0.1).lr == math.inf  # never rises


def test_stability_thresholds():
    p = [torch.nn.Parameter(torch.zeros(1))]
    assert stability_threshold(torch.optim.SGD(p, lr=0.1)) == pytest.approx(20.0)
    assert stability_threshold(torch.optim.SGD(p, lr=0.1, momentum=0.9)) == pytest.approx(38.0)
    assert stability_threshold(torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)) == pytest.approx(38.0 / 2.8)
    assert math.isnan(stability_threshold(torch.optim.Adam(p, lr=0.1)))


def test_a_warm_start_from_the_eigenvector_converges_in_fewer_products():
    torch.manual_seed(0)
    model = DigitsCNN(width=4)
    batch = [(torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,)))]
    fn = batch_loss(cross_entropy, True)
    cold = top_eigen(HessianOperator(model, batch, fn), tol=1e-4)
    warm = top_eigen(HessianOperator(model, batch, fn), cold.vector, tol=1e-4)
    exact = float(lanczos_top(HessianOperator(model, batch, fn), 1, 100, 1e-10)[0][0])
    assert cold.value == pytest.approx(exact, rel=1e-6) and warm.value == pytest.approx(exact, rel=1e-6)
    assert warm.products < cold.products / 2


def test_a_measurement_without_lambda_max_still_gives_the_loss_and_the_critical_sharpness():
    torch.manual_seed(0)
    model = DigitsCNN(width=4)
    batch = [(torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,)))]
    probe = SharpnessProbe(batch, batch_loss(cross_entropy, True))
    row = probe.measure(model, 0.1, lambda g: {n: -0.1 * t for n, t in g.items()}, eigen=False)
    assert math.isnan(row["lambda_max"]) and row["products"] == 0 and row["loss"] > 0
    assert 0 < row["critical_sharpness"] < math.inf and row["passes"] >= 3
