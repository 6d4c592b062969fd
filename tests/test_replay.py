"""Ring-buffer semantics: wrap-around, and sampling only filled slots."""

import numpy as np

import jax
import jax.numpy as jnp

from mural_jax.replay import replay_init, replay_insert, replay_sample


def _items(start, n):
  ids = jnp.arange(start, start + n, dtype=jnp.float32)
  return {"id": ids, "obs": jnp.stack([ids, -ids], -1)}


def test_insert_wraps_around_and_overwrites_the_oldest():
  state = replay_init({"id": jnp.zeros(()), "obs": jnp.zeros(2)}, capacity=5)
  insert = jax.jit(replay_insert)
  state = insert(state, _items(0, 3))
  assert int(state.size) == 3 and int(state.position) == 3
  state = insert(state, _items(3, 3))  # writes slots 3, 4, 0
  assert int(state.size) == 5 and int(state.position) == 1
  np.testing.assert_array_equal(state.data["id"], [5, 1, 2, 3, 4])
  np.testing.assert_array_equal(state.data["obs"][:, 1], [-5, -1, -2, -3, -4])
  state = insert(state, _items(6, 7))  # more than the capacity in one go: the newest 5 remain
  assert sorted(np.asarray(state.data["id"]).tolist()) == [8, 9, 10, 11, 12]


def test_sample_draws_only_filled_slots_uniformly():
  state = replay_init({"id": jnp.zeros(()), "obs": jnp.zeros(2)}, capacity=100)
  state = replay_insert(state, _items(1, 4))
  batch = jax.jit(replay_sample, static_argnums=2)(state, jax.random.key(0), 4000)
  ids = np.asarray(batch["id"])
  assert set(ids.tolist()) == {1, 2, 3, 4}
  np.testing.assert_array_equal(batch["obs"][:, 0], ids)  # fields stay aligned
  counts = np.bincount(ids.astype(int), minlength=5)[1:]
  assert counts.min() > 850 and counts.max() < 1150
