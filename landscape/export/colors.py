"""The colours every output shares: one colour per training run (the figures and the web page
give a run the same colour), and the viridis ramp of the meshes without matplotlib.

Plot imports this table (plot may import export, never the reverse); the figures' baselines
freeze it, so a change here is a change of every trajectory figure.
"""

from __future__ import annotations

import numpy as np

# one per training run of a trajectory, in the runs' order; the first run is black
RUN_COLORS = ("black", "#d62728", "#ff7f0e", "#e377c2", "#8c564b", "#17becf")


def run_color(run: int) -> str:
    """The colour of the run at index `run` (the table repeats after its last colour)."""
    return RUN_COLORS[run % len(RUN_COLORS)]


# matplotlib's viridis at 17 evenly spaced stops; linear interpolation between them stays
# within 6/255 of the full colormap.
VIRIDIS = np.array([
    (0.2670, 0.0049, 0.3294), (0.2823, 0.0950, 0.4173), (0.2788, 0.1755, 0.4834), (0.2590, 0.2515, 0.5247),
    (0.2297, 0.3224, 0.5457), (0.1994, 0.3876, 0.5546), (0.1727, 0.4488, 0.5579), (0.1490, 0.5081, 0.5573),
    (0.1276, 0.5669, 0.5506), (0.1206, 0.6258, 0.5335), (0.1579, 0.6838, 0.5017), (0.2461, 0.7389, 0.4520),
    (0.3692, 0.7889, 0.3829), (0.5160, 0.8312, 0.2943), (0.6785, 0.8637, 0.1895), (0.8456, 0.8873, 0.0997),
    (0.9932, 0.9062, 0.1439),
])


def viridis(t: np.ndarray) -> np.ndarray:
    """(n, 3) uint8 colours of the viridis ramp at t in [0, 1] (clipped)."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    stops = np.linspace(0.0, 1.0, len(VIRIDIS))
    rgb = np.stack([np.interp(t, stops, VIRIDIS[:, c]) for c in range(3)], axis=-1)
    return np.round(255 * rgb).astype(np.uint8)
