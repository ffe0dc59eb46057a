"""store.training_log: written whole, read back, damaged logs refused with one line."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from landscape.errors import LandscapeError
from landscape.store.training_log import append_rows, is_training_log, read_log, write_log


def test_a_log_round_trips_and_its_csv_files_agree(tmp_path):
    columns = {"sharpness": {"step": [0, 10], "lambda_max": [1.5, float("nan")]},
               "steps": {"step": [1, 2, 3], "lr": [0.1, 0.1, 0.05]}}
    write_log(tmp_path, columns, {"run": "sgd"})
    append_rows(tmp_path, {"step": [1, 2], "lr": [0.1, 0.1]})
    append_rows(tmp_path, {"step": [3], "lr": [0.05]})
    log = read_log(tmp_path)
    assert log.name == "sgd" and log.steps["lr"].tolist() == [0.1, 0.1, 0.05]
    assert np.isnan(log.sharpness["lambda_max"][1])
    assert (tmp_path / "sharpness.csv").read_text() == "step,lambda_max\n0,1.5\n10,\n"
    assert (tmp_path / "schedule.csv").read_text() == "step,lr\n1,0.1\n2,0.1\n3,0.05\n"
    assert is_training_log(tmp_path) and not is_training_log(tmp_path / "schedule.csv")


def test_a_damaged_log_is_one_line(tmp_path):
    write_log(tmp_path, {"sharpness": {"step": [0, 1]}, "steps": {"step": [1], "lr": [0.1]}}, {})
    with h5py.File(tmp_path / "training.h5", "a") as f:
        del f["steps/lr"]
        f["steps/lr"] = np.zeros(3)  # a column of another length
    with pytest.raises(LandscapeError, match="differ in length"):
        read_log(tmp_path)
    with pytest.raises(LandscapeError, match="no such training log"):
        read_log(tmp_path / "missing")
