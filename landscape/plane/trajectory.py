"""Training trajectories: the PCA plane of a run's checkpoints and each checkpoint's place in it
(Li et al. 2018, sec. 7). Finding and ordering the checkpoints is `inputs.checkpoints`.

The PCA streams the checkpoints: one row (θ_i − θ_final) at a time into an
(n_checkpoints × n_parameters) float32 matrix, then the small n × n Gram matrix gives the
components, so no covariance of size n_parameters² is ever formed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from landscape.errors import LandscapeError, arg
from landscape.inputs.checkpoint import load_state_for
from landscape.inputs.params import ParamSelection
from landscape.plane.directions import DirType, Direction, Directions, Track, base_tensors
from landscape.plane.grid import Grid, MAX_POINTS

@dataclass
class PCA:
    """Top two principal components of the rows θ_i − θ_final."""

    components: np.ndarray  # (2, P) unit vectors
    singular_values: np.ndarray  # (2,)
    explained_variance: np.ndarray  # (2,) s² / (n − 1), as scikit-learn reports it
    explained_variance_ratio: np.ndarray  # (2,)
    projections: np.ndarray  # (n, 2): <θ_i − θ_final, d_k>


def pca_of_rows(rows: np.ndarray) -> PCA:
    """PCA (centered, like scikit-learn's) of an (n, P) matrix through its n × n Gram matrix."""
    n = rows.shape[0]
    if n < 3:
        raise LandscapeError(f"a trajectory plane needs at least 3 checkpoints, got {n}")
    mean = rows.mean(axis=0, dtype=np.float64)
    gram = np.zeros((n, n))
    for s in range(0, rows.shape[1], 1 << 20):  # chunks keep float64 copies small
        block = rows[:, s : s + (1 << 20)].astype(np.float64) - mean[s : s + (1 << 20)]
        gram += block @ block.T  # (n, n)
    eigval, eigvec = np.linalg.eigh(gram)
    order = np.argsort(eigval)[::-1]
    eigval, eigvec = np.clip(eigval[order], 0.0, None), eigvec[:, order]
    total = eigval.sum()
    if eigval[1] <= 1e-12 * max(total, 1e-300):
        raise LandscapeError("the checkpoints lie on a line (or are all equal): there is no second principal direction")
    s = np.sqrt(eigval[:2])
    components = np.zeros((2, rows.shape[1]))
    for k in range(2):
        for c in range(0, rows.shape[1], 1 << 20):
            block = rows[:, c : c + (1 << 20)].astype(np.float64) - mean[c : c + (1 << 20)]
            components[k, c : c + (1 << 20)] = eigvec[:, k] @ block / s[k]
    projections = np.zeros((n, 2))
    for c in range(0, rows.shape[1], 1 << 20):  # (n, 2), without a float64 copy of all rows
        projections += rows[:, c : c + (1 << 20)].astype(np.float64) @ components[:, c : c + (1 << 20)].T
    # Signs: training starts at negative coordinates and moves toward the final model at 0.
    for k in range(2):
        if projections[0, k] > 0:
            components[k] *= -1
            projections[:, k] *= -1
    return PCA(components, s, eigval[:2] / (n - 1), eigval[:2] / total, projections)


def _flat_names(base: Direction, ignore_biasbn: bool) -> list[str]:
    return [n for n, t in base.items() if t.is_floating_point() and not (ignore_biasbn and t.dim() <= 1)]


def trajectory_plane(
    model: nn.Module,
    runs: list[list[Path]],
    epochs: list[list[int | None]] | None = None,
    run_names: list[str] | None = None,
    dir_type: DirType = DirType.weights,
    ignore_biasbn: bool = True,
    trust: bool = False,
    select: ParamSelection = ParamSelection(),
) -> Directions:
    """The PCA plane of one or several training runs around `model` (the final weights): the
    top two principal components of θ_i − θ_final over every checkpoint of every run, each
    checkpoint's projection (a `trajectory` track, one run per path) and its projection
    residual — the share of |θ_i − θ_final| that lies off the plane (Li et al. 2018, sec. 7)."""
    epochs = epochs or [[None] * len(r) for r in runs]
    base = base_tensors(model, dir_type)
    only = select.names(model, base)
    names = [n for n in _flat_names(base, ignore_biasbn) if only is None or n in only]
    sizes = [base[n].numel() for n in names]
    paths = [p for run in runs for p in run]
    rows = np.zeros((len(paths), sum(sizes)), dtype=np.float32)  # (n_checkpoints, P)
    for i, path in enumerate(paths):
        state = load_state_for(model, path, trust)  # one checkpoint in memory at a time
        rows[i] = torch.cat([(state[n].float() - base[n].float()).flatten() for n in names]).numpy()
    pca = pca_of_rows(rows)
    norms = np.zeros(len(paths))
    for c in range(0, rows.shape[1], 1 << 20):
        norms += (rows[:, c : c + (1 << 20)].astype(np.float64) ** 2).sum(axis=1)
    on_plane = (pca.projections**2).sum(axis=1)
    residual = np.where(norms > 0, np.sqrt(np.clip(norms - on_plane, 0.0, None) / np.where(norms > 0, norms, 1.0)), 0.0)
    dirs = []
    for k in range(2):
        d = {}
        parts = dict(zip(names, np.split(pca.components[k], np.cumsum(sizes)[:-1])))
        for n, t in base.items():
            d[n] = (torch.from_numpy(parts[n]).view(t.shape).to(t.dtype) if n in parts
                    else torch.zeros_like(t, dtype=torch.float32))
        dirs.append(d)
    ratio = pca.explained_variance_ratio
    several = len(runs) > 1
    track = Track(pca.projections[:, 0], pca.projections[:, 1], [p.name for p in paths],
                  [e for run in epochs for e in run],
                  np.repeat(np.arange(len(runs)), [len(r) for r in runs]) if several else None,
                  list(run_names or [f"run {k + 1}" for k in range(len(runs))]) if several else [], residual)
    return Directions(
        dirs[0], dirs[1], dir_type, "pca",
        (f"PC1 ({100 * ratio[0]:.1f}%)", f"PC2 ({100 * ratio[1]:.1f}%)"),
        {
            "explained_variance_": pca.explained_variance,
            "explained_variance_ratio_": ratio,
            "singular_values_": pca.singular_values,
            "note": "PCA directions of the training path" + ("s" if several else "") + ", not filter-normalized",
        },
        {"trajectory": track},
    )


def fitted_axis(values: np.ndarray, num: int, margin: float = 0.25) -> tuple[float, ...]:
    """`num` coordinates spanning the values and the origin, with a margin on each side."""
    if not 2 <= num <= MAX_POINTS:
        raise LandscapeError(f"{arg('resolution')} must be from 2 to {MAX_POINTS:,} points per axis, got {num:,}")
    lo, hi = min(0.0, float(np.min(values))), max(0.0, float(np.max(values)))
    pad = margin * (hi - lo) if hi > lo else 1.0
    return tuple(np.linspace(lo - pad, hi + pad, num).tolist())


def fitted_grid(track: Track, num: int = 31, margin: float = 0.25) -> Grid:
    """A grid around every point of the track and the origin."""
    if num < 2:
        raise LandscapeError(f"{arg('resolution')} must be at least 2, got {num}")
    return Grid(fitted_axis(track.x, num, margin), fitted_axis(track.y, num, margin))
