"""inspect_run: a maze run's reward, data and policy read back from its checkpoint."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import jax

from experiments import inspect_run
from experiments.configs import zigzag_maze
from mural_jax import runner
from mural_jax.classifiers import common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  """A tiny two-seed MURAL run on the zigzag maze, two epochs, checkpointed."""
  config = zigzag_maze.get_config("tiny")
  config.update(total_env_steps=200, num_seeds=2, quiet=True)
  path = str(tmp_path_factory.mktemp("inspect") / "run")
  runner.run_workdir(config, path)
  return path


def test_views_of_every_seed_from_the_latest_checkpoint(workdir, tmp_path):
  trainer, state = inspect_run.load(workdir)
  assert np.all(np.asarray(state.epoch) == 2)  # the latest checkpoint: both epochs
  # Seed 1's first three states moved into the success disc (a tiny run stays near the start).
  next_x = state.replay.data["next_x"].at[1, :3].set(trainer.env.goal + 0.3)
  state = state.replace(replay=state.replay.replace(data={**state.replay.data, "next_x": next_x}))
  views = inspect_run.seed_views(trainer, state, grid=9, draws=2, key=jax.random.key(0))
  assert [v["seed"] for v in views] == [0, 1]
  for s, v in enumerate(views):
    # Every state the seed visited, counted with a plain distance test.
    size = int(state.replay.size[s])
    assert v["visited"].shape == (size, 2) and size == 200
    in_disc = np.linalg.norm(v["visited"] - np.asarray(trainer.env.goal), axis=-1) <= 0.5
    assert v["in_success_disc"] == int(in_disc.sum())
    assert v["reward"].shape == (9, 9)
    assert np.all((v["reward"] >= 0) & (v["reward"] <= 1))  # probabilities
    assert 0 <= v["goal_reward"] <= 1
    assert v["actions"].shape == (inspect_run.ARROWS, inspect_run.ARROWS, 2)
    assert np.all(np.abs(v["actions"]) < 1)
  assert views[1]["in_success_disc"] >= 3
  # Meta-NML's success examples weigh ~0 in tasks queried near the start, a lot in those
  # queried at seed 1's states beside the goal.
  assert [v["positive_share"].shape for v in views] == [(200,), (200,)]
  assert views[0]["positive_share"].max() < 1e-6
  assert np.sum(views[1]["positive_share"] > 0.5) == 3
  # The two seeds learnt different things.
  assert not np.allclose(views[0]["reward"], views[1]["reward"])
  path = inspect_run.plot(trainer.env, views, str(tmp_path / "inspect.png"), "tiny")
  assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_set_reads_the_checkpoint_with_other_reward_settings(workdir):
  points = inspect_run.parse_points("-3,-3; 0.5,3.5;3,3")
  assert points == [(-3.0, -3.0), (0.5, 3.5), (3.0, 3.0)]
  key = jax.random.key(1)
  trainer, state = inspect_run.load(workdir)
  own = inspect_run.seed_views(trainer, state, grid=3, draws=2, key=key, points=points)
  # With a vanishing inner step both adapted networks are theta_0, so meta-NML's
  # p_NML(1) = p(1) / (p(0) + p(1)) is theta_0's own softmax p(1): a closed form.
  trainer, state = inspect_run.load(workdir, overrides=["meta_nml.inner_lr=1e-9"])
  assert trainer.config.meta_nml.inner_lr == 1e-9
  read = inspect_run.seed_views(trainer, state, grid=3, draws=2, key=key, points=points)
  for s, (a, b) in enumerate(zip(own, read)):
    theta_0 = jax.tree.map(lambda x: x[s], state.reward.params)
    np.testing.assert_allclose(b["point_rewards"], common.probs(theta_0, np.asarray(points)),
                               atol=1e-5)
    assert not np.allclose(a["point_rewards"], b["point_rewards"], atol=1e-3)


@pytest.mark.parametrize("overrides, message", [
    (["sac.batch_size=8"], "only reward settings can be changed on a checkpoint"),
    (["meta_nml.hidden=(8,8)"], "meta_nml.hidden=(8,8) changes the shapes of the run's state"),
    (["meta_nml.inner_lr=-1"], "meta_nml.inner_lr must be a positive number, got -1"),
])
def test_set_refuses_what_the_checkpoint_cannot_answer(workdir, overrides, message):
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
    inspect_run.load(workdir, overrides=overrides)


def test_points_must_be_pairs():
  with pytest.raises(ValueError, match="--points: '1,2,3' is not an x,y pair"):
    inspect_run.parse_points("0,0;1,2,3")


def test_goal_profile_against_theta_0s_closed_form(workdir):
  """With a vanishing inner step meta-NML's reward is theta_0's softmax p(1) (as above):
  at fraction 1 every final state is moved onto the goal, so the profile there is p(1) at
  the goal whatever the episodes did; at fraction 0 it is p(1) at the final states."""
  trainer, state = inspect_run.load(workdir, overrides=["meta_nml.inner_lr=1e-9"])
  profiles = inspect_run.goal_profiles(trainer, state, draws=2, key=jax.random.key(2))
  goal = np.asarray(trainer.env.goal)
  at_goal = list(inspect_run.FRACTIONS).index(1.0)
  for s, p in enumerate(profiles):
    theta_0 = jax.tree.map(lambda x: x[s], state.reward.params)
    np.testing.assert_allclose(p["profile"][at_goal], common.probs(theta_0, goal[None])[0],
                               atol=1e-5)
    np.testing.assert_allclose(p["example_reward"],
                               common.probs(theta_0, np.asarray(state.positives[s])).mean(),
                               atol=1e-5)
    assert p["final_distance"].shape == p["success"].shape == (inspect_run.EPISODES,)
    np.testing.assert_array_equal(p["success"], p["final_distance"] <= 0.5)
    visited = np.asarray(state.replay.data["next_x"][s, :int(state.replay.size[s])])
    assert p["in_success_region"] == int(np.sum(np.linalg.norm(visited - goal, axis=-1) <= 0.5))
    assert p["replay_size"] == 200
    assert "handoff_success" not in p  # the mazes have no scripted controller
  assert profiles[0]["seed"] == 0 and profiles[1]["seed"] == 1


def test_an_mjx_run_gets_its_goal_profile(tmp_path):
  """A tiny door run (one epoch, checkpointed): the command prints each seed's final
  distance and readings and draws the profile (no arena maps off the mazes)."""
  from experiments.configs import sawyer_door
  config = sawyer_door.get_config("tiny")
  config.update(total_env_steps=config.epoch_length, quiet=True)
  runner.run_workdir(config, str(tmp_path / "door"))
  result = subprocess.run(
      [sys.executable, "-m", "experiments.inspect_run", str(tmp_path / "door"),
       f"--out={tmp_path / 'door.png'}", "--draws=2"],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr
  assert "seed 0: 8 evaluation episodes end " in result.stdout
  assert "(success radius 0.02)" in result.stdout and "at the success examples" in result.stdout
  assert "(the stochastic policy from the same starts: " in result.stdout
  # The door's scripted controller opens it from wherever the tiny run's policy leaves it.
  assert "the scripted controller, taking over at those final states: 8 / 8 successes" in result.stdout
  assert "the critic's Q(s, its action) - Q(s, the policy's action) there: mean " in result.stdout
  assert open(tmp_path / "door.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
  result = subprocess.run(
      [sys.executable, "-m", "experiments.inspect_run", str(tmp_path / "door"),
       f"--out={tmp_path / 'x.png'}", "--points=0,0"],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert result.returncode == 2
  assert "--points are arena positions of the point mazes" in result.stderr


def test_refuses_runs_without_checkpoints(tmp_path):
  config = zigzag_maze.get_config("tiny").to_dict()
  os.makedirs(tmp_path / "empty")
  (tmp_path / "empty" / "config.json").write_text(json.dumps(config))
  result = subprocess.run(
      [sys.executable, "-m", "experiments.inspect_run", str(tmp_path / "empty"),
       f"--out={tmp_path / 'x.png'}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2
  assert "has no checkpoint" in result.stderr
  assert not (tmp_path / "x.png").exists()
