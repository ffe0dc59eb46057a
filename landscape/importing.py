"""Resolve `pkg.module:name` specs given on the command line (model factories, data, losses)."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from .errors import LandscapeError


def import_object(spec: str, what: str) -> Any:
    """Import `pkg.module:name` (dots after the colon walk attributes); `what` names it in errors."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise LandscapeError(f"{what} {spec!r} is not of the form 'pkg.module:name'")
    if os.getcwd() not in sys.path:  # the installed command does not put the working folder on the path
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as e:  # an import error or an error raised while importing the user's module
        raise LandscapeError(f"cannot import {what} module {module_name!r}: {type(e).__name__}: {e}") from e
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise LandscapeError(f"{what} {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise LandscapeError(f"{what} {spec!r} is not callable (it is a {type(obj).__name__})")
    return obj
