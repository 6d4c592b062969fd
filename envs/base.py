"""The environment contract of mural_jax, on top of Brax's `Env` / `State`.

Every registered environment is a Brax `Env` (``reset(rng) -> State``,
``step(state, action) -> State``, ``observation_size``, ``action_size``) that
also tells the success classifier what to look at:

* ``classifier_input(obs)``: the features the success classifier sees, (..., D).
* ``success_examples(rng, n)``: ``n`` classifier inputs of success states, (n, D).
* ``is_success(x)``: judges classifier inputs, (..., D) -> bool (...).
* ``goal_coordinates(x)``: the coordinates of x the success test measures.
* ``State.metrics`` holds ``success`` (0/1) and ``distance`` (to the goal;
  geodesic where walls matter) after every reset and step.

Episodes end only by the time limit (``episode_length``); the training stack
adds Brax's `EpisodeWrapper` and our `AutoResetWrapper`, which keeps the true
last observation so a truncated transition can be bootstrapped.
"""

import abc
import contextlib
import io

import jax
import jax.numpy as jnp

# MuJoCo's MJX prints "Failed to import warp" when its optional GPU backend (NVIDIA
# Warp, unused here) is absent; keep that notice out of every run's output.
with contextlib.redirect_stdout(io.StringIO()):
  from brax.envs.base import Env, State, Wrapper
  from brax.envs.wrappers.training import EpisodeWrapper, VmapWrapper

__all__ = ["MuralEnv", "State", "AutoResetWrapper", "wrap_for_training"]


class MuralEnv(Env, abc.ABC):
  """A Brax environment with a success test and success examples."""

  #: Time limit of one episode, in environment steps.
  episode_length: int = 100

  @abc.abstractmethod
  def classifier_input(self, obs: jax.Array) -> jax.Array:
    """Features of an observation that the success classifier sees."""

  @abc.abstractmethod
  def success_examples(self, rng: jax.Array, n: int = 150) -> jax.Array:
    """`n` classifier inputs of success states, shape (n, classifier_input_size)."""

  @abc.abstractmethod
  def is_success(self, x: jax.Array) -> jax.Array:
    """Whether classifier inputs x (..., D) are success states; bool (...)."""

  @abc.abstractmethod
  def goal_coordinates(self, x: jax.Array) -> jax.Array:
    """The coordinates of classifier inputs x (..., D) that the success test
    measures, (..., K): the space of the `l2` reward (the ant's torso xy)."""

  @property
  def classifier_input_size(self) -> int:
    obs = jnp.zeros((self.observation_size,))
    return int(jax.eval_shape(self.classifier_input, obs).shape[-1])

  @property
  def backend(self) -> str:
    return "jax"


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
