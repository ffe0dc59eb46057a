"""The files a command writes: their default names, the check made before any work, and the
line that reports each."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from landscape.errors import LandscapeError

OUTPUTS = Path("outputs")  # where the default names go


def stem(path: Path) -> str:
    """The name a default output file is made from: a folder's name, a file's stem."""
    return path.name if path.is_dir() else path.stem


def check_outputs(paths: list[Path], overwrite: bool) -> set[Path]:
    """Before any work: each output can be written (its folder made and writable, not a folder
    itself) and is new, or `overwrite` allows replacing it. Returns those that will be replaced."""
    from landscape import store

    there = set()
    for p in paths:
        store.check_writable(p)
        if p.exists() or p.is_symlink():
            if not overwrite:
                raise LandscapeError(f"{p} already exists; pass --overwrite to replace it, or choose another --out")
            there.add(p)
    return there


def wrote(path: Path, replaced: Collection[Path]) -> str:
    """"wrote PATH", or "replaced PATH" where a file was there before."""
    return f"{'replaced' if path in replaced else 'wrote'} {path}"
