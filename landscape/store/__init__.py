"""Interim: the store package's names (split next)."""
from landscape.store import surface_file as _sf

globals().update({k: v for k, v in vars(_sf).items() if not k.startswith("__")})
