"""Divergence stops the run within the epoch, naming what diverged; the runner keeps
the last good checkpoint and exits non-zero."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from experiments.configs import zigzag_maze
from mural_jax import training
from mural_jax.checkpoints import Checkpointer
from mural_jax.metrics import read_jsonl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_nan_parameter_stops_the_epoch_naming_it():
  config = zigzag_maze.get_config("tiny")
  config.num_seeds = 2
  trainer = training.Trainer(config)
  state = trainer.init(trainer.keys())
  w = state.sac.critic[0]["w"]
  poisoned = state.replace(sac=state.sac.replace(
      critic=[{**state.sac.critic[0], "w": w.at[1].set(jnp.nan)}, *state.sac.critic[1:]]))
  seen = []
  with pytest.raises(training.Diverged, match=r"epoch 1: NaN or inf in .*critic_loss \(seed 1\)"
                     ) as error:
    training.run(trainer, state=poisoned, callback=lambda m, s: seen.append(m))
  assert "seed 0" not in str(error.value)
  assert not seen  # the diverged epoch never reaches the callback (nor a checkpoint)


def test_runner_stops_on_divergence_and_keeps_the_last_good_checkpoint(tmp_path):
  """Learning starts in epoch 2 with an absurd learning rate: epoch 1 is saved, epoch 2
  diverges."""
  result = subprocess.run(
      [sys.executable, "-m", "experiments.train", "--config=experiments/configs/zigzag_maze.py:tiny",
       "--config.warmup_steps=200", "--config.sac.critic_lr=1e30", "--config.quiet=True",
       f"--workdir={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert "error: Training diverged in epoch 2: NaN or inf in" in result.stderr
  assert "The last good checkpoint (epoch 1)" in result.stderr
  config = zigzag_maze.get_config("tiny")
  config.warmup_steps, config.sac.critic_lr, config.quiet = 200, 1e30, True
  ckpt = Checkpointer(tmp_path / "checkpoints", config)
  assert ckpt.latest_epoch() == 1
  state = ckpt.restore(training.Trainer(config).abstract_state)
  assert all(bool(jnp.isfinite(x).all()) for x in jax.tree.leaves(state.sac))
  assert [r["epoch"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [1]
