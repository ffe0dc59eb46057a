"""The random vectors of the curvature solvers and estimators: one generator per part of a
computation, the same numbers on every device, no overflow from the largest seed."""

from __future__ import annotations

import torch

from landscape.curvature.random_vectors import (DENSITY_STARTS, LANCZOS_START, PER_TENSOR_STARTS, TRACE_PROBES,
                                                gaussian, generator, rademacher)


def test_each_part_draws_from_its_own_generator():
    parts = (LANCZOS_START, TRACE_PROBES, DENSITY_STARTS, PER_TENSOR_STARTS)
    assert len(set(parts)) == 4
    first = [gaussian(8, generator(5, p), torch.device("cpu")) for p in parts]
    assert all(not torch.equal(first[0], other) for other in first[1:])
    again = gaussian(8, generator(5, TRACE_PROBES), torch.device("cpu"))
    assert torch.equal(again, first[1])  # a part's numbers do not depend on the other parts
    generator(2**63 - 1, PER_TENSOR_STARTS)  # no overflow from the part arithmetic


def test_rademacher_probes_are_plus_or_minus_one_in_float64():
    z = rademacher(3, 1000, generator(0, TRACE_PROBES), torch.device("cpu"))
    assert z.shape == (3, 1000) and z.dtype == torch.float64
    assert set(z.unique().tolist()) == {-1.0, 1.0} and abs(float(z.mean())) < 0.1
    g = gaussian(5, generator(0, LANCZOS_START), torch.device("cpu"))
    assert g.dtype == torch.float64 and torch.equal(g, torch.randn(5, generator=generator(0, 0), dtype=torch.float64))
