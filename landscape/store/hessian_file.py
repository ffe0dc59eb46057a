"""Interim: the Hessian file's reader and writer (moved here next)."""
from landscape.curvature.hessian import read_hessian, write_hessian  # noqa: F401
