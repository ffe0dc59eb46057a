"""The `hessian` driver: eigenvectors over every parameter with a subset respected, per-tensor
blocks against closed forms, the user's model untouched by every call, autocast, and settings
checked where they are built (named as Python arguments, and as flags on the command line)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import tiny_data, tiny_model
from landscape.curvature.eigenmap import extreme_eigenvalues
from landscape.curvature.spectrum import HessianSettings, hessian
from landscape.errors import LandscapeError, for_cli
from landscape.inputs.objective import batch_loss
from landscape.store.hessian_file import write_hessian
from test_curvature_operator import assert_unchanged, least_squares, single_thread, state, sum_squares


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    yield from single_thread()


def test_eigenvectors_cover_every_parameter_and_subset_is_respected():
    model, batches, h = least_squares()
    d = model.in_features
    model = nn.Linear(d, 1).double().eval()  # with a bias, left out of the Hessian
    r = hessian(model, batches, sum_squares, HessianSettings(top_k=2, params=("weight",), tol=1e-8))
    assert r.params == ("weight",)
    np.testing.assert_allclose(r.eigenvalues, np.linalg.eigh(h)[0][::-1][:2], rtol=1e-6)
    for vec in r.eigenvectors:
        assert list(vec) == ["weight", "bias"]
        assert torch.count_nonzero(vec["bias"]) == 0
    with pytest.raises(LandscapeError, match="no parameter 'nope'") as e:
        hessian(model, batches, sum_squares, HessianSettings(params=("nope",)))
    assert e.value.field == "params"


def test_per_layer_blocks():
    """Least squares with a bias: the weight block is 2XᵀX/n, the bias block is exactly 2."""
    model, batches, h = least_squares()
    d = model.in_features
    torch.manual_seed(1)
    model = nn.Linear(d, 1).double().eval()
    r = hessian(model, batches, sum_squares,
                HessianSettings(top_k=1, per_layer=True, probes=400, vectors_per_pass=8, per_layer_steps=d, tol=1e-8))
    rows = {row.name: row for row in r.per_layer}
    assert list(rows) == ["weight", "bias"] and rows["weight"].size == d and rows["bias"].size == 1
    assert rows["weight"].top_eigenvalue == pytest.approx(np.linalg.eigh(h)[0][-1], rel=1e-8)
    assert rows["bias"].top_eigenvalue == pytest.approx(2.0, rel=1e-10)
    assert abs(rows["weight"].trace - np.trace(h)) <= 4 * rows["weight"].trace_stderr
    assert abs(rows["bias"].trace - 2.0) <= 4 * rows["bias"].trace_stderr
    assert r.trace == pytest.approx(rows["weight"].trace + rows["bias"].trace)


def test_model_is_unchanged_by_every_call(tmp_path):
    model = tiny_model()
    data = tiny_data(64)
    batches = [(data.x[:32], data.y[:32]), (data.x[32:], data.y[32:])]
    fn = batch_loss(F.cross_entropy, classification=True)
    before = state(model)
    grads_before = [p.requires_grad for p in model.parameters()]
    s = HessianSettings(top_k=2, max_steps=4, trace=True, probes=2, density=True, density_runs=2, density_steps=2,
                        per_layer=True, per_layer_steps=2, vectors_per_pass=2)
    r = hessian(model, batches, fn, s)
    assert_unchanged(model, before)
    assert 0 <= r.accuracy <= 100 and r.samples == 64 and r.loss > 0
    at = {n: p.detach() * 1.1 for n, p in model.named_parameters()}
    extreme_eigenvalues(model, batches, fn, at=at, steps=5)
    assert_unchanged(model, before)
    write_hessian(tmp_path / "h.h5", r)
    assert_unchanged(model, before)
    assert [p.requires_grad for p in model.parameters()] == grads_before
    model.train()  # a model handed over in train mode is evaluated in eval mode and handed back in train mode
    extreme_eigenvalues(model, batches, fn, steps=3)
    assert_unchanged(model, before, training=True)


def test_progress_counts_up_to_the_products_done():
    model, batches, _ = least_squares(d=6)
    calls = []
    r = hessian(model, batches, sum_squares, HessianSettings(top_k=1, trace=True, probes=5, per_layer=True),
                progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (r.hvps, r.hvps) and all(a <= b for a, b in calls)
    assert [a for a, _ in calls] == sorted(a for a, _ in calls) and r.seconds > 0


def test_autocast_runs_and_is_close():
    model = tiny_model()
    data = tiny_data(64)
    fn = batch_loss(F.cross_entropy, classification=True)
    exact = hessian(model, [(data.x, data.y)], fn, HessianSettings(top_k=1, tol=1e-4))
    low = hessian(model, [(data.x, data.y)], fn, HessianSettings(top_k=1, tol=1e-4, autocast=torch.bfloat16))
    assert low.eigenvalues[0] == pytest.approx(exact.eigenvalues[0], rel=0.05)


def test_settings_are_checked():
    with pytest.raises(LandscapeError, match="top_k") as e:
        HessianSettings(top_k=0)
    assert e.value.field == "top_k" and "--top-k" in for_cli(e.value.message)
    with pytest.raises(LandscapeError, match="max_steps") as e:
        HessianSettings(top_k=6, max_steps=5)
    assert e.value.field == "max_steps" and "--steps" in for_cli(e.value.message, {"max_steps": "--steps"})
    with pytest.raises(LandscapeError, match="autocast"):
        HessianSettings(autocast=torch.float64)
    model, batches, _ = least_squares(d=4)
    with pytest.raises(LandscapeError, match="top_k 5 exceeds") as e:
        hessian(model, batches, sum_squares, HessianSettings(top_k=5))
    assert e.value.field == "top_k" and "--top-k 5 exceeds" in for_cli(e.value.message)


def test_settings_as_attributes():
    a = HessianSettings(top_k=2, autocast=torch.bfloat16, params=("w",)).attributes()
    assert a["top_k"] == 2 and a["autocast"] == "bfloat16" and a["hvp_mode"] == "auto" and "params" not in a
    assert HessianSettings().attributes()["autocast"] == "none"
