"""A functional ring-buffer replay: fixed capacity, jittable insert and uniform sample."""

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayState:
  data: dict           # name -> (capacity, ...) array
  position: jax.Array  # int32: next slot to write
  size: jax.Array      # int32: filled slots, <= capacity

  @property
  def capacity(self) -> int:
    return jax.tree.leaves(self.data)[0].shape[0]


def replay_init(example: dict, capacity: int) -> ReplayState:
  """An empty buffer whose items look like `example` (one unbatched item)."""
  data = jax.tree.map(lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.asarray(x).dtype),
                      example)
  return ReplayState(data=data, position=jnp.zeros((), jnp.int32),
                     size=jnp.zeros((), jnp.int32))


def replay_insert(state: ReplayState, batch: dict) -> ReplayState:
  """Writes a batch (leaves (n, ...)) at the ring position, overwriting the oldest."""
  n = jax.tree.leaves(batch)[0].shape[0]
  idx = (state.position + jnp.arange(n)) % state.capacity
  data = jax.tree.map(lambda buf, x: buf.at[idx].set(x), state.data, batch)
  return state.replace(data=data, position=(state.position + n) % state.capacity,
                       size=jnp.minimum(state.size + n, state.capacity))


def replay_sample(state: ReplayState, key: jax.Array, batch_size: int) -> dict:
  """`batch_size` items drawn uniformly, with replacement, from the filled slots."""
  idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(state.size, 1))
  return jax.tree.map(lambda buf: buf[idx], state.data)
