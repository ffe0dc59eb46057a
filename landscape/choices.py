"""The choices a user makes by name (`--precision bf16`, `--dir-type states`, ...), as `Enum`s.

They live here, apart from the code that acts on them, so that the command line can declare
its options (and answer `--help`, `--version` or a usage mistake) without importing PyTorch.
Each is re-exported by the module that uses it (`engine.Precision`, `directions.DirType`, ...).
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class Precision(str, Enum):
    auto = "auto"  # fp32 on a CPU, tf32 on a GPU that has TF32 units (see engine.plan)
    fp32 = "fp32"  # exact: TF32 off
    tf32 = "tf32"  # TF32 matmuls and convolutions on GPUs that have them (PyTorch's own default for convolutions)
    bf16 = "bf16"  # autocast to bfloat16
    fp16 = "fp16"  # autocast to float16

    @property
    def autocast_dtype(self) -> Any:
        """torch.bfloat16 / torch.float16 for the autocast precisions, else None."""
        import torch

        return {Precision.bf16: torch.bfloat16, Precision.fp16: torch.float16}.get(self)


class Launch(str, Enum):
    """How many grid points one forward pass evaluates."""

    auto = "auto"  # the rule: one point per pass (vmap over points was slower everywhere we measured)
    point = "point"  # one point per pass (the data is the batch)
    vmap = "vmap"  # several points per pass with torch.func.vmap


class Compile(str, Enum):
    """torch.compile of the per-point forward; point weights are graph inputs (one compile per grid)."""

    auto = "auto"  # compile when the estimated saving exceeds the device's compile cost
    off = "off"
    default = "default"
    max_autotune = "max-autotune"
    cudagraphs = "reduce-overhead"  # CUDA graphs on a GPU


class DirType(str, Enum):
    weights = "weights"
    states = "states"


class Norm(str, Enum):
    filter = "filter"
    layer = "layer"
    weight = "weight"
    dfilter = "dfilter"
    dlayer = "dlayer"
    none = "none"


class Split(str, Enum):
    train = "train"
    test = "test"


class Scale(str, Enum):
    """How a Hessian file's eigenvectors are scaled as directions."""

    unit = "unit"  # unit norm, as computed
    weights = "weights"  # each scaled to the norm of the weights


class HvpMode(str, Enum):
    auto = "auto"  # the faster exact mode on the device: reverse on CPUs (measured), forward elsewhere
    forward = "forward"  # forward-over-reverse: jvp(grad(L)) (torch.func); reverse where an op lacks forward AD
    reverse = "reverse"  # reverse-over-reverse: PyHessian's double backward, batched over vectors
    fd = "fd"  # central finite differences of gradients: no double backward (fused attention, FSDP)
