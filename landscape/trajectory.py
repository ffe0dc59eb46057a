"""Training trajectories: the PCA plane of a run's checkpoints and each checkpoint's place in it
(Li et al. 2018, sec. 7), plus the checkpoint ordering they need.

The PCA streams the checkpoints: one row (θ_i − θ_final) at a time into an
(n_checkpoints × n_parameters) float32 matrix, then the small n × n Gram matrix gives the
components, so no covariance of size n_parameters² is ever formed.
"""

from __future__ import annotations

import dataclasses
import glob
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import CHECKPOINT_SUFFIXES, DIRECTORY_FILES, load_model, load_state_for, read_checkpoint, resolve_checkpoint
from .directions import Direction, Directions, DirectionSpec, DirType, Track, base_tensors, chosen
from .errors import LandscapeError
from .grid import MAX_POINTS, Grid
from .surface import ComputeJob

STEP_PATTERN = re.compile(r"(?<![a-z])(?:epoch|ep|step|iter|it|checkpoint)[_\-=]?(\d+)", re.IGNORECASE)
NUMBER_PATTERN = re.compile(r"(\d+)")
NOT_WEIGHTS = re.compile(r"^(optimizer|optim|scheduler|rng_state|trainer_state|training_args|scaler)(_\d+)?$")
FIRST_NAMES = re.compile(r"^(init|initial|start|begin)", re.IGNORECASE)  # unnumbered, but before training


def _step_from_name(path: Path) -> int | None:
    name = path.parent.name + "/" + path.stem if path.name in DIRECTORY_FILES else path.stem
    m = STEP_PATTERN.search(name) or (list(NUMBER_PATTERN.finditer(path.stem)) or [None])[-1]
    return int(m.group(1)) if m else None


def _step_from_file(path: Path) -> int | None:
    try:
        obj = read_checkpoint(path)
    except LandscapeError:
        return None
    if isinstance(obj, dict):
        for key in ("epoch", "step", "global_step", "iteration"):
            if isinstance(obj.get(key), (int, np.integer)):
                return int(obj[key])
    return None


def _is_weights_file(p: Path) -> bool:
    return p.is_file() and p.suffix in CHECKPOINT_SUFFIXES and not NOT_WEIGHTS.match(p.stem)


def _holds_weights(p: Path) -> bool:
    return p.is_dir() and any((p / name).is_file() for name in DIRECTORY_FILES)


def is_checkpoint_folder(p: Path) -> bool:
    """A folder that is one checkpoint (a Hugging Face checkpoint-N/ holding model.safetensors),
    not a run: it holds weights and no checkpoint-* folders of its own."""
    return _holds_weights(p) and not any(c.is_dir() for c in p.glob("checkpoint-*"))


def expand_checkpoints(items: list[str | Path]) -> list[Path]:
    """Checkpoint files from files, globs and folders. A folder that is one checkpoint (e.g.
    a Hugging Face `checkpoint-500/` holding model.safetensors) counts as one; a folder of
    checkpoints counts as its weight files and checkpoint folders."""
    found: list[Path] = []
    for item in items:
        matches = [Path(f) for f in sorted(glob.glob(str(item)))] if any(c in str(item) for c in "*?[") else [Path(item)]
        if not matches or not matches[0].exists():
            raise LandscapeError(f"checkpoint {str(item)!r} does not exist" if matches == [Path(item)]
                                 else f"no files match {str(item)!r}")
        for p in matches:
            if is_checkpoint_folder(p):
                found.append(resolve_checkpoint(p))
            elif p.is_dir():  # a folder of checkpoints (a trainer's output folder: its own weights are the last)
                for child in sorted(p.iterdir()):
                    if _holds_weights(child):
                        found.append(resolve_checkpoint(child))
                    elif _is_weights_file(child):
                        found.append(child)
                if _holds_weights(p):
                    found.append(resolve_checkpoint(p))
            elif _is_weights_file(p) or (p.is_file() and len(matches) == 1):
                found.append(p)
    unique = list(dict.fromkeys(found))
    if not unique:
        raise LandscapeError(f"no checkpoint files found in {', '.join(map(str, items))}")
    return unique


def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def order_checkpoints(paths: list[Path]) -> tuple[list[Path], list[int | None]]:
    """Training order: each checkpoint by the epoch/step in its name, else the one stored in
    it; of those with neither, init*/start* go first and the rest last, in natural name order
    (epoch_2 before epoch_10)."""
    steps = [_step_from_name(p) for p in paths]
    steps = [s if s is not None else _step_from_file(p) for p, s in zip(paths, steps)]
    def key(ps: tuple[Path, int | None]) -> tuple:
        path, step = ps
        rank = 1 if step is not None else (0 if FIRST_NAMES.match(path.stem) else 2)  # init.pt first, final.pt last
        return (rank, step or 0, _natural(str(path)))

    pairs = sorted(zip(paths, steps), key=key)
    return [p for p, _ in pairs], [s for _, s in pairs]


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
    params: DirectionSpec | None = None,
) -> Directions:
    """The PCA plane of one or several training runs around `model` (the final weights): the
    top two principal components of θ_i − θ_final over every checkpoint of every run, each
    checkpoint's projection (a `trajectory` track, one run per path) and its projection
    residual — the share of |θ_i − θ_final| that lies off the plane (Li et al. 2018, sec. 7)."""
    epochs = epochs or [[None] * len(r) for r in runs]
    base = base_tensors(model, dir_type)
    only = chosen(model, params) if params is not None else None
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
        raise LandscapeError(f"--resolution must be from 2 to {MAX_POINTS:,} points per axis, got {num:,}")
    lo, hi = min(0.0, float(np.min(values))), max(0.0, float(np.max(values)))
    pad = margin * (hi - lo) if hi > lo else 1.0
    return tuple(np.linspace(lo - pad, hi + pad, num).tolist())


def fitted_grid(track: Track, num: int = 31, margin: float = 0.25) -> Grid:
    """A grid around every point of the track and the origin."""
    if num < 2:
        raise LandscapeError(f"--resolution must be at least 2, got {num}")
    return Grid(fitted_axis(track.x, num, margin), fitted_axis(track.y, num, margin))


def trajectory_job(
    template: ComputeJob,
    runs: list[list[Path]],
    run_names: list[str] | None = None,
    final: Path | None = None,
    x: tuple[float, ...] | None = None,
    y: tuple[float, ...] | None = None,
    resolution: int = 31,
    ignore_biasbn: bool = True,
) -> ComputeJob:
    """A job over the PCA plane of one or several training runs (each a list of checkpoints in
    training order), centred on `final` (default: the first run's last checkpoint).

    `template` carries the model spec, data, loss, evaluation and output settings; each axis
    is fitted around the projected paths unless `x`/`y` give its coordinates.
    """
    if not runs or not all(runs):
        raise LandscapeError("a trajectory needs checkpoints")
    ordered = [order_checkpoints(run) for run in runs]
    final = Path(final) if final is not None else ordered[0][0][-1]
    model = load_model(final, template.model, template.trust_checkpoint)
    plane = trajectory_plane(model, [p for p, _ in ordered], [e for _, e in ordered], run_names,
                             template.directions.dir_type, ignore_biasbn, template.trust_checkpoint,
                             template.directions if (template.directions.params or template.directions.trainable_only)
                             else None)
    fitted = fitted_grid(plane.tracks["trajectory"], resolution)
    grid = Grid(x if x is not None else fitted.x, y if y is not None else fitted.y)
    return dataclasses.replace(template, checkpoint=final, grid=grid, plane=plane)
