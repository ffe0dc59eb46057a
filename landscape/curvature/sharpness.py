"""Sharpness numbers of a trained model, one row per checkpoint, for a paper's table.

- the loss and accuracy at θ;
- the top Hessian eigenvalue and Hutchinson's trace ± its standard error (`hessian.py`);
- ε-sharpness (Keskar et al. 2017, "On Large-Batch Training for Deep Learning: Generalization
  Gap and Sharp Minima", sec. 2.2.2, eq. 3): the largest rise of the loss within the box
  |δ_i| ≤ ε(|θ_i| + 1), as φ = 100 · (max L(θ+δ) − L(θ)) / (1 + L(θ)), and the raw rise;
- the mean (± std) rise L(θ + r·d) − L(θ) over N random filter-normalized directions d
  (Li et al. 2018, sec. 4: the same directions as a surface's, from `directions.random_direction`).

`write_table` writes the rows as CSV, a Markdown table and a LaTeX booktabs tabular.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import grad_and_value

from landscape.plane.directions import DirectionSpec, add, base_tensors, check_seed, random_direction
from landscape.errors import LandscapeError
from landscape.store.files import write_bytes
from landscape.curvature.hessian import HessianSettings, autocast_context, eval_mode, evaluate, hessian, resolve_params
from landscape.inputs.objective import EvalFn, call_with


class AscentStart(str, Enum):
    zero = "zero"  # δ = 0: a coordinate whose gradient is exactly 0 never moves
    random = "random"  # δ uniform in a tenth of the box: every coordinate starts with a direction


@dataclass(frozen=True)
class SharpnessSettings:
    """How each number of a row is measured; validated when built.

    The Hessian numbers use `hessian` (its `params`, `autocast` and `hvp_mode` also serve the
    ascent and the loss evaluations; top_k 1 is enough for the table)."""

    epsilon: float = 1e-3  # box half-width per coordinate, relative: ε(|θ_i| + 1)
    ascent_steps: int = 10  # projected sign-gradient ascent steps
    ascent_step: float = 0.25  # each step moves every coordinate by this fraction of its half-width
    ascent_start: AscentStart = AscentStart.random
    seed: int = 0  # of the random start
    radius: float = 0.1  # r of the random directions
    directions: int = 10  # N; 0 skips the random rise
    direction_spec: DirectionSpec = field(default_factory=DirectionSpec)  # filter-normalized, biases/BN ignored, seed
    hessian: HessianSettings = field(default_factory=lambda: HessianSettings(top_k=1, trace=True, probes=100))

    def __post_init__(self) -> None:
        for name in ("epsilon", "ascent_step", "radius"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise LandscapeError(f"sharpness setting {name} must be a positive number, got {v!r}")
        if not isinstance(self.ascent_steps, int) or self.ascent_steps < 1:
            raise LandscapeError(f"sharpness ascent_steps must be a whole number ≥ 1, got {self.ascent_steps!r}")
        if not isinstance(self.directions, int) or self.directions < 0:
            raise LandscapeError(f"sharpness directions must be a whole number ≥ 0 (0 skips them), "
                                 f"got {self.directions!r}")
        object.__setattr__(self, "ascent_start", AscentStart(self.ascent_start))
        object.__setattr__(self, "seed", check_seed(self.seed))


@dataclass
class SharpnessRow:
    """One checkpoint's numbers (NaN where not measured)."""

    name: str
    loss: float
    accuracy: float  # percent; NaN without class labels
    top_eigenvalue: float
    trace: float
    trace_stderr: float
    probes: int
    epsilon: float
    eps_sharpness: float  # Keskar's φ, percent
    eps_rise: float  # max L(θ+δ) − L(θ) over the box
    radius: float
    directions: int
    random_rise: float  # mean over directions of L(θ + r·d) − L(θ)
    random_rise_std: float  # their standard deviation (n − 1)


@dataclass
class EpsilonSharpness:
    rise: float  # max L(θ+δ) − L(θ) found
    phi: float  # 100 · rise / (1 + L(θ))
    loss: float  # L(θ)


