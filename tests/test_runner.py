"""The runner owns a workdir: the same outputs from a notebook as from the command line."""

import os
import signal

import pytest

from experiments.configs import zigzag_maze
from mural_jax import runner
from mural_jax.metrics import clock, read_jsonl


def _config():
  c = zigzag_maze.get_config("tiny")
  c.quiet = True
  return c


def test_run_workdir_trains_resumes_and_restores_signal_handlers(tmp_path):
  before = signal.getsignal(signal.SIGINT)
  config = _config()
  outcome = runner.run_workdir(config, str(tmp_path / "run"), handle_signals=True)
  assert signal.getsignal(signal.SIGINT) is before
  assert [r["epoch"] for r in outcome.rows] == [1, 2, 3, 4]
  assert outcome.result_line().startswith("result: zigzag_maze with the mural reward, seed 0:")
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints"))[-1] == "4"
  # A longer budget on the same workdir resumes after epoch 4 and appends.
  config.total_env_steps = 600
  again = runner.run_workdir(config, str(tmp_path / "run"))
  assert [r["epoch"] for r in again.rows] == [1, 2, 3, 4, 5, 6]
  assert read_jsonl(str(tmp_path / "run" / "metrics.jsonl")) == again.rows


def test_bad_input_is_typed_and_nothing_runs(tmp_path):
  (tmp_path / "file").write_text("")
  with pytest.raises(runner.BadInput, match="exists and is not a directory"):
    runner.run_workdir(_config(), str(tmp_path / "file"))
  config = _config()
  config.num_envs = 0
  with pytest.raises(runner.BadInput, match="num_envs must be a positive integer"):
    runner.run_workdir(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()
  other = _config()
  runner.run_workdir(other, str(tmp_path / "a"))
  other.sac.hidden = (8, 8)
  with pytest.raises(runner.BadInput, match="sac.hidden"):
    runner.run_workdir(other, str(tmp_path / "a"))


def test_stop_when_solved_ends_early_judged_over_the_whole_budgets_window(tmp_path):
  config = _config()
  config.env_kwargs.success_radius = 100.0  # every state is a success: solved at once
  config.total_env_steps = 2000             # 20 epochs: a window of the last 2
  config.stop_when_solved = True
  outcome = runner.run_workdir(config, str(tmp_path / "run"))
  assert [r["epoch"] for r in outcome.rows] == [1, 2]
  assert outcome.stopped_early and outcome.solved() == 1
  assert "goal reached, solved" in outcome.result_line()
  assert "the last 2 epochs, 10% of the budget; stopped early" in outcome.result_line()
  assert outcome.result_line().endswith(   # solved from the first epoch of 100 steps
      f"eval success first >= 0.9 after 100 steps, {clock(outcome.rows[0]['wall_s'])} "
      "into the run")
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints"))[-1] == "2"
  # The same command resumes after the stop, and stops again after one more epoch.
  again = runner.run_workdir(config, str(tmp_path / "run"))
  assert [r["epoch"] for r in again.rows] == [1, 2, 3]
  # Off, the same easy task trains its whole budget.
  config.stop_when_solved = False
  config.total_env_steps = 400
  full = runner.run_workdir(config, str(tmp_path / "full"))
  assert [r["epoch"] for r in full.rows] == [1, 2, 3, 4] and not full.stopped_early
  assert full.solved() == 1


def test_a_notebook_run_gets_the_commands_figures_through_the_hook(tmp_path):
  from experiments.plot import plot_outputs
  outcome = runner.run_workdir(_config(), str(tmp_path / "run"), figures=plot_outputs)
  assert outcome.files[-2:] == ("curves.png", "trajectories.png")
  for name in outcome.files:
    assert os.path.exists(tmp_path / "run" / name), name


def test_read_jsonl_skips_a_row_cut_short_and_a_missing_file(tmp_path):
  path = tmp_path / "metrics.jsonl"
  path.write_text('{"epoch": 1}\n{"epoch": 2}\n{"epo')
  assert read_jsonl(str(path)) == [{"epoch": 1}, {"epoch": 2}]
  assert read_jsonl(str(tmp_path / "absent.jsonl")) == []
