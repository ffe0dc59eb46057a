"""engine/device.py: the reduced precisions against exact fp32 within stated tolerances, and
resolving `device`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import evaluate_grid, tiny_data, tiny_model
from landscape.plane.directions import DirectionSpec, random_directions
from landscape.engine import Precision
from landscape.engine.device import cpu_has_bf16, host_memory, precision_context, profile_of, resolve_device
from landscape.errors import LandscapeError, for_cli
from landscape.plane.grid import Grid

# Stated tolerances: the largest relative loss difference from exact fp32 that each precision may show.
# tf32 is exact on a CPU (no TF32 units); on an H100 it measured 5e-4, bf16 3e-3 (benchmarks/RESULTS.md).
TOLERANCE = {Precision.tf32: 1e-6, Precision.bf16: 2e-2, Precision.fp16: 2e-2}


@pytest.mark.parametrize("precision", [Precision.tf32, Precision.bf16, Precision.fp16])
def test_reduced_precision_against_fp32(precision):
    model, data = tiny_model(), tiny_data(n=64)
    dirs = random_directions(model, DirectionSpec(seed=6))
    grid = Grid.linspace((-0.5, 0.5, 3), (-0.5, 0.5, 3))
    exact, _ = evaluate_grid(model, data, dirs, grid, precision=Precision.fp32)
    low, _ = evaluate_grid(model, data, dirs, grid, precision=precision)
    rel = np.abs(low - exact) / np.abs(exact)
    assert rel.max() <= TOLERANCE[precision], rel.max()
    if precision != Precision.tf32:
        assert rel.max() > 0  # really evaluated in the lower precision


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(LandscapeError, match="^unknown device 'gpu0'") as e:
        resolve_device("gpu0")
    assert for_cli(e.value.message).startswith("unknown --device 'gpu0'")
    with pytest.raises(LandscapeError, match="only cpu and cuda devices are supported"):
        resolve_device("meta")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(LandscapeError, match="no CUDA GPU is visible here; use device='cpu'"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda", local_rank=1) == torch.device("cuda", 1)  # torchrun: the process's own GPU
    with pytest.raises(LandscapeError, match="only 2 GPU"):
        resolve_device("cuda:2")


def test_precision_context_switches_tf32_and_autocast_and_restores_them():
    cpu = torch.device("cpu")
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with precision_context(Precision.tf32, cpu):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    with precision_context(Precision.fp32, cpu):
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    with precision_context(Precision.bf16, cpu):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_the_cpu_profile():
    p = profile_of(torch.device("cpu"))
    assert p.kind == "cpu" and not p.tf32 and p.bf16 == cpu_has_bf16() and p.memory == host_memory() > 0
    assert p.throughput(Precision.fp32) > 0
    if not p.bf16:  # emulated bfloat16 is slower than fp32, and the estimates say so
        assert p.throughput(Precision.bf16) < p.throughput(Precision.fp32)