def epsilon_sharpness(model: nn.Module, batches: Sequence[Any], fn: EvalFn, epsilon: float = 1e-3, steps: int = 10,
                      step: float = 0.25, start: AscentStart = AscentStart.random, seed: int = 0,
                      params: Sequence[str] | None = None, autocast: torch.dtype | None = None,
                      tick: Callable[[], None] | None = None) -> EpsilonSharpness:
    """Keskar et al.'s ε-sharpness in the full parameter space (their A = I): the largest loss
    within the box C_ε = {δ : |δ_i| ≤ ε(|θ_i| + 1)}, searched by projected sign-gradient ascent
    (δ ← clip(δ + step · r ⊙ sign ∇L(θ+δ), −r, r), r_i = ε(|θ_i| + 1)) instead of their
    L-BFGS-B; the best loss seen over all iterates counts, so more steps never lower it.
    Sign steps suit the box: its maximum of a separable convex loss lies at a vertex, which
    they reach in 1/step steps. `tick()` is called after each step (a place to stop)."""
    names = resolve_params(model, params)
    own = dict(model.named_parameters())
    theta = {n: own[n].detach() for n in names}
    fixed = {n: p.detach() for n, p in own.items() if n not in theta}
    device = theta[names[0]].device
    base = evaluate(model, batches, fn, None, autocast)
    l0 = base.loss
    r = {n: epsilon * (t.abs() + 1) for n, t in theta.items()}
    if start == AscentStart.random:
        gen = torch.Generator().manual_seed(seed)
        delta = {n: (torch.rand(t.shape, generator=gen, dtype=t.dtype).to(device) * 2 - 1) * 0.1 * r[n]
                 for n, t in theta.items()}
    else:
        delta = {n: torch.zeros_like(t) for n, t in theta.items()}

    def loss_sum(d: dict[str, torch.Tensor], batch: Any) -> torch.Tensor:
        with autocast_context(device, autocast):
            out = call_with(model, {**fixed, **{n: theta[n] + d[n] for n in names}}, fn, batch)[0]
        return out.to(torch.promote_types(out.dtype, torch.float32))

    best = torch.full((), -math.inf, dtype=torch.float64, device=device)  # on the device: no sync per step
    with eval_mode(model):
        for _ in range(steps):
            g = {n: torch.zeros_like(t) for n, t in theta.items()}
            total = torch.zeros((), dtype=torch.float64, device=device)
            for batch in batches:
                gb, value = grad_and_value(loss_sum)(delta, batch)
                total += value.detach().double()
                for n in names:
                    g[n] += gb[n]
            best = torch.maximum(best, total / base.samples)
            delta = {n: torch.clamp(delta[n] + step * r[n] * torch.sign(g[n]), -r[n], r[n]) for n in names}
            if tick is not None:
                tick()
        last = evaluate(model, batches, fn, {**fixed, **{n: theta[n] + delta[n] for n in names}}, autocast)
    top = max(float(best), last.loss)
    rise = top - l0
    return EpsilonSharpness(rise, 100.0 * rise / (1.0 + l0), l0)


def random_rise(model: nn.Module, batches: Sequence[Any], fn: EvalFn, radius: float = 0.1, count: int = 10,
                spec: DirectionSpec = DirectionSpec(), autocast: torch.dtype | None = None,
                loss: float | None = None, only: set[str] | None = None,
                tick: Callable[[], None] | None = None) -> np.ndarray:
    """L(θ + r·d) − L(θ) for `count` random directions d drawn one after another from one
    generator seeded with `spec.seed` (so the first two are the d1, d2 of a surface with the
    same spec), normalized per `spec` (filter normalization, biases and BatchNorm ignored, by
    default). `loss`: L(θ), if already known; `only`: move these tensors only; `tick()` after each."""
    base = base_tensors(model, spec.dir_type)
    l0 = evaluate(model, batches, fn, None, autocast).loss if loss is None else loss
    gen = torch.Generator().manual_seed(spec.seed)
    rises = []
    for _ in range(count):
        d = random_direction(base, spec, gen, only)
        if not any(bool(t.any()) for t in d.values()):
            raise LandscapeError("the random directions move no parameter: the parameters chosen are all 1-D "
                                 "(biases, BatchNorm), which filter-normalized directions keep still; choose "
                                 "parameters that include weights, or no random directions (--directions 0)")
        rises.append(evaluate(model, batches, fn, add(base, d, radius), autocast).loss - l0)
        if tick is not None:
            tick()
    return np.asarray(rises, dtype=np.float64)


