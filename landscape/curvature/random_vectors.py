"""The random vectors of the solvers and estimators: Gaussian starts of Lanczos, Rademacher probes
of Hutchinson and of the density. Each is drawn on the CPU (the same numbers on every device),
then moved; each part of a computation draws from its own generator (`generator(seed, part)`),
so turning one part on or off does not change the others."""

from __future__ import annotations

import torch

# the parts of a computation, each with its own generator
LANCZOS_START = 0  # the start of the top-K (and extreme-eigenvalue) Lanczos run
TRACE_PROBES = 1  # Hutchinson's probes
DENSITY_STARTS = 2  # the starts of the density's Lanczos runs
PER_TENSOR_STARTS = 3  # the starts of the per-tensor Lanczos runs


def generator(seed: int, part: int) -> torch.Generator:
    """The CPU generator of one part (`LANCZOS_START`, ...) of a computation seeded with `seed`."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + part) % 2**64)


def gaussian(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """A standard normal vector (n,) float64 drawn on the CPU, then moved to `device`."""
    return torch.randn(n, generator=generator, dtype=torch.float64).to(device)


def rademacher(m: int, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """(m, n) float64 of ±1, drawn on the CPU as bytes, then moved to `device`."""
    bits = torch.randint(0, 2, (m, n), generator=generator, dtype=torch.int8).to(device)
    return bits.to(torch.float64) * 2 - 1
