"""`x=AutoRange(...)`: the range along each direction where the loss rises `rise` times from the
centre, found by a short 1-D search; and the check that the centre itself has a finite loss."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from landscape.engine import EvalSettings, Evaluator, plan_for
from landscape.errors import LandscapeError, arg
from landscape.inputs.data import Data
from landscape.inputs.objective import Objective
from landscape.plane.directions import Directions
from landscape.plane.grid import AutoRange, Grid
from landscape.run.job import Note


def auto_grid(auto: AutoRange, model: nn.Module, data: Data, directions: Directions, objective: Objective,
              settings: EvalSettings, device: torch.device, note: Note) -> Grid:
    """The grid of `--x auto`: along each direction the smallest symmetric range whose ends
    (both of them) reach `rise` times the loss at the centre, by doubling then bisection."""
    plan, objective = plan_for(model, data, objective, settings, device, 64)
    ev = Evaluator(model, data, directions, objective, plan, device, note)
    centre = check_centre(ev)
    if not centre > 0:
        raise LandscapeError(f"an automatic range needs a positive loss at the centre to rise from, and it is "
                             f"{centre:g} there; give the range instead, for example {arg('x', '-1:1:51')}", field="x")
    target = auto.rise * centre

    def radius(axis: int) -> tuple[float, bool]:
        """The radius along one direction, and whether the loss reached the target there."""
        worst = 0.0
        for sign in (1.0, -1.0):
            def rises(r: float) -> bool:
                point = np.zeros((1, 2))
                point[0, axis] = sign * r
                value = float(ev.evaluate(point)[0][0])
                return not np.isfinite(value) or value >= target
            lo, hi = 0.0, 0.05
            while not rises(hi):
                lo, hi = hi, 2 * hi
                if hi > auto.max_radius:
                    return auto.max_radius, False
            for _ in range(8):
                mid = (lo + hi) / 2
                lo, hi = (lo, mid) if rises(mid) else (mid, hi)
            worst = max(worst, hi)
        return float(f"{worst:.3g}"), True

    found = [radius(0)] + ([radius(1)] if auto.ny is not None else [])
    for axis, (r, reached) in enumerate(found):
        name = "xy"[axis]
        note(f"{arg(name)} auto: the loss rises {auto.rise:g}× from {centre:.4g} within ±{r:g} along direction {axis + 1}"
             if reached else f"{arg(name)} auto: the loss does not rise {auto.rise:g}× from {centre:.4g} within "
                             f"±{auto.max_radius:g} along direction {axis + 1}; using ±{auto.max_radius:g}")
    rx, ry = found[0][0], (found[1][0] if len(found) > 1 else None)
    return Grid.linspace((-rx, rx, auto.nx), (-ry, ry, auto.ny) if ry is not None else None)


def check_centre(ev: Evaluator) -> float:
    """The loss at the centre of the plane (the model's own weights): a user error if it is not
    finite, since a landscape around a diverged model shows nothing."""
    centre = float(ev.evaluate(np.zeros((1, 2)))[0][0])
    if not np.isfinite(centre):
        raise LandscapeError(f"the loss at the model's own weights (the centre of the plane) is {centre}: the model "
                             f"diverged or the data or loss is broken there; check the checkpoint, {arg('data')} and {arg('loss')}")
    return centre
