"""Many seeds in one job equal separate runs; sharded runs equal unsharded ones."""

import os
import subprocess
import sys

import numpy as np
import pytest

import jax

from experiments.configs import zigzag_maze
from mural_jax import training

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(seed_batch=0, **overrides):
  c = zigzag_maze.get_config("tiny")
  c.total_env_steps = 200
  c.mesh.seed_batch = seed_batch
  for k, v in overrides.items():
    c[k] = v
  return c


@pytest.mark.parametrize("seed_batch", [0, 1])  # vmapped, or one seed after the other
def test_multi_seed_job_equals_separate_runs(seed_batch):
  job, history = training.train(_config(seed_batch, num_seeds=2, seed=5))
  assert job.epoch.shape == (2,) and history[-1]["eval_success"].shape == (2,)
  for i, seed in enumerate((5, 6)):
    single, single_history = training.train(_config(seed=seed))
    for a, b in zip(jax.tree.leaves(single.sac), jax.tree.leaves(job.sac)):
      np.testing.assert_allclose(a, b[i], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(single_history[-1]["critic_loss"], history[-1]["critic_loss"][i],
                               rtol=1e-4)


_SHARDED = """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
import jax
jax.config.update("jax_compilation_cache_dir", os.environ["CACHE"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
import numpy as np
from experiments.configs import zigzag_maze
from mural_jax import training

def config(seeds, data):
  c = zigzag_maze.get_config("tiny")
  c.total_env_steps, c.num_envs, c.num_seeds = 200, 4, 2
  c.mesh.seeds, c.mesh.data = seeds, data
  return c

assert jax.device_count() == 8
plain, plain_history = training.train(config(1, 1))
sharded, sharded_history = training.train(config(2, 4))
obs = sharded.env_state.obs
assert len(obs.sharding.device_set) == 8, obs.sharding
assert obs.addressable_shards[0].data.shape == (1, 1, 2), obs.addressable_shards[0].data.shape
for a, b in zip(jax.tree.leaves(plain.sac), jax.tree.leaves(sharded.sac)):
  np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
for key in ("critic_loss", "actor_loss", "eval_distance"):
  np.testing.assert_allclose(plain_history[-1][key], sharded_history[-1][key], rtol=1e-4)
print("sharded == unsharded")
"""


def test_sharded_run_equals_unsharded_on_8_devices():
  """2 seeds on a 2 (seeds) x 4 (data: environments and minibatches) mesh of 8 host
  devices; in a subprocess, since the device count is fixed when JAX starts."""
  cache = jax.config.jax_compilation_cache_dir or ""
  result = subprocess.run([sys.executable, "-c", _SHARDED], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "CACHE": cache})
  assert result.returncode == 0, result.stderr[-3000:]
  assert "sharded == unsharded" in result.stdout
