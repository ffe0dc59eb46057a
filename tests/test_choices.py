"""choices.py: the named choices as Enums, each value read back from its string, importable
without PyTorch (the command line declares its options before torch loads)."""

from __future__ import annotations

import os
import subprocess
import sys
from enum import Enum
from pathlib import Path

import pytest

from landscape import choices
from landscape.choices import Compile, DirType, HvpMode, Launch, Norm, Precision, Scale, Split

ROOT = Path(__file__).resolve().parent.parent
ENUMS = [v for v in vars(choices).values() if isinstance(v, type) and issubclass(v, Enum) and v is not Enum]


@pytest.mark.parametrize("enum", ENUMS, ids=lambda e: e.__name__)
def test_every_value_round_trips_from_its_string(enum):
    assert len(enum) >= 2
    for member in enum:
        assert enum(member.value) is member
        assert member == member.value  # a str Enum: compares equal to the string a user types
    with pytest.raises(ValueError):
        enum("no-such-choice")


def test_the_spelled_values_of_the_command_line():
    assert Compile("reduce-overhead") is Compile.cudagraphs and Compile("max-autotune") is Compile.max_autotune
    assert [n.value for n in Norm] == ["filter", "layer", "weight", "dfilter", "dlayer", "none"]
    assert {Precision, Launch, Compile, DirType, Norm, Split, Scale, HvpMode} <= set(ENUMS)
    assert DirType("states") is DirType.states and Split("test") is Split.test and Scale("weights") is Scale.weights
    assert HvpMode("forward") is HvpMode.forward and Launch("vmap") is Launch.vmap


def test_autocast_dtype_only_for_the_autocast_precisions():
    import torch

    assert Precision.bf16.autocast_dtype == torch.bfloat16 and Precision.fp16.autocast_dtype == torch.float16
    assert all(p.autocast_dtype is None for p in (Precision.auto, Precision.fp32, Precision.tf32))


def test_importing_choices_loads_no_torch():
    code = ("import sys, landscape.choices as c; assert c.Precision('bf16').value == 'bf16'; "
            "print(sorted(m for m in ('torch', 'numpy', 'h5py', 'matplotlib') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
