"""Device layout of a run: a ('seeds', 'data') mesh and the shardings of its state.

'seeds' splits independent seeds of a multi-seed job (no communication). 'data'
splits one seed's vectorised environments and SAC minibatches: the replay
buffer and all parameters are replicated, so every device slices its part of
the same minibatch, and the gradient of the batch-mean loss is reduced across
'data' (gradients averaged). The computation is the unsharded one, so sharded
and unsharded runs agree to float tolerance (only reduction order differs).
"""


import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

SEEDS, DATA = "seeds", "data"


def make_mesh(seeds: int, data: int) -> Mesh:
  """A seeds x data mesh over the first seeds * data devices (of all hosts)."""
  devices = jax.devices()
  if seeds * data > len(devices):
    raise ValueError(f"mesh.seeds * mesh.data = {seeds} * {data} devices requested, but only "
                     f"{len(devices)} are available ({devices[0].platform}).")
  return Mesh(np.asarray(devices[:seeds * data]).reshape(seeds, data), (SEEDS, DATA))


def state_shardings(abstract_state, mesh: Mesh, batched: bool):
  """Per-leaf shardings of a TrainState: seed axis (if `batched`) on 'seeds',
  the environment axis of `env_state` on 'data', everything else replicated."""
  seed = (SEEDS,) if batched else ()
  shardings = jax.tree.map(lambda _: NamedSharding(mesh, P(*seed)), abstract_state)
  env = jax.tree.map(lambda _: NamedSharding(mesh, P(*seed, DATA)), abstract_state.env_state)
  return shardings.replace(env_state=env)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def constrain(tree, mesh: Mesh, *spec):
  """Shards the leading axes of every leaf of `tree` as `spec` (inside jit; under a
  vmap with spmd_axis_name=SEEDS the seed axis is added in front)."""
  return jax.lax.with_sharding_constraint(tree, NamedSharding(mesh, P(*spec)))


def to_host(x) -> np.ndarray:
  """A global array as NumPy on every host, also when other hosts hold parts of it."""
  return np.asarray(multihost_utils.process_allgather(x, tiled=True))
