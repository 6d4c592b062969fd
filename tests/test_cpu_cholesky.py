"""CPU Cholesky for MJX: XLA's op instead of jaxlib 0.10's deadlock-prone LAPACK batch path."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from envs import cpu_cholesky


@pytest.fixture(autouse=True, scope="module")
def xla_cholesky():
  cpu_cholesky.use_xla_cholesky()  # as every MJX task's constructor does


def _spd(batch, n, seed=0):
  a = np.random.default_rng(seed).normal(size=(batch, n, n))
  return a @ np.swapaxes(a, 1, 2) + n * np.eye(n)


def test_version_gate():
  assert cpu_cholesky.affected((0, 10, 2)) and cpu_cholesky.affected((0, 11, 0))
  assert not cpu_cholesky.affected((0, 9, 2)) and not cpu_cholesky.affected((0, 11, 1))


def test_batched_cholesky_matches_numpy_and_avoids_lapack():
  x = _spd(512, 12)
  with jax.default_matmul_precision("highest"):
    fn = jax.jit(jnp.linalg.cholesky)
    low = np.asarray(fn(jnp.asarray(x, jnp.float32)))
  np.testing.assert_allclose(low, np.linalg.cholesky(x), rtol=1e-4, atol=1e-4)
  hlo = fn.lower(jnp.asarray(x, jnp.float32)).compile().as_text()
  assert ("potrf" in hlo) != cpu_cholesky.affected(), "LAPACK potrf on an affected jaxlib"


def test_not_positive_definite_gives_nan_as_lapack_does():
  bad = np.stack([-np.eye(3), [[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
  low = np.asarray(jax.jit(jnp.linalg.cholesky)(bad))
  assert np.all(np.isnan(low[:, [0, 1, 1, 2, 2, 2], [0, 0, 1, 0, 1, 2]][0]))
  assert np.isnan(low[1, 1, 1])
