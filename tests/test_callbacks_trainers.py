"""The callbacks inside real trainers on the CPU: Lightning (with its TensorBoard logger) and
`transformers.Trainer` (reporting to TensorBoard), asserting what was saved and logged, and that
`landscape trajectory` reads each folder unchanged, with no flags."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from landscape.cli.app import app
from landscape.inputs.data import DataSpec, load_data
from landscape.store import read_surface
from landscape.store.training_log import read_log

runner = CliRunner()


def _trajectory(folder, out, monkeypatch):
    monkeypatch.chdir(folder.parent)
    r = runner.invoke(app, ["trajectory", folder.name, "--resolution", "5", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    return read_surface(out)


def test_lightning_callback(tmp_path, monkeypatch):
    pytest.importorskip("lightning")
    pytest.importorskip("tensorboard")
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from landscape.callbacks import LandscapeCallback
    from training_nets import LitDigits

    data = load_data(DataSpec("digits", samples=256))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data.x, data.y), batch_size=32, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    callback = LandscapeCallback(tmp_path / "run", every=4, sharpness_every=4, keep=96, quiet=True)
    trainer = pl.Trainer(max_steps=12, accumulate_grad_batches=2, callbacks=[callback], accelerator="cpu",
                         logger=TensorBoardLogger(tmp_path / "tb", name="", version=""), log_every_n_steps=1,
                         enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False)
    trainer.fit(LitDigits(), loader)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [c["step"] for c in info["checkpoints"]] == [0, 4, 8, 12]  # optimizer steps, not batches
    assert info["model"] == {"class": "training_nets:LitDigits", "kwargs": {"width": 4, "lr": 0.05}, "parameters": 1638}
    assert info["scheduler"]["class"].endswith("StepLR") and info["data"] == "./data.pt"
    saved = torch.load(tmp_path / "run" / "data.pt", weights_only=True)
    assert saved["x"].shape == (96, 1, 8, 8)
    log = read_log(tmp_path / "run")
    assert log.steps["lr"].tolist() == [0.05] * 4 + [0.025] * 4 + [0.0125] * 4  # the lr each step used
    assert log.sharpness["step"].tolist() == [0, 4, 8]
    assert np.allclose(log.sharpness["two_over_lr"], [40, 80, 160])
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    events = acc.Scalars("landscape/lambda_max")  # through the trainer's own logger, once per measurement
    assert [e.step for e in events] == [0, 4, 8]
    assert np.allclose([e.value for e in events], log.sharpness["lambda_max"], rtol=1e-6)
    s = _trajectory(tmp_path / "run", tmp_path / "t.h5", monkeypatch)
    assert len(s.tracks["trajectory"].x) == 4 and "data.pt" in s.attrs["data"]


def test_hugging_face_trainer_callback(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    from landscape.callbacks import LandscapeTrainerCallback
    from lm import corpus, gpt2, tokenizer

    tok = tokenizer()
    ids = tok(corpus(1200))["input_ids"]
    rows = [{"input_ids": ids[i:i + 16]} for i in range(0, len(ids) - 16, 16)]
    args = TrainingArguments(str(tmp_path / "out"), max_steps=8, per_device_train_batch_size=8, learning_rate=1e-3,
                             report_to=["tensorboard"], logging_steps=2, save_strategy="no", use_cpu=True,
                             disable_tqdm=True, lr_scheduler_type="linear")
    callback = LandscapeTrainerCallback(tmp_path / "run", every=4, sharpness_every=4, keep=32, quiet=True)
    Trainer(model=gpt2(), args=args, train_dataset=rows, data_collator=DataCollatorForLanguageModeling(tok, mlm=False),
            callbacks=[callback]).train()
    for step in (0, 4, 8):
        folder = tmp_path / "run" / f"step_{step:06d}"
        assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["model"]["hugging_face"] and info["optimizer"]["class"].endswith("AdamW")
    log = read_log(tmp_path / "run")
    assert log.steps["lr"][0] == pytest.approx(1e-3) and log.steps["lr"][-1] < log.steps["lr"][0]  # linear decay
    assert log.sharpness["step"].tolist() == [0, 4] and np.all(log.sharpness["lambda_max"] > 0)
    assert np.isfinite(log.steps["train_loss"][1])  # logged by the trainer after step 2
    acc = EventAccumulator(str(tmp_path / "out" / "runs" / "landscape"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("landscape/lambda_max")] == [0, 4]
    s = _trajectory(tmp_path / "run", tmp_path / "t.h5", monkeypatch)
    assert len(s.tracks["trajectory"].x) == 3 and "next-token" in s.attrs["objective"]
