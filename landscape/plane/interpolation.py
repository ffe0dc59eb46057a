"""Model-to-model views: the 1-D interpolation between two checkpoints (Goodfellow et al. 2015)
and the plane through three (A, B, C).

By default the whole state moves (`dir_type` states: BatchNorm running statistics too), so
the points labelled A, B and C are exactly those models; the paper's README runs its
interpolation with `--dir_type states` for this reason. Weights only is an explicit choice.
"""

from __future__ import annotations

import numpy as np
import torch

from landscape.plane.directions import Directions, DirType, Track, base_tensors, plane_of_models

BN_NOTE = ("weights only (dir type weights): BatchNorm running statistics stay model A's all along, so the "
           "loss between the models and at B is not the models' own")
LINE = (-0.5, 1.5, 41)  # Goodfellow et al.'s usual span: A at 0, B at 1


def models_plane(model_a: torch.nn.Module, b: dict[str, torch.Tensor], c: dict[str, torch.Tensor] | None = None,
                 names: tuple[str, ...] = ("A", "B", "C"), dir_type: DirType = DirType.states) -> Directions:
    """The line A→B (d1 = θ_B − θ_A) or the plane through A, B and C (d2 = θ_C − θ_A made
    orthogonal to d1), with the models as a `models` track at (0, 0), (1, 0) and (α, 1)."""
    base = base_tensors(model_a, dir_type)
    d1, d2, points = plane_of_models(base, b, c)
    extra: dict[str, object] = {"note": BN_NOTE} if dir_type == DirType.weights and _has_batchnorm(model_a) else {}
    labels = (f"{names[0]} → {names[1]}", f"toward {names[2]} (orthogonalized)" if c is not None else "")
    xs, ys = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    track = Track(xs, ys, list(names[: len(points)]), [None] * len(points))
    return Directions(d1, d2, dir_type, "interpolation" if c is None else "plane", labels, extra, {"models": track})


def _has_batchnorm(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