def sharpness(model: nn.Module, batches: Sequence[Any], fn: EvalFn, settings: SharpnessSettings = SharpnessSettings(),
              name: str = "", tick: Callable[[], None] | None = None) -> SharpnessRow:
    """Every number of a row for one model (the CLI calls it once per checkpoint).

    `batches`: a list of whatever `fn` takes, already on the weights' device. The model and
    its tensors are left as they were. `tick()` is called between steps of the work (a place
    to stop it)."""
    h = settings.hessian
    hr = hessian(model, batches, fn, h, progress=None if tick is None else lambda done, total: tick())
    eps = epsilon_sharpness(model, batches, fn, settings.epsilon, settings.ascent_steps, settings.ascent_step,
                            settings.ascent_start, settings.seed, h.params, h.autocast, tick)
    rises = (random_rise(model, batches, fn, settings.radius, settings.directions, settings.direction_spec,
                         h.autocast, hr.loss, set(hr.params) if h.params else None, tick)
             if settings.directions else np.array([]))
    nan = float("nan")
    return SharpnessRow(
        name=name, loss=hr.loss, accuracy=hr.accuracy, top_eigenvalue=float(hr.eigenvalues[0]),
        trace=nan if hr.trace is None else hr.trace, trace_stderr=nan if hr.trace_stderr is None else hr.trace_stderr,
        probes=hr.probes, epsilon=settings.epsilon, eps_sharpness=eps.phi, eps_rise=eps.rise,
        radius=settings.radius, directions=len(rises),
        random_rise=float(rises.mean()) if len(rises) else nan,
        random_rise_std=float(rises.std(ddof=1)) if len(rises) > 1 else nan)


# ------------------------------------------------------------------------------------ the table


def _columns(rows: Sequence[SharpnessRow]) -> list[tuple[str, str, str | None]]:
    """(heading, value field, ± field or None) of each column, the settings in the headings."""
    first = rows[0]
    for r in rows[1:]:
        if (r.epsilon, r.radius, r.directions) != (first.epsilon, first.radius, first.directions):
            raise LandscapeError(f"rows {first.name!r} and {r.name!r} were measured with different ε, r or N; "
                                 "one table takes rows measured alike")
    cols: list[tuple[str, str, str | None]] = [("checkpoint", "name", None), ("loss", "loss", None)]
    if any(math.isfinite(r.accuracy) for r in rows):
        cols.append(("accuracy (%)", "accuracy", None))
    cols += [("top eigenvalue", "top_eigenvalue", None), ("trace", "trace", "trace_stderr"),
             (f"ε-sharpness (ε={first.epsilon:g})", "eps_sharpness", None),
             (f"loss rise in ε-box (ε={first.epsilon:g})", "eps_rise", None)]
    if first.directions:
        cols.append((f"random rise (r={first.radius:g}, N={first.directions})", "random_rise", "random_rise_std"))
    return cols


def _sig(v: float, digits: int = 4) -> str:
    """A number with `digits` significant digits, plain where that reads well."""
    if not math.isfinite(v):
        return ""
    if v == 0:
        return "0"
    text = f"{v:.{digits}g}"
    if "e" in text and 1e-4 <= abs(v) < 1e6:
        text = f"{v:.{max(0, digits - 1 - math.floor(math.log10(abs(v))))}f}"
    return text


