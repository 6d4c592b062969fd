"""Deterministic evaluation episodes: success and distance to the goal, at the final
step and over the whole episode."""

import jax
import jax.numpy as jnp


def evaluate(env, policy, key: jax.Array, num_episodes: int, episode_length: int) -> dict:
  """Runs `num_episodes` episodes in parallel with `policy(obs) -> action`.

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

  def step(state, _):
    state = jax.vmap(env.step)(state, policy(state.obs))
    return state, (env.classifier_input(state.obs), state.metrics["success"],
                   state.metrics["distance"])

  first = env.classifier_input(state.obs)
  state, (path, success, distance) = jax.lax.scan(step, state, None, length=episode_length)
  return {  # path (T, episodes, D); success, distance (T, episodes)
      "eval_success": state.metrics["success"].mean(),
      "eval_distance": state.metrics["distance"].mean(),
      "eval_success_any": (success > 0).any(0).mean(),
      "eval_min_distance": distance.min(0).mean(),
      "eval_trajectories": jnp.concatenate([first[:, None], jnp.swapaxes(path, 0, 1)], 1),
  }
