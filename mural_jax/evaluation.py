"""Deterministic evaluation episodes: success rate and final distance to the goal."""

import jax
import jax.numpy as jnp


def evaluate(env, policy, key: jax.Array, num_episodes: int, episode_length: int) -> dict:
  """Runs `num_episodes` episodes in parallel with `policy(obs) -> action`.

  Returns the success rate and mean `distance` (geodesic where walls matter) at
  the final step, and the (episodes, T + 1, D) trajectories of classifier inputs.
  """
  state = jax.vmap(env.reset)(jax.random.split(key, num_episodes))

  def step(state, _):
    state = jax.vmap(env.step)(state, policy(state.obs))
    return state, env.classifier_input(state.obs)

  first = env.classifier_input(state.obs)
  state, path = jax.lax.scan(step, state, None, length=episode_length)
  return {
      "eval_success": state.metrics["success"].mean(),
      "eval_distance": state.metrics["distance"].mean(),
      "eval_trajectories": jnp.concatenate([first[:, None], jnp.swapaxes(path, 0, 1)], 1),
  }
