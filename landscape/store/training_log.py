"""The log of a training run that `landscape.callbacks` writes beside its checkpoints: one HDF5
file (`training.h5`) and the same numbers as CSV for a spreadsheet (`sharpness.csv`,
`schedule.csv`).

Layout of the HDF5 file:
- root attributes: `format` ("landscape-training-log"), `format_version`, and what the run
  says about itself (its name, the optimizer, the sharpness settings);
- group `sharpness`: one 1-D float64 dataset per column, one entry per measurement (`step`,
  `epoch`, `lr`, `two_over_lr`, `threshold`, `lambda_max`, `critical_sharpness`, `loss`, ...);
- group `steps`: one entry per optimizer step (`step`, `epoch`, `lr`, and `train_loss` where the
  loop gave it).

Each write replaces the whole file through a temporary one (`files.replacing`), so a run killed
while writing leaves the previous log, never half of one. A log is small: a measurement is a
dozen numbers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from landscape import store
from landscape.errors import LandscapeError
from landscape.store.files import reason, replacing, write_bytes

FORMAT = "landscape-training-log"
FORMAT_VERSION = 1
LOG_NAME = "training.h5"
GROUPS = ("sharpness", "steps")
CSV_NAMES = {"sharpness": "sharpness.csv", "steps": "schedule.csv"}
WHAT = "a training log"
AGAIN = "train again with a landscape callback"


@dataclass
class TrainingLog:
    """What a run logged: per measurement (`sharpness`) and per step (`steps`), each a dict of
    equal-length columns, and the run's attributes."""

    path: Path
    sharpness: dict[str, np.ndarray] = field(default_factory=dict)
    steps: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The run's name: its attribute, else its folder's name."""
        return str(self.attrs.get("run") or self.path.parent.name or self.path.stem)


def write_log(folder: Path, columns: Mapping[str, Mapping[str, Sequence[float]]], attrs: Mapping[str, Any]) -> Path:
    """The log in `folder`: training.h5 and sharpness.csv, each replaced whole (the per-step
    schedule.csv grows by `append_rows`, as a long run's would be slow to rewrite)."""
    folder = Path(folder)
    path = folder / LOG_NAME
    try:
        with replacing(path, sync=False) as tmp, h5py.File(tmp, "w") as f:
            for k, v in attrs.items():
                f.attrs[k] = store.attribute(v)
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            for group in GROUPS:
                g = f.create_group(group)
                for name, values in columns.get(group, {}).items():
                    g.create_dataset(name, data=np.asarray(values, dtype=np.float64))
        write_bytes(folder / CSV_NAMES["sharpness"], _csv(columns.get("sharpness", {})).encode(), sync=False)
    except OSError as e:
        raise LandscapeError(f"cannot write the training log in {str(folder)!r}: {reason(e)}") from None
    return path


def _cell(v: float) -> str:
    v = float(v)
    if math.isnan(v):
        return ""
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


def _csv(columns: Mapping[str, Sequence[float]], header: bool = True) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    names = list(columns)
    if header:
        w.writerow(names)
    for row in zip(*(columns[n] for n in names)):
        w.writerow([_cell(v) for v in row])
    return out.getvalue()


def append_rows(folder: Path, columns: Mapping[str, Sequence[float]], anew: bool = False) -> None:
    """Append the rows of `columns` to schedule.csv in `folder` (its header first, when new);
    `anew`: replace what the file held (a run that starts again)."""
    path = Path(folder) / CSV_NAMES["steps"]
    try:
        new = anew or not path.exists()
        with open(path, "w" if anew else "a", encoding="utf-8") as f:
            f.write(_csv(columns, header=new))
    except OSError as e:
        raise LandscapeError(f"cannot write {str(path)!r}: {reason(e)}") from None


def log_path(path: str | Path) -> Path:
    """The log a user names: the file, or the training.h5 in a run's folder."""
    path = Path(path)
    return path / LOG_NAME if path.is_dir() else path


def is_training_log(path: str | Path) -> bool:
    """Whether `path` (a file, or a run's folder) is a training log (False for anything else)."""
    path = log_path(path)
    if not path.is_file():
        return False
    try:
        return store.read_attrs(path, WHAT, AGAIN).get("format") == FORMAT
    except LandscapeError:
        return False


def read_log(path: str | Path) -> TrainingLog:
    """A log written by `write_log` (a file, or the folder holding it). A damaged one (a group
    missing, a column not numbers, columns of unequal lengths) is a one-line `LandscapeError`."""
    path = log_path(path)
    if not path.is_file():
        raise LandscapeError(f"{str(path)!r}: no such training log; give the training.h5 a landscape callback wrote "
                             "(or its folder)")

    def read() -> TrainingLog:
        log = TrainingLog(path)
        with store.open_file(path) as f:
            if store.plain(f.attrs.get("format", "")) != FORMAT:
                raise LandscapeError(f"{str(path)!r} is not a training log (written by a landscape callback)")
            log.attrs = {k: store.plain(v) for k, v in f.attrs.items()}
            for group in GROUPS:
                g = f.get(group)
                if not isinstance(g, h5py.Group):
                    raise LandscapeError(f"{str(path)!r}: the group {group!r} is missing; the log is damaged: {AGAIN}")
                nodes = [(n, g[n]) for n in g]
                for n, d in nodes:
                    if not isinstance(d, h5py.Dataset) or d.dtype.kind not in "iuf" or len(d.shape) != 1:
                        raise LandscapeError(f"{str(path)!r}: {group}/{n} is not a list of numbers; the log is "
                                             f"damaged: {AGAIN}")
                if len({d.shape[0] for _, d in nodes}) > 1:
                    raise LandscapeError(f"{str(path)!r}: the columns of {group} differ in length; the log is damaged: "
                                         f"{AGAIN}")
                store.check_backed(path, nodes)
                setattr(log, group, {n: np.asarray(d[()], dtype=np.float64) for n, d in nodes})
        return log

    return store.guarded(path, read, WHAT, AGAIN)
