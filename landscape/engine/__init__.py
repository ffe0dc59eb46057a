"""The evaluation engine: one plan (plan.py) decides how points are evaluated; the point model
(pointmodel.py) and its fast paths (fold.py, firstlayer.py) make a point's forward pass; the
evaluator (evaluator.py) loops over points and batches."""

from landscape.engine.device import DeviceProfile, Precision, precision_context, profile_of, resolve_device, tune_cpu_allocator
from landscape.engine.evaluator import Evaluator
from landscape.engine.plan import Compile, EvalSettings, Launch, Plan, Probe, resolve_plan
from landscape.engine.probe import check_objective, plan_for, probe

__all__ = [
    "Compile", "DeviceProfile", "EvalSettings", "Evaluator", "Launch", "Plan", "Precision", "Probe",
    "check_objective", "plan_for", "precision_context", "probe", "profile_of", "resolve_device", "resolve_plan",
    "tune_cpu_allocator",
]
