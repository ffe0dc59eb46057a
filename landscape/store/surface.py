"""The one result type: a `Surface` as arrays, the same whether `evaluate` computed it in
memory or `read_surface` read it from a file, and the rule that names its values.

Orientation (the paper's): a 2-D array has shape (ny, nx) and is indexed [row = y, column = x]:
value [j, i] belongs to the point (x[i], y[j]), exactly what `np.meshgrid(x, y)` and
`contour(x, y, Z)` expect; a 1-D surface has shape (nx,).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landscape.errors import LandscapeError
from landscape.plane.directions import Directions, Track
from landscape.plane.grid import Grid


def value_names(split: str | None, classification: bool, eigen_map: bool = False) -> list[str]:
    """The names of a surface's values, decided here for memory and file alike (the paper's
    names): `{split}_loss`, `{split}_acc` for classification (split "train" unless the data
    says "test"), and the eigen maps."""
    split = split or "train"
    return [f"{split}_loss"] + ([f"{split}_acc"] if classification else []) + (list(EIGEN_METRICS) if eigen_map else [])


def in_order(names: list[str]) -> list[str]:
    """Value names in the order `value_names` gives them (losses, accuracies, eigen maps, others)."""
    def key(n: str) -> tuple[int, str]:
        return (0 if n.endswith("loss") else 1 if n.endswith("acc") else
                2 + EIGEN_METRICS.index(n) if n in EIGEN_METRICS else 9, n)
    return sorted(names, key=key)


def plane_attrs(directions: Directions, split: str | None) -> dict[str, Any]:
    """The attributes that describe a surface's plane and data, the same in memory and in the
    file: the split, what the directions are (`dir_kind`, `dir_type`), the axis labels, and the
    plane's own notes (a trajectory's explained variance, a Hessian plane's scale, ...)."""
    attrs: dict[str, Any] = {"split": split or "train", "dir_kind": directions.kind,
                             "dir_type": directions.dir_type.value, "xlabel": directions.labels[0],
                             "ylabel": directions.labels[1]}
    attrs.update({k: v for k, v in directions.extra.items() if k not in PAPER_PCA})
    return attrs


PAPER_PCA = ("explained_variance_ratio_", "explained_variance_", "singular_values_")  # datasets in the file


EIGEN_METRICS = ("eig_max", "eig_min", "eig_ratio")  # the convexity maps of `compute --eigen-map`
EIGEN_LABELS = {"eig_max": "largest Hessian eigenvalue", "eig_min": "smallest Hessian eigenvalue",
                "eig_ratio": "|λmin/λmax|"}


def metric_label(name: str) -> str:
    """How figures and pages name a value: "train_loss" -> "train loss", "test_acc" -> "test
    accuracy (%)", "eig_min" -> "smallest Hessian eigenvalue"."""
    split, _, kind = name.rpartition("_")
    text = EIGEN_LABELS.get(name) or (f"{split} accuracy (%)" if kind == "acc" else f"{split} loss" if kind == "loss"
                                      else name)
    return text.strip()


def stem(path: str | Path | None) -> str:
    """A surface's name for files and titles: the file name without `.h5` and a trailing
    `.surface`; "surface" for one computed in memory."""
    if path is None:
        return "surface"
    return Path(path).name.removesuffix(".h5").removesuffix(".hdf5").removesuffix(".surface")


@dataclass
class Surface:
    """A surface as arrays, in memory or read from a file (values NaN where not computed).

    Value names follow the paper's files (`value_names`): `train_loss`, `train_acc` (or
    `test_*`), and for an eigenvalue map `eig_max`, `eig_min`, `eig_ratio` (|λmin/λmax|), each
    of the grid's shape; `surface.loss` is the loss whatever the split. (Files of other tools
    may hold plain `loss` and `acc`.)
    """

    path: Path | None  # None for a surface computed in memory
    x: np.ndarray
    y: np.ndarray | None
    values: dict[str, np.ndarray]  # e.g. {"train_loss": ..., "train_acc": ...}
    computed: np.ndarray  # bool, same shape as the values
    attrs: dict[str, Any] = field(default_factory=dict)
    tracks: dict[str, Track] = field(default_factory=dict)  # "trajectory" and/or "models"
    plan: dict[str, Any] = field(default_factory=dict)  # how the points were evaluated (engine.Plan as a dict)

    @property
    def is_2d(self) -> bool:
        return self.y is not None

    @property
    def grid(self) -> Grid:
        return Grid(tuple(self.x.tolist()), None if self.y is None else tuple(self.y.tolist()))

    @property
    def name(self) -> str:
        """What to call the surface in messages: its file, or "surface" in memory."""
        return str(self.path) if self.path is not None else "surface"

    @property
    def loss(self) -> np.ndarray:
        """The loss values (of the split the surface was made on)."""
        return self.metric("loss")[1]

    def metric(self, kind: str = "loss") -> tuple[str, np.ndarray]:
        """The (name, array) of `kind`: "loss" or "acc" (preferring the split the file was made
        on), or a value's own name such as "eig_ratio"."""
        if kind in self.values:
            return kind, self.values[kind]
        split = self.attrs.get("split")
        names = [f"{split}_{kind}"] if split else []
        names += [n for n in self.values if n.endswith(f"_{kind}") and n not in names]
        for n in names:
            if n in self.values:
                return n, self.values[n]
        raise LandscapeError(f"{self.name} holds no {kind} values (it has {', '.join(self.values) or 'none'})")


def center_value(s: Surface, values: np.ndarray) -> float | None:
    """The value at the origin of the plane, if the grid has the point (0, 0) and it is computed."""
    i = np.flatnonzero(np.isclose(s.x, 0.0, atol=1e-12))
    if len(i) == 0:
        return None
    if s.y is None:
        return float(values[i[0]]) if s.computed[i[0]] else None
    j = np.flatnonzero(np.isclose(s.y, 0.0, atol=1e-12))
    if len(j) == 0 or not s.computed[j[0], i[0]]:
        return None
    return float(values[j[0], i[0]])
