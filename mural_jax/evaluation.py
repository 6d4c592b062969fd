"""Evaluation episodes: success and distance to the goal, at the final step and over
the whole episode."""

import jax
import jax.numpy as jnp


def evaluate(env, policy, key: jax.Array, num_episodes: int, episode_length: int,
             action_key: jax.Array | None = None) -> dict:
  """Runs `num_episodes` episodes in parallel with `policy(obs) -> action`, or, given
  `action_key`, with a stochastic `policy(obs, key) -> action` drawing each step's
  actions from one key split from it (training evaluates deterministically; the sampled
  policy is what collected the replay).

  Returns, as means over episodes:
    eval_success, eval_distance: `success` and `distance` (geodesic where walls
      matter) at the final step;
    eval_success_any: whether the episode was successful at any step 1..T (the
      initial state excluded: an episode does not succeed by starting at the goal);
    eval_min_distance: the episode's smallest `distance` over steps 1..T (its
      closest approach);
  and eval_trajectories, the (episodes, T + 1, D) classifier inputs (with the start).
  """
  state = jax.vmap(env.reset)(jax.random.split(key, num_episodes))
  first = env.classifier_input(state.obs)
  state, (path, success, distance) = rollout(env, policy, state, episode_length, action_key)
  return {  # path (T, episodes, D); success, distance (T, episodes)
      "eval_success": state.metrics["success"].mean(),
      "eval_distance": state.metrics["distance"].mean(),
      "eval_success_any": (success > 0).any(0).mean(),
      "eval_min_distance": distance.min(0).mean(),
      "eval_trajectories": jnp.concatenate([first[:, None], jnp.swapaxes(path, 0, 1)], 1),
  }


def rollout(env, policy, state, steps: int, action_key: jax.Array | None = None):
  """`steps` steps of the batched, unwrapped `env` from `state` with `policy` (as in
  `evaluate`). Returns the last state and, per step, (T, episodes, D) classifier inputs
  and (T, episodes) success and distance."""

  def step(state, k):
    action = policy(state.obs) if k is None else policy(state.obs, k)
    state = jax.vmap(env.step)(state, action)
    return state, (env.classifier_input(state.obs), state.metrics["success"],
                   state.metrics["distance"])

  keys = None if action_key is None else jax.random.split(action_key, steps)
  return jax.lax.scan(step, state, keys, length=steps)
