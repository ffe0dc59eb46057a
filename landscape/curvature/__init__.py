"""Curvature of the loss at the weights, numbers only (no file is written or read here; the
Hessian file is `landscape.store.hessian_file`, the table files `landscape.run.curvature`):

- operator.py: the Hessian as a linear operator, v ↦ H v (`HessianOperator`, `HvpMode`);
- lanczos.py: the Krylov run and the eigenvalue solvers (`lanczos_top`, `per_tensor_top`);
- estimators.py: Hutchinson's trace (`hutchinson`) and the spectral density (`slq_density`);
- random_vectors.py: their random starts and probes, one generator per part;
- spectrum.py: all of it in one call (`hessian`, `HessianSettings`, `HessianResult`);
- eigenmap.py: λmax, λmin and |λmin/λmax| over a plane (`eigen_map`, `extreme_eigenvalues`);
- sharpness.py: a table row of sharpness numbers (`sharpness`, `epsilon_sharpness`, `random_rise`);
- tables.py: the rows as CSV, Markdown and LaTeX text.
"""

from landscape.curvature.operator import HessianOperator, HvpMode, NonFiniteLoss
from landscape.curvature.lanczos import Krylov, lanczos_top, per_tensor_top, run_lanczos
from landscape.curvature.estimators import Trace, hutchinson, slq_density
from landscape.curvature.spectrum import HessianResult, HessianSettings, LayerCurvature, hessian
from landscape.curvature.eigenmap import eigen_map, eigen_map_values, extreme_eigenvalues
from landscape.curvature.sharpness import (AscentStart, EpsilonSharpness, SharpnessRow, SharpnessSettings,
                                           epsilon_sharpness, random_rise, sharpness)
from landscape.curvature.tables import table_csv, table_latex, table_markdown

__all__ = ["AscentStart", "EpsilonSharpness", "HessianOperator", "HessianResult", "HessianSettings", "HvpMode", "Krylov",
           "LayerCurvature", "NonFiniteLoss", "SharpnessRow", "SharpnessSettings", "Trace", "eigen_map",
           "eigen_map_values", "epsilon_sharpness", "extreme_eigenvalues", "hessian", "hutchinson", "lanczos_top",
           "per_tensor_top", "random_rise", "run_lanczos", "sharpness", "slq_density", "table_csv", "table_latex",
           "table_markdown"]
