"""How values read and where levels go, for every output (the figures' `plot.scales` and the
web page alike): values written as people write them, round evenly spaced levels, and round
losses spaced on a log scale.
"""

from __future__ import annotations

import math

import numpy as np


def fmt_value(v: float) -> str:
    """A value as people write it: 0.1, 4.1, 0.0021, 26.8, 1e+06 (at most four significant digits)."""
    if v == 0 or not np.isfinite(v):
        return f"{v:g}"
    if 1e-4 <= abs(v) < 1e5:
        return np.format_float_positional(v, precision=4, unique=True, fractional=False, trim="-")
    return f"{v:.3g}"


def nice_levels(lo: float, hi: float, n: int = 10) -> np.ndarray:
    """About n round, evenly spaced levels within [lo, hi] (steps 1, 2, 2.5 or 5 x 10^k)."""
    if hi < lo:  # an empty range (limits beside the data): no level
        return np.empty(0)
    if not hi - lo > 1e-12 * max(1.0, abs(lo)):
        d = 0.05 * abs(lo) or 0.05
        lo, hi = lo - d, hi + d
    raw = (hi - lo) / n
    if not math.isfinite(raw):  # a span beyond floating point: the ends only
        return np.array([lo, hi])
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw * (1 - 1e-9))
    k0, k1 = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return np.round(np.arange(k0, k1 + 1) * step, 12)


def log_levels(lo: float, hi: float, least: int = 6, n: int = 10) -> np.ndarray:
    """Levels in log10 units at round losses within [lo, hi] (log10 units): 1 x 10^k, then 1 and
    3, 1-2-5, ... until at least `least` fall inside; round linear values (about n, `nice_levels`)
    for a range under a decade."""
    exps = np.arange(math.floor(lo) - 1, math.ceil(hi) + 2)
    for mantissas in ((1.0,), (1.0, 3.0), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)):
        levels = np.sort(np.log10(np.outer(10.0 ** exps, mantissas).ravel()))
        levels = levels[(levels >= lo - 1e-9) & (levels <= hi + 1e-9)]
        if len(levels) >= least:
            return np.round(levels, 12)
    linear = nice_levels(10.0 ** lo, 10.0 ** hi, n)
    linear = linear[(linear > 0) & (linear >= 10.0 ** lo * (1 - 1e-9)) & (linear <= 10.0 ** hi * (1 + 1e-9))]
    return np.log10(linear)
