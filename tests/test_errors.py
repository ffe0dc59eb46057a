"""errors.py: one message, two readers: `arg` marks a setting, which reads as the Python argument
in a notebook (`as_python`) and as the flag on the command line (`for_cli`)."""

from __future__ import annotations

import pytest

from landscape.errors import LandscapeError, arg, as_python, for_cli


def test_a_setting_reads_as_python_and_as_a_flag():
    text = f"{arg('x')} must be larger than {arg('x_target')}; or use {arg('precision', 'fp32')}"
    assert as_python(text) == "x must be larger than x_target; or use precision='fp32'"
    assert for_cli(text) == "--x must be larger than --x-target; or use --precision fp32"


def test_switches_read_as_on_and_off_flags():
    assert as_python(arg("overwrite", True)) == "overwrite=True"
    assert for_cli(f"add {arg('overwrite', True)}") == "add --overwrite"
    assert for_cli(f"add {arg('quiet', False)}") == "add --no-quiet"
    pair = {"ignore_biasbn": ("--ignore biasbn", "--no-ignore")}  # a switch whose two forms differ
    assert for_cli(arg("ignore_biasbn", True), pair) == "--ignore biasbn"
    assert for_cli(arg("ignore_biasbn", False), pair) == "--no-ignore"
    assert for_cli(arg("ignore_biasbn"), pair) == "--ignore"  # the setting named, not a value
    assert for_cli(arg("loss", "mse"), {"loss": "--objective"}) == "--objective mse"


def test_text_without_markers_is_left_alone():
    plain = "min 1 is larger than max -1 (x: 3 points)"
    assert as_python(plain) == plain and for_cli(plain) == plain


def test_landscape_error_reads_as_python_and_keeps_its_field_and_markers():
    e = LandscapeError(f"{arg('batch_size')} must be positive", field="batch_size")
    assert str(e) == "batch_size must be positive" and e.field == "batch_size"
    assert for_cli(e.message) == "--batch-size must be positive"
    assert LandscapeError().message == "" and LandscapeError("x").field is None
    with pytest.raises(LandscapeError, match="^batch_size must"):
        raise e
