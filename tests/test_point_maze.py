"""Maze geometry and dynamics against hand-computed cases and an independent crossing test."""

import importlib

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import envs

PAD = 0.15
LEFT_FACE = -4 / 3 - PAD  # the zigzag's first wall, padded


@pytest.fixture(scope="module")
def zigzag():
  return envs.make("zigzag_maze")


@pytest.fixture(scope="module")
def spiral():
  return envs.make("spiral_maze")


def _segments_cross(p, q, a, b):
  """Whether segments p-q and a-b intersect (orientation test, float64)."""
  def orient(u, v, w):
    return np.sign((v[0] - u[0]) * (w[1] - u[1]) - (v[1] - u[1]) * (w[0] - u[0]))
  return (orient(p, q, a) != orient(p, q, b)) and (orient(a, b, p) != orient(a, b, q))


def _distance_to_segment(x, a, b):
  t = np.clip(np.dot(x - a, b - a) / np.dot(b - a, b - a), 0, 1)
  return np.linalg.norm(x - (a + t * (b - a)))


def test_sizes_and_registry(zigzag):
  assert zigzag.observation_size == 2 and zigzag.action_size == 2
  assert zigzag.episode_length == 100 and zigzag.classifier_input_size == 2
  assert {"zigzag_maze", "spiral_maze"} <= set(envs.names())
  with pytest.raises(ValueError, match="valid choices: .*zigzag_maze"):
    envs.make("zigzag")
  with pytest.raises(ValueError, match="Bad overrides"):
    envs.make("zigzag_maze", goall=(0, 0))


@pytest.mark.parametrize("start, action, expected", [
    # Straight into the left face of the first wall: stops at the face.
    ((-1.7, 0.0), (1.0, 0.0), (LEFT_FACE, 0.0)),
    # Diagonal into the face: stops in x, the rest of the move slides along y.
    ((-1.7, 0.0), (1.0, 1.0), (LEFT_FACE, 0.5)),
    # Clips the wall's top end from above: lands on the top face, slides right.
    ((-1.6, 2.3), (1.0, -0.5), (-1.1, 2.0 + PAD)),
    # From the right side of the same wall, moving left.
    ((-1.0, -1.0), (-1.0, 0.0), (-4 / 3 + PAD, -1.0)),
    # Free move, and the action is clipped to [-1, 1].
    ((0.0, 0.0), (3.0, -0.2), (0.5, -0.1)),
    # Arena bounds stop and slide like walls.
    ((3.9, 0.0), (1.0, 0.0), (4.0, 0.0)),
    ((-3.0, -3.9), (0.5, -1.0), (-2.75, -4.0)),
    # Over the top end of the second wall, which pokes out of the arena: blocked.
    ((0.8, 3.88), (1.0, 1.0), (4 / 3 - PAD, 4.0)),
])
def test_hand_computed_moves(zigzag, start, action, expected):
  pos = zigzag.move(jnp.asarray(start), jnp.asarray(action))
  np.testing.assert_allclose(pos, expected, atol=1e-4)


@pytest.mark.parametrize("name", ["zigzag_maze", "spiral_maze"])
def test_never_crosses_or_enters_a_wall(name):
  """10k random moves from random free points: no path crosses a wall segment."""
  env = envs.make(name)
  rng = np.random.default_rng(0)
  pts = rng.uniform(-4, 4, (20000, 2)).astype(np.float32)
  lo = np.minimum(env.walls[:, 0], env.walls[:, 1]) - PAD  # walls padded into boxes
  hi = np.maximum(env.walls[:, 0], env.walls[:, 1]) + PAD
  free = ~np.any(np.all((pts[:, None] > lo) & (pts[:, None] < hi), -1), -1)
  pts = pts[free][:5000]
  # Large actions aimed at walls from every side, plus random ones.
  actions = rng.uniform(-1, 1, (len(pts), 2)).astype(np.float32) * 1.5
  new = np.asarray(jax.jit(jax.vmap(env.move))(jnp.asarray(pts), jnp.asarray(actions)))
  assert np.all(np.abs(new) <= 4.0)
  for p, q in zip(pts, new):
    for a, b in env.walls:
      assert not _segments_cross(p, q, a, b), (p, q, a, b)
      assert _distance_to_segment(q, a, b) >= PAD - 1e-4, (p, q, a, b)


def test_long_pushes_against_walls_stay_out(zigzag):
  """Pushing into a wall for many steps from either side never passes it."""
  step = jax.jit(zigzag.move)
  for start, action in [((-2.0, 0.0), (1.0, 0.3)), ((-0.5, 0.0), (-1.0, -0.3)),
                        ((0.5, 1.0), (1.0, 0.1)), ((2.5, 1.0), (-1.0, 0.2))]:
    pos, side = jnp.asarray(start), np.sign(start[0] - (-4 / 3 if start[0] < 0.4 else 4 / 3))
    for _ in range(30):
      pos = step(pos, jnp.asarray(action))
      wall_x = -4 / 3 if start[0] < 0.4 else 4 / 3
      in_span = (pos[1] < 2.0) if wall_x < 0 else (pos[1] > -2.0)
      if in_span:
        assert np.sign(float(pos[0]) - wall_x) == side


