"""landscape.callbacks: what a Recorder writes while a model trains, that training is unchanged by
it, that `landscape trajectory FOLDER` reads the folder with no flags, that warm-started
eigenvalues agree with a cold Lanczos run, and the real Lightning and transformers trainers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from landscape.callbacks import Recorder
from landscape.callbacks import saving
from landscape.cli.app import app
from landscape.curvature.lanczos import lanczos_top
from landscape.curvature.operator import HessianOperator
from landscape.errors import LandscapeError
from landscape.inputs.checkpoint import ModelSpec, load_model
from landscape.inputs.data import DataSpec, load_data
from landscape.inputs.objective import batch_loss, cross_entropy
from landscape.inputs.runs import read_run
from landscape.models import DigitsCNN
from landscape.store import read_surface
from landscape.store.training_log import read_log

runner = CliRunner()


def _train(folder: Path | None, steps: int = 12, adam: bool = False, **recorder):
    """A few steps of the digits CNN; with `folder`, recorded. Returns (model, optimizer, recorder)."""
    torch.manual_seed(0)
    data = load_data(DataSpec("digits", samples=192))
    model = DigitsCNN(width=4)
    opt = (torch.optim.Adam(model.parameters(), lr=1e-2) if adam
           else torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4))
    rec = None
    if folder is not None:
        rec = Recorder(folder, batch=(data.x[:64], data.y[:64]), model_kwargs={"width": 4}, data="digits",
                       quiet=True, **recorder)
        rec.start(model, opt)
    for k in range(steps):
        idx = torch.arange(16 * k, 16 * k + 16) % len(data)
        loss = F.cross_entropy(model(data.x[idx]), data.y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if rec is not None:
            rec.step(model, opt, loss=loss, epoch=k // 6)
    if rec is not None:
        rec.close(model)
    return model, opt, rec


def test_a_recorded_run_holds_checkpoints_settings_and_sharpness(tmp_path):
    _, _, rec = _train(tmp_path / "run", every=4, sharpness_every=4)
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert [n for n in names if n.startswith("step_")] == [f"step_{s:06d}.safetensors" for s in (0, 4, 8, 12)]
    from safetensors import safe_open
    with safe_open(tmp_path / "run" / "step_000008.safetensors", "pt") as f:
        assert f.metadata()["step"] == "8"
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["model"]["class"] == "landscape.models:DigitsCNN" and info["model"]["kwargs"] == {"width": 4}
    assert info["optimizer"]["param_groups"][0]["momentum"] == 0.9 and info["data"] == "digits"
    log = read_log(tmp_path / "run")
    assert log.steps["step"].tolist() == list(range(1, 13)) and np.allclose(log.steps["lr"], 0.05)
    s = log.sharpness
    assert s["step"].tolist() == [0, 4, 8]  # the weights each measured step starts from
    assert np.allclose(s["two_over_lr"], 40.0) and np.allclose(s["threshold"], 2 * 1.9 / 0.05)
    assert np.all(s["lambda_max"] > 0) and np.all(s["products"] >= 1)
    assert (tmp_path / "run" / "sharpness.csv").read_text().count("\n") == 4
    run = read_run(tmp_path / "run")
    assert [p.name for p in run.checkpoints] == [f"step_{s:06d}.safetensors" for s in (0, 4, 8, 12)]


def test_recording_changes_nothing_in_training(tmp_path):
    """Measurements are functional and the optimizer's virtual step is undone bit for bit (Adam's
    moments and step counts included)."""
    plain, opt_plain, _ = _train(None, adam=True)
    recorded, opt_rec, _ = _train(tmp_path / "run", adam=True, every=3, sharpness_every=2)
    for (n, a), (_, b) in zip(plain.state_dict().items(), recorded.state_dict().items()):
        assert torch.equal(a, b), n
    for sa, sb in zip(opt_plain.state.values(), opt_rec.state.values()):
        for k in sa:
            assert torch.equal(torch.as_tensor(sa[k]), torch.as_tensor(sb[k])), k
    assert np.isnan(read_log(tmp_path / "run").sharpness["threshold"]).all()  # Adam: no fixed threshold


def test_warm_started_eigenvalues_agree_with_a_cold_lanczos_run(tmp_path):
    _, _, rec = _train(tmp_path / "run", steps=12, every=4, sharpness_every=4)
    log = read_log(tmp_path / "run").sharpness
    data = load_data(DataSpec("digits", samples=192))
    for step, value in zip(log["step"], log["lambda_max"]):
        model = load_model(tmp_path / "run" / f"step_{int(step):06d}.safetensors", ModelSpec("landscape.models:DigitsCNN",
                                                                                          {"width": 4}))
        op = HessianOperator(model, [(data.x[:64], data.y[:64])], batch_loss(cross_entropy, True))
        cold = float(lanczos_top(op, 1, 100, 1e-10)[0][0])
        assert value == pytest.approx(cold, rel=1e-3)
    assert log["products"][1:].mean() < log["products"][0]  # warm starts need fewer products than the cold first


def test_trajectory_reads_a_recorded_folder_with_no_flags(tmp_path, monkeypatch):
    _train(tmp_path / "run", every=4)
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["trajectory", "run", "--resolution", "5", "--out", "t.h5", "--quiet"])
    assert r.exit_code == 0, r.output
    s = read_surface(tmp_path / "t.h5")
    assert len(s.tracks["trajectory"].x) == 4 and s.attrs["data"].startswith("digits")


def test_run_files_that_would_run_code_are_refused(tmp_path, monkeypatch):
    _train(tmp_path / "run", every=4)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    (tmp_path / "run" / "evil.py").write_text("import torch\nclass Net(torch.nn.Module):\n    pass\n")
    monkeypatch.chdir(tmp_path / "run")
    for model, data, words in ((("os:system"), "digits", "not a torch.nn.Module class"),
                               ("evil:Net", "digits", "inside the run's folder"),
                               ("../x.py:Net", "digits", "not of the form"),
                               ("landscape.models:DigitsCNN", "mypkg.data:make", "names code or a path")):
        info["model"]["class"], info["data"] = model, data
        (tmp_path / "run" / "run.json").write_text(json.dumps(info))
        r = runner.invoke(app, ["trajectory", str(tmp_path / "run"), "--resolution", "3", "--out",
                                str(tmp_path / "t.h5")])
        assert r.exit_code == 2 and words in r.output, (model, r.output)
    assert "evil" not in sys.modules


def test_only_rank_zero_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(saving, "rank", lambda: 1)
    _train(tmp_path / "run", every=4, sharpness_every=4)
    assert not (tmp_path / "run").exists()


def test_plot_draws_a_training_log(tmp_path):
    _train(tmp_path / "run", every=4, sharpness_every=2)
    r = runner.invoke(app, ["plot", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "run" / "run.sharpness.png").stat().st_size > 10_000
    r = runner.invoke(app, ["info", str(tmp_path / "run")])
    assert r.exit_code == 0 and "steps               12 (learning rate 0.05 → 0.05)" in r.output, r.output
    assert "landscape.models:DigitsCNN" in r.output and "(6 measurements)" in r.output
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(LandscapeError):
        read_log(tmp_path / "bad.h5")


def test_a_tensorboard_logger_gets_each_measurement(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from landscape.callbacks import TensorBoard

    tb = TensorBoard(tmp_path / "tb")
    _train(tmp_path / "run", every=4, sharpness_every=4, loggers=[tb])
    tb.close()
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("landscape/lambda_max")] == [0, 4, 8]


def test_weights_and_biases_offline_gets_each_measurement(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    from landscape.callbacks import WandB

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(dir=str(tmp_path), project="landscape-test")
    try:
        _, _, rec = _train(tmp_path / "run", every=4, sharpness_every=4, loggers=[WandB()])
        assert run.summary["landscape/lambda_max"] == pytest.approx(rec.sharpness["lambda_max"][-1])
        assert run.summary["landscape/step"] == 8
    finally:
        run.finish()
