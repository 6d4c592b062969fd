"""reward_maps' context-noise reading: the spread of meta-NML's reward over context draws."""

import jax
import numpy as np

import envs
from experiments import reward_maps
from experiments.configs import zigzag_maze


def test_context_noise_reads_the_spread_over_draws():
  env = envs.make("zigzag_maze")
  config = zigzag_maze.get_config("tiny")
  positives = env.success_examples(jax.random.key(1), 32)
  visited = reward_maps.left_corridor_visits(np.random.default_rng(0), 200, 0.0)
  noise = reward_maps.context_noise(env, positives, visited, config, jax.random.key(0),
                                    grid=5, passes=2, draws=6)
  assert noise["draws"] == 6 and noise["grid_points"] == 25
  assert 0 < noise["context_std"] < 0.5 and 0 < noise["map_std"] < 0.5
  one = reward_maps.context_noise(env, positives, visited, config, jax.random.key(0),
                                  grid=5, passes=2, draws=1)
  assert one["context_std"] == 0.0   # one draw: no spread over draws