def _pm(v: float, err: float) -> tuple[str, str]:
    """Value and error rounded together: the error to 2 significant digits, the value to the same place."""
    if not math.isfinite(v):
        return "", ""
    if not math.isfinite(err) or err <= 0:
        return _sig(v), ""
    if v != 0 and not 1e-3 <= abs(v) < 1e6:  # scientific, the value to the error's second digit
        digits = min(17, max(1, math.floor(math.log10(abs(v))) - math.floor(math.log10(err)) + 2))
        return f"{v:.{digits - 1}e}", f"{err:.1e}"
    place = 1 - math.floor(math.log10(err))  # decimals that keep 2 digits of the error
    if place >= 0:
        return f"{v:.{place}f}", f"{err:.{place}f}"
    unit = 10.0 ** (-place)
    return f"{round(v / unit) * unit:.0f}", f"{round(err / unit) * unit:.0f}"


def _cells(row: SharpnessRow, cols: list[tuple[str, str, str | None]]) -> list[tuple[str, str]]:
    out = []
    for _, key, err in cols:
        v = getattr(row, key)
        if key == "name":
            out.append((str(v), ""))
        elif err is not None:
            out.append(_pm(v, getattr(row, err)))
        else:
            out.append((_sig(v), ""))
    return out


def table_csv(rows: Sequence[SharpnessRow]) -> str:
    """Full precision; the ± columns split into value and error columns."""
    cols = _columns(rows)
    header = []
    for heading, _, err in cols:
        header.append(heading)
        if err is not None:
            header.append(f"{heading} stderr" if err == "trace_stderr" else f"{heading} std")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        line: list[str] = []
        for _, key, err in cols:
            v = getattr(r, key)
            line.append(v if key == "name" else (repr(float(v)) if math.isfinite(v) else ""))
            if err is not None:
                e = getattr(r, err)
                line.append(repr(float(e)) if math.isfinite(e) else "")
        w.writerow(line)
    return buf.getvalue()


def table_markdown(rows: Sequence[SharpnessRow]) -> str:
    cols = _columns(rows)
    lines = ["| " + " | ".join(h for h, _, _ in cols) + " |",
             "| " + " | ".join("---" if k == "name" else "---:" for _, k, _ in cols) + " |"]
    for r in rows:
        cells = [(v + (f" ± {e}" if e else "")) or "—" for v, e in _cells(r, cols)]
        cells[0] = cells[0].replace("|", "\\|")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "|": r"\textbar{}",
                "<": r"\textless{}", ">": r"\textgreater{}"}


def _tex_text(s: str) -> str:
    s = "".join(_TEX_ESCAPES.get(c, c) for c in s)
    return s.replace("ε", r"$\varepsilon$").replace("±", r"$\pm$")


def _tex_number(s: str) -> str:
    if "e" in s:
        mantissa, exponent = s.split("e")
        return f"${mantissa}\\times 10^{{{int(exponent)}}}$"
    return s


def table_latex(rows: Sequence[SharpnessRow]) -> str:
    """A booktabs tabular (needs \\usepackage{booktabs}); ε and ± in math mode."""
    cols = _columns(rows)
    lines = [r"\begin{tabular}{" + "".join("l" if k == "name" else "r" for _, k, _ in cols) + "}", r"\toprule",
             " & ".join(_tex_text(h) for h, _, _ in cols) + r" \\", r"\midrule"]
    for r in rows:
        cells = []
        for i, (v, e) in enumerate(_cells(r, cols)):
            if i == 0:
                cells.append(_tex_text(v))
            elif not v:
                cells.append("--")
            else:
                cells.append(_tex_number(v) + (f" $\\pm$ {_tex_number(e)}" if e else ""))
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_table(rows: Sequence[SharpnessRow], prefix: Path) -> list[Path]:
    """PREFIX.csv, PREFIX.md and PREFIX.tex, each written to a temporary file and renamed."""
    if not rows:
        raise LandscapeError("no rows to write: give at least one checkpoint")
    prefix = Path(prefix)
    out = []
    try:
        prefix.parent.mkdir(parents=True, exist_ok=True)
        for suffix, text in ((".csv", table_csv(rows)), (".md", table_markdown(rows)), (".tex", table_latex(rows))):
            out.append(write_bytes(prefix.with_name(prefix.name + suffix), text.encode("utf-8")))
    except OSError as e:
        raise LandscapeError(f"cannot write the table {str(prefix)!r}.*: {e.strerror or e}; "
                             "choose another --out") from None
    return out

