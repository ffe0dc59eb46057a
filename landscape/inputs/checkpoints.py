"""Finding training checkpoints and putting them in training order: files, globs, a folder of
checkpoints, a trainer's `checkpoint-N/` folders, one folder per run."""

from __future__ import annotations

import glob
import re
from pathlib import Path

import numpy as np

from landscape.errors import LandscapeError
from landscape.inputs.checkpoint import CHECKPOINT_SUFFIXES, DIRECTORY_FILES, read_checkpoint, resolve_checkpoint
from landscape.inputs.runs import is_recorded_run, read_run

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
    return _holds_weights(p) and not any(c.is_dir() for c in p.glob("checkpoint-*")) and not is_recorded_run(p)


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
            elif is_recorded_run(p):  # recorded by landscape.callbacks: the checkpoints its run.json lists
                found += read_run(p).checkpoints
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


def find_runs(items: list[str | Path]) -> tuple[list[list[Path]], list[str]]:
    """Training runs from what a user names: each folder of checkpoints is one run (named after
    the folder); the loose files and globs together are one more ("checkpoints"). Each run is
    in training order."""
    folders = [c for c in items if Path(c).is_dir() and not is_checkpoint_folder(Path(c))]
    loose = [c for c in items if c not in folders]
    groups = [[f] for f in folders] + ([loose] if loose else [])
    runs = [order_checkpoints(expand_checkpoints(g))[0] for g in groups]
    return runs, [Path(f).name for f in folders] + (["checkpoints"] if loose else [])
