"""inputs/checkpoints.py: finding training checkpoints (files, globs, folders, a trainer's
`checkpoint-N/` folders) and putting them in training order."""

from __future__ import annotations

import pytest
import torch

from landscape.errors import LandscapeError
from landscape.inputs.checkpoints import expand_checkpoints, find_runs, is_checkpoint_folder, order_checkpoints


def test_checkpoint_ordering(tmp_path):
    for name in ("epoch_10.pt", "epoch_2.pt", "epoch_1.pt"):
        torch.save({"epoch": 0}, tmp_path / name)
    paths, epochs = order_checkpoints(expand_checkpoints([tmp_path]))
    assert [p.name for p in paths] == ["epoch_1.pt", "epoch_2.pt", "epoch_10.pt"] and epochs == [1, 2, 10]
    other = tmp_path / "named"
    other.mkdir()
    for name, step in (("last.pt", 30), ("first.pt", 5), ("middle.pt", 12)):
        torch.save({"state_dict": {}, "global_step": step}, other / name)
    paths, epochs = order_checkpoints(expand_checkpoints([other]))
    assert [p.name for p in paths] == ["first.pt", "middle.pt", "last.pt"] and epochs == [5, 12, 30]
    with pytest.raises(LandscapeError, match="does not exist"):
        expand_checkpoints([tmp_path / "nope.pt"])
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for e in (1, 2, 10, 11):
        torch.save({}, mixed / f"sweep_3_epoch_{e}.pt")
    torch.save({}, mixed / "final.pt")
    (mixed / "notes.txt").write_text("not a checkpoint")
    for source in ([mixed], [str(mixed / "*")]):
        paths, epochs = order_checkpoints(expand_checkpoints(source))
        assert [p.name for p in paths] == [f"sweep_3_epoch_{e}.pt" for e in (1, 2, 10, 11)] + ["final.pt"]
        assert epochs == [1, 2, 10, 11, None]
    hf = tmp_path / "hf"
    for step in (500, 1000, 1500):
        (hf / f"checkpoint-{step}").mkdir(parents=True)
        torch.save({}, hf / f"checkpoint-{step}" / "model.pt")
        torch.save({}, hf / f"checkpoint-{step}" / "optimizer.pt")
    paths, epochs = order_checkpoints(expand_checkpoints([hf]))
    assert [p.parent.name for p in paths] == ["checkpoint-500", "checkpoint-1000", "checkpoint-1500"]
    assert epochs == [500, 1000, 1500] and all(p.name == "model.pt" for p in paths)
    torch.save({}, hf / "model.pt")  # a trainer's output folder: its own weights are the final model
    paths, _ = order_checkpoints(expand_checkpoints([hf]))
    assert len(paths) == 4 and paths[-1] == hf / "model.pt"
    run = tmp_path / "run"
    run.mkdir()
    for name in ("init.pt", "epoch_1.pt", "epoch_10.pt", "final.pt", "optimal_weights.pt", "optimizer.pt"):
        torch.save({}, run / name)
    paths, _ = order_checkpoints(expand_checkpoints([run]))
    assert [p.name for p in paths] == ["init.pt", "epoch_1.pt", "epoch_10.pt", "final.pt", "optimal_weights.pt"]


def test_each_folder_is_a_run_and_loose_files_one_more(tmp_path):
    for run, epochs in (("sgd", (3, 1, 2)), ("adam", (10, 5))):
        (tmp_path / run).mkdir()
        for e in epochs:
            torch.save({}, tmp_path / run / f"epoch_{e}.pt")
    for e in (7, 6):
        torch.save({}, tmp_path / f"loose_{e}.pt")
    runs, names = find_runs([tmp_path / "sgd", str(tmp_path / "loose_*.pt"), tmp_path / "adam"])
    assert names == ["sgd", "adam", "checkpoints"]
    assert [[p.name for p in run] for run in runs] == [["epoch_1.pt", "epoch_2.pt", "epoch_3.pt"],
                                                        ["epoch_5.pt", "epoch_10.pt"], ["loose_6.pt", "loose_7.pt"]]
    hf = tmp_path / "checkpoint-500"  # a trainer's checkpoint folder is one checkpoint, not a run
    hf.mkdir()
    torch.save({}, hf / "model.pt")
    runs, names = find_runs([hf, tmp_path / "loose_6.pt"])
    assert names == ["checkpoints"] and runs == [[tmp_path / "loose_6.pt", hf / "model.pt"]]  # step 6, then 500
    assert is_checkpoint_folder(hf) and not is_checkpoint_folder(tmp_path / "sgd")