def _path_length(points):
  points = np.asarray(points, np.float64)
  return np.linalg.norm(np.diff(points, axis=0), axis=1).sum()


def test_geodesic_distance_matches_hand_paths(zigzag, spiral):
  c = 4 / 3
  zig = [(-3, -3), (-c - PAD, 2 + PAD), (-c + PAD, 2 + PAD), (c - PAD, -2 - PAD),
         (c + PAD, -2 - PAD), (3, 3)]
  np.testing.assert_allclose(zigzag.geodesic_distance(jnp.asarray([-3.0, -3.0])),
                             _path_length(zig), atol=2e-3)
  spi = [(-3, -3), (2 + PAD, -2 - PAD), (2 + PAD, 2 + PAD), (-2 - PAD, 2 + PAD),
         (-2 - PAD, -PAD), (PAD, -PAD), (PAD, PAD), (-0.5, 1.25)]
  np.testing.assert_allclose(spiral.geodesic_distance(jnp.asarray([-3.0, -3.0])),
                             _path_length(spi), atol=2e-3)
  # In sight of the goal, geodesic = Euclidean.
  np.testing.assert_allclose(zigzag.geodesic_distance(jnp.asarray([2.0, 0.0])),
                             np.hypot(1.0, 3.0), atol=1e-5)
  # Just across the first wall from the start side, the detour is long.
  assert zigzag.geodesic_distance(jnp.asarray([-1.0, -3.0])) < \
      zigzag.geodesic_distance(jnp.asarray([-1.7, -3.0]))


@pytest.mark.parametrize("name", ["zigzag_maze", "spiral_maze"])
def test_success_examples_all_succeed(name):
  env = envs.make(name)
  x = env.success_examples(jax.random.key(3), 150)
  assert x.shape == (150, 2)
  assert bool(jnp.all(env.is_success(x)))
  assert float(jnp.max(jnp.linalg.norm(x - env.goal, axis=-1))) <= 0.05 + 1e-6


@pytest.mark.parametrize("name", ["zigzag_maze", "spiral_maze"])
def test_example_radius_is_a_config_field(name):
  """`--config.env_kwargs.example_radius` reaches the environment the trainer builds."""
  from mural_jax.config import RunConfig
  config = importlib.import_module(f"experiments.configs.{name}").get_config("cpu")
  assert config.env_kwargs.example_radius == 0.05
  config.env_kwargs.example_radius = 0.45
  env = envs.make(name, **RunConfig.of(config).env_kwargs)
  d = jnp.linalg.norm(env.success_examples(jax.random.key(0), 2000) - env.goal, axis=-1)
  assert 0.4 < float(d.max()) <= 0.45 + 1e-6  # the wider disc is used, and filled
  assert bool(jnp.all(env.is_success(env.success_examples(jax.random.key(1), 500))))
  config.env_kwargs.example_radius = 0.5
  with pytest.raises(ValueError, match="example_radius=0.5 must lie in"):
    envs.make(name, **RunConfig.of(config).env_kwargs)


def test_brax_api_jit_vmap_and_metrics(zigzag):
  state = jax.jit(jax.vmap(zigzag.reset))(jax.random.split(jax.random.key(0), 3))
  assert state.obs.shape == (3, 2)
  np.testing.assert_allclose(state.obs, np.tile([-3.0, -3.0], (3, 1)))
  state = jax.jit(jax.vmap(zigzag.step))(state, jnp.ones((3, 2)))
  np.testing.assert_allclose(state.obs, np.tile([-2.5, -2.5], (3, 1)), atol=1e-6)
  assert set(state.metrics) >= {"success", "distance"}
  goal_state = zigzag.reset(jax.random.key(0)).replace(obs=jnp.asarray([2.8, 2.9]))
  assert float(zigzag.step(goal_state, jnp.zeros(2)).metrics["success"]) == 1.0


def test_time_limit_and_auto_reset_keep_the_final_observation(zigzag):
  env = envs.wrap_for_training(zigzag, num_envs=2, episode_length=5)
  state = env.reset(jax.random.key(0))
  step = jax.jit(env.step)
  up = jnp.tile(jnp.asarray([0.0, 1.0]), (2, 1))
  for t in range(5):
    np.testing.assert_array_equal(state.done, [0, 0])
    state = step(state, up)
  # 5 steps of +0.5 up from (-3, -3): the true last position, while obs is the new start.
  np.testing.assert_allclose(state.info["final_obs"], np.tile([-3.0, -0.5], (2, 1)), atol=1e-5)
  np.testing.assert_allclose(state.obs, np.full((2, 2), -3.0))
  np.testing.assert_array_equal(state.done, [1, 1])
  np.testing.assert_array_equal(state.info["truncation"], [1, 1])
  state = step(state, up)
  np.testing.assert_array_equal(state.done, [0, 0])
  np.testing.assert_allclose(state.obs, np.tile([-3.0, -2.5], (2, 1)), atol=1e-5)
