"""Curvature of the loss at the weights: Hessian-vector products, the top eigenvalues (Lanczos),
the trace (Hutchinson), the spectral density (SLQ), eigen maps and sharpness. Numbers only: no
file is written here (the Hessian file is `landscape.store.hessian_file`)."""

from landscape.curvature.hessian import (HessianOperator, HessianResult, HessianSettings, LayerCurvature,
                                         NonFiniteLoss, Trace, eigen_map_values, extreme_eigenvalues, hessian,
                                         hutchinson, lanczos_top, slq_density)
from landscape.curvature.sharpness import (EpsilonSharpness, SharpnessRow, SharpnessSettings, epsilon_sharpness,
                                           random_rise, sharpness)

__all__ = ["EpsilonSharpness", "HessianOperator", "HessianResult", "HessianSettings", "LayerCurvature", "NonFiniteLoss",
           "SharpnessRow", "SharpnessSettings", "Trace", "eigen_map_values", "epsilon_sharpness", "extreme_eigenvalues",
           "hessian", "hutchinson", "lanczos_top", "random_rise", "sharpness", "slq_density"]
