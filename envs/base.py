"""The environment contract of mural_jax, on top of Brax's `Env` / `State`.

Every registered environment is a Brax `Env` (``reset(rng) -> State``,
``step(state, action) -> State``, ``observation_size``, ``action_size``) with a
goal, which `MuralEnv` states once for the point mazes and the MJX tasks alike:

* ``classifier_input(obs)``: the features the success classifier sees, (..., D).
* ``goal_coordinates(x)``: the coordinates of x the success test measures, (..., K).
* ``goal_distance(x)``: their distance to ``goal``; ``is_success(x)``: that
  distance within ``success_radius``.
* ``success_examples(rng, n)``: ``n`` classifier inputs of success states, (n, D),
  drawn within ``example_radius`` (< ``success_radius``) of the goal.
* ``workspace``: the box (low, high), each (D,), that classifier inputs lie in; the
  count rewards' grid spans it.
* ``State.metrics`` holds ``success`` (0/1) and ``distance`` (to the goal;
  geodesic where walls matter) after every reset and step.

Episodes end only by the time limit (``episode_length``); the training stack
adds Brax's `EpisodeWrapper` and our `AutoResetWrapper`, which keeps the true
last observation so a truncated transition can be bootstrapped.
"""

import abc
import contextlib
import functools
import io

import jax
import jax.numpy as jnp
import numpy as np

# MuJoCo's MJX prints "Failed to import warp" when its optional GPU backend (NVIDIA
# Warp, unused here) is absent; keep that notice out of every run's output.
with contextlib.redirect_stdout(io.StringIO()):
  from brax.envs.base import Env, State, Wrapper
  from brax.envs.wrappers.training import EpisodeWrapper, VmapWrapper

__all__ = ["MuralEnv", "State", "AutoResetWrapper", "wrap_for_training", "uniform_in_ball",
           "boxes", "push_frame"]


class MuralEnv(Env, abc.ABC):
  """A Brax environment with a goal: the success test, the distance to the goal,
  success examples and the per-step goal metrics.

  Subclasses define `reset`, `step`, `action_size`, `success_examples` and
  `workspace`, and override `classifier_input` (identity here) or `goal_distance` (Euclidean here)
  where their task differs.
  """

  #: Where walls matter (the mazes): the length of the shortest wall-avoiding path
  #: from goal coordinates (K,) to the goal. It is then the metrics' "distance",
  #: and the straight-line distance goes under `straight_distance_key`.
  geodesic = None
  straight_distance_key = "euclidean_distance"

  def __init__(self, goal, goal_slice: slice, success_radius: float, example_radius: float,
               episode_length: int):
    """`goal` in goal coordinates, which are `x[..., goal_slice]` of classifier inputs x."""
    if not 0 <= example_radius < success_radius:
      raise ValueError(f"example_radius={example_radius} must lie in [0, {success_radius}).")
    self.goal = jnp.asarray(goal, jnp.float32)
    self.goal_slice = goal_slice
    self.success_radius = float(success_radius)
    self.example_radius = float(example_radius)
    self.episode_length = int(episode_length)

  @abc.abstractmethod
  def success_examples(self, rng: jax.Array, n: int = 150) -> jax.Array:
    """`n` classifier inputs of success states, shape (n, classifier_input_size)."""

  @property
  @abc.abstractmethod
  def workspace(self) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), each (classifier_input_size,) float32: the box the classifier inputs
    of reachable states lie in (a coordinate that never changes has low == high); joint
    angles pass their ranges by the soft limits' give (up to ~0.1 rad), and the count
    rewards, which cut the box into cells at the task's own scale, clip such points into
    the edge cells."""

  def classifier_input(self, obs: jax.Array) -> jax.Array:
    """Features of observations (..., observation_size) that the success classifier sees."""
    return obs

  def goal_coordinates(self, x: jax.Array) -> jax.Array:
    """The coordinates of classifier inputs x (..., D) that the success test
    measures, (..., K): the space of the `l2` reward (the ant's torso xy)."""
    return x[..., self.goal_slice]

  def toward_goal(self, x: jax.Array, fraction: float) -> jax.Array:
    """Classifier inputs x (..., D) with their goal coordinates moved `fraction` of the way
    to the goal, the rest unchanged: the trainer's "novel" reward probe (visited states
    made nearer the goal than the agent has been)."""
    g = self.goal_coordinates(x)
    return x.at[..., self.goal_slice].set(g + fraction * (self.goal - g))

  def goal_distance(self, x: jax.Array) -> jax.Array:
    """Distance to the goal of classifier inputs x (..., D) -> (...)."""
    return jnp.linalg.norm(self.goal_coordinates(x) - self.goal, axis=-1)

  def is_success(self, x: jax.Array) -> jax.Array:
    """Whether classifier inputs x (..., D) are success states; bool (...)."""
    return self.goal_distance(x) <= self.success_radius

  def _metrics(self, obs: jax.Array) -> dict:
    """The goal metrics of one observation: success (0/1) and distance."""
    x = self.classifier_input(obs)
    distance = self.goal_distance(x)
    metrics = {"success": self.is_success(x).astype(jnp.float32), "distance": distance}
    if self.geodesic is not None:
      metrics.update({"distance": self.geodesic(self.goal_coordinates(x)),
                      self.straight_distance_key: distance})
    return metrics

  @functools.cached_property
  def observation_size(self) -> int:
    """From the shape of a traced reset (nothing runs), computed once."""
    return int(jax.eval_shape(self.reset, jax.random.PRNGKey(0)).obs.shape[-1])

  @functools.cached_property
  def classifier_input_size(self) -> int:
    """From the shape of a traced `classifier_input`, computed once."""
    obs = jax.ShapeDtypeStruct((self.observation_size,), jnp.float32)
    return int(jax.eval_shape(self.classifier_input, obs).shape[-1])

  @property
  def backend(self) -> str:
    return "jax"


def push_frame(pusher: jax.Array, obj: jax.Array, goal: jax.Array):
  """The pusher's place relative to an object in the frame of pushing it to the goal
  (the scripted pushes' geometry); points (..., 2). Returns the object's distance to the
  goal (..., 1), the unit push direction (..., 2), the pusher's offset along it (..., 1;
  negative: behind the object), its offset across it (..., 2) and that offset's length
  (..., 1)."""
  to_goal = goal - obj
  dist = jnp.linalg.norm(to_goal, axis=-1, keepdims=True)
  direction = to_goal / jnp.maximum(dist, 1e-6)
  rel = pusher - obj
  along = jnp.sum(rel * direction, -1, keepdims=True)
  side = rel - along * direction
  return dist, direction, along, side, jnp.linalg.norm(side, axis=-1, keepdims=True)


def boxes(*parts) -> tuple[np.ndarray, np.ndarray]:
  """One workspace (low, high) from the boxes (low, high) of consecutive coordinates."""
  return tuple(np.concatenate([np.atleast_1d(np.asarray(p[i], np.float32)) for p in parts])
               for i in (0, 1))


def uniform_in_ball(keys, center: jax.Array, radius: float, n: int) -> jax.Array:
  """`n` points uniform in the ball of `radius` around `center` (d,): (n, d).

  `keys` = (radius key, direction key): the distance from the centre is
  radius x U^(1/d) (uniform in volume); the direction is a uniform angle in the
  plane and a normalised Gaussian in higher dimensions. The success examples of
  every task that samples a disc or ball round its goal draw through here.
  """
  k_r, k_dir = keys
  center = jnp.asarray(center, jnp.float32)
  dim = center.shape[-1]
  u = jax.random.uniform(k_r, (n, 1))
  if dim == 2:
    angle = jax.random.uniform(k_dir, (n,), maxval=2 * jnp.pi)
    return center + radius * jnp.sqrt(u) * jnp.stack([jnp.cos(angle), jnp.sin(angle)], -1)
  direction = jax.random.normal(k_dir, (n, dim))
  direction = direction / jnp.linalg.norm(direction, axis=-1, keepdims=True)
  return center + radius * u ** (1 / dim) * direction


class AutoResetWrapper(Wrapper):
  """Resets finished episodes with a fresh key and keeps their last observation.

  Unlike Brax's wrapper of the same name, a new episode is drawn from the start
  distribution with a new key (not a replay of the first start state), and
  ``info['final_obs']`` holds the true observation reached by the step, which
  differs from ``obs`` exactly where ``done``. ``done``, ``reward``,
  ``metrics`` and ``info['truncation']`` describe the step that was taken.
  Apply it per environment, inside any vmap.
  """

  _KEPT_FROM_STEP = ("truncation", "episode_done", "episode_metrics")

  def reset(self, rng: jax.Array) -> State:
    rng, key = jax.random.split(rng)
    state = self.env.reset(key)
    state.info["rng"] = rng
    state.info["final_obs"] = state.obs
    return state

  def step(self, state: State, action: jax.Array) -> State:
    state = self.env.step(state.replace(done=jnp.zeros_like(state.done)), action)
    rng, key = jax.random.split(state.info["rng"])
    fresh = self.env.reset(key)
    done = state.done.astype(bool)
    pick = lambda new, old: jnp.where(done, new, old)
    info = {
        k: v if k in self._KEPT_FROM_STEP else jax.tree.map(pick, fresh.info[k], v)
        for k, v in state.info.items() if k not in ("rng", "final_obs")
    }
    info["rng"] = rng
    info["final_obs"] = state.obs
    return state.replace(
        pipeline_state=jax.tree.map(pick, fresh.pipeline_state, state.pipeline_state),
        obs=jax.tree.map(pick, fresh.obs, state.obs),
        info=info,
    )


def wrap_for_training(env: MuralEnv, num_envs: int | None = None,
                      episode_length: int | None = None) -> Env:
  """Time limit, auto-reset and (if `num_envs`) batching, in that order.

  With `num_envs`, ``reset`` takes one key and splits it per environment.
  """
  env = EpisodeWrapper(env, episode_length or env.episode_length, action_repeat=1)
  env = AutoResetWrapper(env)
  if num_envs is not None:
    env = VmapWrapper(env, batch_size=num_envs)
  return env
